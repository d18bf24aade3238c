//! The token checks told as stories: good tokens pass, and every bad one
//! (signature, issuer, client, times, algorithm) fails for its own reason,
//! on the RS256 and the GOST path alike.

use super::*;
use jsonwebtoken::{EncodingKey, Header, encode};
use openssl::rsa::Rsa;

struct Fixture {
    keys: TrustedKeys,
    enc: EncodingKey,
    other: EncodingKey,
}

fn cert_for(key: &openssl::pkey::PKey<openssl::pkey::Private>) -> Vec<u8> {
    let mut b = openssl::x509::X509Builder::new().expect("builder");
    b.set_pubkey(key).expect("pubkey");
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).expect("t"))
        .expect("na");
    b.sign(key, openssl::hash::MessageDigest::sha256())
        .expect("sign");
    b.build().to_pem().expect("pem")
}

fn fixture() -> Fixture {
    let rsa = Rsa::generate(2048).expect("rsa");
    let pkey = openssl::pkey::PKey::from_rsa(rsa.clone()).expect("pkey");
    let other = Rsa::generate(2048).expect("rsa");
    Fixture {
        keys: TrustedKeys::from_certificates(&[cert_for(&pkey)]).expect("keys"),
        enc: EncodingKey::from_rsa_pem(&rsa.private_key_to_pem().expect("pem")).expect("enc"),
        other: EncodingKey::from_rsa_pem(&other.private_key_to_pem().expect("pem")).expect("enc"),
    }
}

const ISS: &str = "http://esia-portal1.test.gosuslugi.ru/";

fn expect() -> Expect<'static> {
    Expect {
        issuer: ISS,
        client_id: "DIARY",
        leeway_seconds: 30,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn access(iss: &str, client: &str, exp: i64) -> serde_json::Value {
    serde_json::json!({"nbf": now() - 10, "iat": now() - 10, "exp": exp, "iss": iss,
        "client_id": client, "urn:esia:sbj_id": 1000001, "scope": "openid"})
}

#[test]
fn a_good_access_token_gives_the_oid() {
    let f = fixture();
    let t = encode(
        &Header::new(Algorithm::RS256),
        &access(ISS, "DIARY", now() + 3600),
        &f.enc,
    )
    .expect("enc");
    let (oid, _) = check_access_token(&t, &f.keys, &expect()).expect("valid");
    assert_eq!(oid, "1000001");
}

#[test]
fn bad_tokens_are_refused_for_the_right_reason() {
    let f = fixture();
    let h = Header::new(Algorithm::RS256);
    let enc = |c: &serde_json::Value, k: &EncodingKey| encode(&h, c, k).expect("enc");
    let cases = [
        (
            enc(&access(ISS, "DIARY", now() + 3600), &f.other),
            TokenError::Signature,
        ),
        (
            enc(&access("http://evil/", "DIARY", now() + 3600), &f.enc),
            TokenError::Issuer("http://evil/".into()),
        ),
        (
            enc(&access(ISS, "OTHER", now() + 3600), &f.enc),
            TokenError::Client,
        ),
        (
            enc(&access(ISS, "DIARY", now() - 3600), &f.enc),
            TokenError::Time,
        ),
    ];
    for (t, want) in cases {
        assert_eq!(check_access_token(&t, &f.keys, &expect()).err(), Some(want));
    }
}

#[test]
fn alg_none_and_unknown_algorithms_are_refused() {
    let f = fixture();
    let body = URL_SAFE_NO_PAD.encode(access(ISS, "DIARY", now() + 3600).to_string());
    for alg in ["none", "HS256", "ES256"] {
        let head = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let t = format!("{head}.{body}.");
        assert_eq!(
            check_access_token(&t, &f.keys, &expect()).err(),
            Some(TokenError::Algorithm(alg.into()))
        );
    }
    assert_eq!(
        check_access_token("garbage", &f.keys, &expect()).err(),
        Some(TokenError::Malformed)
    );
}

/// An RS256 token with ESIA's own header (`ver` is a number, `sbt` a
/// word: headers a JWT library must not choke on) over any claims.
fn esia_rs256(claims: &serde_json::Value, key: &EncodingKey) -> String {
    let head = URL_SAFE_NO_PAD.encode(r#"{"ver":1,"typ":"JWT","sbt":"access","alg":"RS256"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{head}.{body}");
    let sig = jsonwebtoken::crypto::sign(signed.as_bytes(), key, Algorithm::RS256).expect("sign");
    format!("{signed}.{sig}")
}

#[test]
fn esias_own_access_token_header_is_accepted() {
    let f = fixture();
    let t = esia_rs256(&access(ISS, "DIARY", now() + 3600), &f.enc);
    let (oid, _) = check_access_token(&t, &f.keys, &expect()).expect("valid");
    assert_eq!(oid, "1000001");
}

/// `access` with one claim set to `value`, or removed for `None`.
fn with(claim: &str, value: Option<serde_json::Value>) -> serde_json::Value {
    let mut c = access(ISS, "DIARY", now() + 3600);
    let m = c.as_object_mut().expect("object");
    match value {
        Some(v) => m.insert(claim.to_string(), v),
        None => m.remove(claim),
    };
    c
}

/// Time claims that are not whole seconds, with the error each gives.
fn malformed_time_claims() -> Vec<(serde_json::Value, TokenError)> {
    use serde_json::json;
    let later = now() + 86_400;
    vec![
        // CVE-2026-25537: a string `nbf` in the future was not checked.
        (
            with("nbf", Some(json!(later.to_string()))),
            TokenError::ClaimFormat("nbf"),
        ),
        (
            with("nbf", Some(json!((now() - 10).to_string()))),
            TokenError::ClaimFormat("nbf"),
        ),
        (
            with("exp", Some(json!((now() + 3600).to_string()))),
            TokenError::ClaimFormat("exp"),
        ),
        (
            with("exp", Some(json!(now() as f64 + 3600.5))),
            TokenError::ClaimFormat("exp"),
        ),
        (with("nbf", Some(json!(-1))), TokenError::ClaimFormat("nbf")),
        (with("exp", None), TokenError::MissingClaim("exp")),
    ]
}

#[test]
fn an_rs256_token_with_a_string_time_claim_is_refused() {
    let f = fixture();
    for (claims, want) in malformed_time_claims() {
        let t = esia_rs256(&claims, &f.enc);
        assert_eq!(
            check_access_token(&t, &f.keys, &expect()).err(),
            Some(want),
            "{claims}"
        );
    }
    // `iat` is the gateway's own check on every path.
    let t = esia_rs256(&with("iat", Some(serde_json::json!("0"))), &f.enc);
    assert_eq!(
        check_access_token(&t, &f.keys, &expect()).err(),
        Some(TokenError::ClaimFormat("iat"))
    );
}

#[test]
fn the_jwt_library_itself_refuses_a_string_nbf() {
    // The CVE-2026-25537 guard in the library, apart from ours: a
    // downgrade below jsonwebtoken 10.3 fails here.
    let f = fixture();
    let later = serde_json::json!((now() + 86_400).to_string());
    let t = esia_rs256(&with("nbf", Some(later)), &f.enc);
    let e = jsonwebtoken::decode::<serde_json::Value>(
        &t,
        &f.keys.rsa[0],
        &rs256_validation(&expect(), None),
    )
    .err()
    .map(|e| e.into_kind());
    assert_eq!(
        e,
        Some(jsonwebtoken::errors::ErrorKind::InvalidClaimFormat(
            "nbf".into()
        ))
    );
}

#[test]
fn time_claims_are_whole_seconds_or_the_token_is_refused() {
    use serde_json::json;
    let e = expect();
    let at = |c: &serde_json::Value| check_claims(c, &e, None, now());
    assert_eq!(at(&with("nbf", Some(json!(now() - 10)))), Ok(()));
    assert_eq!(at(&with("nbf", None)), Ok(()));
    assert_eq!(at(&with("iat", None)), Ok(()));
    for (claims, want) in malformed_time_claims() {
        assert_eq!(at(&claims), Err(want), "{claims}");
    }
    for claim in ["exp", "nbf", "iat"] {
        for bad in [json!("1700000000"), json!(null), json!(1.0), json!(true)] {
            assert_eq!(
                at(&with(claim, Some(bad.clone()))),
                Err(TokenError::ClaimFormat(match claim {
                    "exp" => "exp",
                    "nbf" => "nbf",
                    _ => "iat",
                })),
                "{claim}: {bad}"
            );
        }
    }
}

#[test]
fn time_claims_are_checked_against_the_clock_with_the_leeway() {
    use serde_json::json;
    let e = expect(); // 30 s leeway
    let t = 1_700_000_000_i64;
    let c = |exp: i64, nbf: i64, iat: i64| json!({"exp": exp, "nbf": nbf, "iat": iat, "iss": ISS, "client_id": "DIARY"});
    assert_eq!(
        check_claims(&c(t - 29, t - 60, t - 60), &e, None, t),
        Ok(())
    );
    assert_eq!(
        check_claims(&c(t - 31, t - 60, t - 60), &e, None, t),
        Err(TokenError::Time)
    );
    assert_eq!(check_claims(&c(t + 60, t + 29, t), &e, None, t), Ok(()));
    assert_eq!(
        check_claims(&c(t + 60, t + 31, t), &e, None, t),
        Err(TokenError::Time)
    );
    assert_eq!(
        check_claims(&c(t + 60, t, t + 31), &e, None, t),
        Err(TokenError::Time)
    );
    // A far-future `exp` neither overflows nor passes a future `nbf`.
    let far = json!({"exp": u64::MAX, "nbf": u64::MAX, "iss": ISS});
    assert_eq!(check_claims(&far, &e, None, t), Err(TokenError::Time));
}

fn gost_token(claims: &serde_json::Value, dir: &std::path::Path) -> (String, TrustedKeys) {
    crate::esia::gost::init_engine().expect("engine");
    let keys = esia_gate_dev::keys::ensure_dev_keys(dir).expect("keys");
    let key = crate::esia::gost::read_private_key(&keys.client_key).expect("key");
    let head =
        URL_SAFE_NO_PAD.encode(r#"{"alg":"GOST3410_2012_256","typ":"JWT","sbt":"access","ver":1}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig = crate::esia::gost::sign(&key, format!("{head}.{body}").as_bytes()).expect("sign");
    let pem = std::fs::read(&keys.client_cert).expect("cert");
    (
        format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(sig)),
        TrustedKeys::from_certificates(&[pem]).expect("trusted"),
    )
}

#[test]
fn a_gost_signed_access_token_verifies_with_the_engine() {
    let dir = tempfile::tempdir().expect("tmp");
    let (t, keys) = gost_token(&access(ISS, "DIARY", now() + 3600), dir.path());
    let (oid, _) = check_access_token(&t, &keys, &expect()).expect("valid");
    assert_eq!(oid, "1000001");
    // One flipped byte in the payload: the signature no longer holds.
    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(access(ISS, "DIARY", now() + 7200).to_string());
    assert_eq!(
        check_access_token(&parts.join("."), &keys, &expect()).err(),
        Some(TokenError::Signature)
    );
    let (old, keys) = gost_token(&access(ISS, "DIARY", now() - 3600), dir.path());
    assert_eq!(
        check_access_token(&old, &keys, &expect()).err(),
        Some(TokenError::Time)
    );
    for (claims, want) in malformed_time_claims() {
        let (t, keys) = gost_token(&claims, dir.path());
        assert_eq!(
            check_access_token(&t, &keys, &expect()).err(),
            Some(want),
            "{claims}"
        );
    }
    let (evil, keys) = gost_token(&access("http://evil/", "DIARY", now() + 3600), dir.path());
    assert_eq!(
        check_access_token(&evil, &keys, &expect()).err(),
        Some(TokenError::Issuer("http://evil/".into()))
    );
}
