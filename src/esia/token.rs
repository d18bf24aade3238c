//! Checks of ESIA's tokens: signature against the trusted certificates,
//! algorithm, times, issuer, client. RS256 verifies with `jsonwebtoken`;
//! `GOST3410_2012_256` (the system chooses at ESIA's technology portal)
//! with OpenSSL's GOST engine, the signature taken as is (no byte
//! reversal). `none` and anything unknown are rejected.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is not a JWT")]
    Malformed,
    #[error("token algorithm `{0}` is not accepted")]
    Algorithm(String),
    #[error("token signature does not verify against any trusted certificate")]
    Signature,
    #[error("token is expired or not yet valid")]
    Time,
    /// A time claim that is not a whole number of seconds (a string, a
    /// fraction, a negative number, `null`): refused rather than skipped.
    #[error("token claim `{0}` is not a whole number of seconds")]
    ClaimFormat(&'static str),
    #[error("token issuer is `{0}`, expected another")]
    Issuer(String),
    #[error("token was issued for another client")]
    Client,
    #[error("token lacks the claim `{0}`")]
    MissingClaim(&'static str),
    #[error("token check failed: {0}")]
    Other(String),
}

/// The trusted token signing keys, from ESIA's certificates (PEM).
pub struct TrustedKeys {
    rsa: Vec<DecodingKey>,
    gost: Vec<openssl::pkey::PKey<openssl::pkey::Public>>,
}

impl TrustedKeys {
    pub fn from_certificates(pems: &[Vec<u8>]) -> Result<Self, String> {
        let mut rsa = Vec::new();
        let mut gost = Vec::new();
        for (i, pem) in pems.iter().enumerate() {
            let cert = openssl::x509::X509::from_pem(pem)
                .map_err(|e| format!("certificate #{}: not a PEM certificate: {e}", i + 1))?;
            let key = cert
                .public_key()
                .map_err(|e| format!("certificate #{}: {e}", i + 1))?;
            if key.id() != openssl::pkey::Id::RSA {
                gost.push(key);
                continue;
            }
            if let Ok(r) = key.rsa() {
                let pem = r
                    .public_key_to_pem_pkcs1()
                    .map_err(|e| format!("certificate #{}: {e}", i + 1))?;
                rsa.push(
                    DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| format!("certificate #{}: {e}", i + 1))?,
                );
            }
        }
        if rsa.is_empty() && gost.is_empty() {
            return Err("no usable certificate among esia.trusted_certificates".into());
        }
        Ok(Self { rsa, gost })
    }
}

/// What a token check expects.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub leeway_seconds: u64,
}

/// The claims the gateway uses from the access token.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessClaims {
    #[serde(rename = "urn:esia:sbj_id")]
    pub sbj_id: Option<serde_json::Value>,
    pub client_id: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// The claims the gateway uses from the id token.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: Option<serde_json::Value>,
    #[serde(rename = "urn:esia:sbj", default)]
    pub sbj: Option<HashMap<String, serde_json::Value>>,
}

impl IdClaims {
    /// `urn:esia:sbj:is_tru` present and true, or level `PR`.
    pub fn confirmed(&self) -> bool {
        let Some(s) = &self.sbj else { return false };
        s.get("urn:esia:sbj:is_tru")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
            || s.get("urn:esia:sbj:lvl").and_then(|v| v.as_str()) == Some("PR")
    }
}

fn header_alg(token: &str) -> Result<String, TokenError> {
    let head = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    v.get("alg")
        .and_then(|a| a.as_str())
        .map(str::to_string)
        .ok_or(TokenError::Malformed)
}

fn verify<T: serde::de::DeserializeOwned>(
    token: &str,
    keys: &TrustedKeys,
    expect: &Expect<'_>,
    audience: Option<&str>,
) -> Result<T, TokenError> {
    if token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let alg = header_alg(token)?;
    match alg.as_str() {
        "RS256" => {}
        "GOST3410_2012_256" => return verify_gost(token, keys, expect, audience),
        _ => return Err(TokenError::Algorithm(alg)),
    }
    let v = rs256_validation(expect, audience);
    let mut last = TokenError::Signature;
    for key in &keys.rsa {
        match jsonwebtoken::decode::<serde_json::Value>(token, key, &v) {
            Ok(d) => return checked_claims(d.claims, expect, audience),
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                last = match e.kind() {
                    K::InvalidSignature => TokenError::Signature,
                    K::ExpiredSignature | K::ImmatureSignature => return Err(TokenError::Time),
                    K::InvalidIssuer => {
                        let iss = claim(token, "iss");
                        return Err(TokenError::Issuer(
                            iss.as_ref()
                                .and_then(|v| v.as_str())
                                .unwrap_or_default()
                                .to_string(),
                        ));
                    }
                    K::InvalidAudience => return Err(TokenError::Client),
                    // jsonwebtoken reports a malformed `exp` as a missing one.
                    K::MissingRequiredClaim(c) if c == "exp" => {
                        return Err(match claim(token, "exp") {
                            Some(_) => TokenError::ClaimFormat("exp"),
                            None => TokenError::MissingClaim("exp"),
                        });
                    }
                    K::MissingRequiredClaim(_) => return Err(TokenError::MissingClaim("iss")),
                    K::InvalidClaimFormat(c) => {
                        return Err(match c.as_str() {
                            "exp" => TokenError::ClaimFormat("exp"),
                            "nbf" => TokenError::ClaimFormat("nbf"),
                            "iss" => TokenError::MissingClaim("iss"),
                            _ => TokenError::Malformed,
                        });
                    }
                    K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                        return Err(TokenError::Malformed);
                    }
                    other => TokenError::Other(format!("{other:?}")),
                };
            }
        }
    }
    Err(last)
}

fn rs256_validation(expect: &Expect<'_>, audience: Option<&str>) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = expect.leeway_seconds;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.set_issuer(&[expect.issuer]);
    match audience {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    v
}

/// The gateway's own claim checks, the same for every algorithm, then the
/// typed claims. For RS256 they repeat what `jsonwebtoken` checked, so a
/// regression there (CVE-2026-25537: a string `nbf` skipped the check) does
/// not open the door, and both paths refuse exactly the same tokens.
fn checked_claims<T: serde::de::DeserializeOwned>(
    claims: serde_json::Value,
    expect: &Expect<'_>,
    audience: Option<&str>,
) -> Result<T, TokenError> {
    check_claims(&claims, expect, audience, chrono::Utc::now().timestamp())?;
    serde_json::from_value(claims).map_err(|_| TokenError::Malformed)
}

/// A GOST-signed token: the signature over `header.payload` with one of the
/// trusted GOST keys, then the same claim checks as for RS256.
fn verify_gost<T: serde::de::DeserializeOwned>(
    token: &str,
    keys: &TrustedKeys,
    expect: &Expect<'_>,
    audience: Option<&str>,
) -> Result<T, TokenError> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let sig = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let signed = format!("{head}.{body}");
    let good = keys
        .gost
        .iter()
        .any(|k| super::gost::verify(k, signed.as_bytes(), &sig).unwrap_or(false));
    if !good {
        return Err(TokenError::Signature);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    checked_claims(claims, expect, audience)
}

/// A time claim (`exp`, `nbf`, `iat`): `None` when absent, the seconds
/// when it is a JSON integer from 0 up, an error for anything else.
///
/// Fractions are refused although RFC 7519 allows them: ESIA writes whole
/// seconds, `jsonwebtoken` refuses them on the RS256 path (it reads `u64`),
/// and one rule for both paths is easier to trust than rounding rules. A
/// string, `null`, a negative number or a float is never "no claim": the
/// flaw behind CVE-2026-25537 was exactly reading a malformed `nbf` as an
/// absent one.
fn time_claim(claims: &serde_json::Value, name: &'static str) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(TokenError::ClaimFormat(name)),
    }
}

/// Times, issuer and audience of a decoded token (what `jsonwebtoken`
/// checks for RS256), as a pure function of the claims and the time:
/// `exp` required, `nbf` and `iat` optional, all three whole seconds;
/// `nbf` and `iat` may not lie ahead, `exp` not behind, give or take the
/// leeway.
fn check_claims(
    claims: &serde_json::Value,
    expect: &Expect<'_>,
    audience: Option<&str>,
    now: i64,
) -> Result<(), TokenError> {
    let leeway = expect.leeway_seconds;
    let now = u64::try_from(now).unwrap_or(0);
    let exp = time_claim(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    let nbf = time_claim(claims, "nbf")?;
    let iat = time_claim(claims, "iat")?;
    let ahead = |t: u64| t > now.saturating_add(leeway);
    if now > exp.saturating_add(leeway) || nbf.is_some_and(ahead) || iat.is_some_and(ahead) {
        return Err(TokenError::Time);
    }
    let iss = claims
        .get("iss")
        .and_then(|v| v.as_str())
        .ok_or(TokenError::MissingClaim("iss"))?;
    if iss != expect.issuer {
        return Err(TokenError::Issuer(iss.to_string()));
    }
    if let Some(a) = audience {
        let ok = match claims.get("aud") {
            Some(serde_json::Value::String(s)) => s == a,
            Some(serde_json::Value::Array(v)) => v.iter().any(|x| x.as_str() == Some(a)),
            _ => false,
        };
        if !ok {
            return Err(TokenError::Client);
        }
    }
    Ok(())
}

/// One claim of a token whose signature has been checked, to say why it
/// was refused.
fn claim(token: &str, name: &str) -> Option<serde_json::Value> {
    let body = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get_mut(name).map(serde_json::Value::take)
}

/// Check ESIA's access token and return the person's oid.
pub fn check_access_token(
    token: &str,
    keys: &TrustedKeys,
    expect: &Expect<'_>,
) -> Result<(String, AccessClaims), TokenError> {
    let claims: AccessClaims = verify(token, keys, expect, None)?;
    if claims.client_id.as_deref() != Some(expect.client_id) {
        return Err(TokenError::Client);
    }
    let oid = match &claims.sbj_id {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) if s.bytes().all(|b| b.is_ascii_digit()) => s.clone(),
        _ => return Err(TokenError::MissingClaim("urn:esia:sbj_id")),
    };
    if oid.is_empty() {
        return Err(TokenError::MissingClaim("urn:esia:sbj_id"));
    }
    Ok((oid, claims))
}

/// Check ESIA's id token (audience = our client id).
pub fn check_id_token(
    token: &str,
    keys: &TrustedKeys,
    expect: &Expect<'_>,
) -> Result<IdClaims, TokenError> {
    verify(token, keys, expect, Some(expect.client_id))
}

#[cfg(test)]
mod tests {
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
            other: EncodingKey::from_rsa_pem(&other.private_key_to_pem().expect("pem"))
                .expect("enc"),
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
        let sig =
            jsonwebtoken::crypto::sign(signed.as_bytes(), key, Algorithm::RS256).expect("sign");
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
        let head = URL_SAFE_NO_PAD
            .encode(r#"{"alg":"GOST3410_2012_256","typ":"JWT","sbt":"access","ver":1}"#);
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
}
