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

/// The token checks every provider makes: the trusted keys (swapped in
/// whole when ESIA rotates its keys, without a restart) and what the
/// tokens must say about their issuer and client.
pub struct TokenChecks {
    keys: arc_swap::ArcSwap<TrustedKeys>,
    issuer: String,
    client_id: String,
    leeway_seconds: u64,
}

impl TokenChecks {
    pub fn new(keys: TrustedKeys, issuer: String, client_id: String, leeway_seconds: u64) -> Self {
        Self {
            keys: arc_swap::ArcSwap::from_pointee(keys),
            issuer,
            client_id,
            leeway_seconds,
        }
    }

    fn expect(&self) -> Expect<'_> {
        Expect {
            issuer: &self.issuer,
            client_id: &self.client_id,
            leeway_seconds: self.leeway_seconds,
        }
    }

    /// [`check_access_token`] with the current keys.
    pub fn access_token(&self, token: &str) -> Result<(String, AccessClaims), TokenError> {
        check_access_token(token, &self.keys.load(), &self.expect())
    }

    /// [`check_id_token`] with the current keys.
    pub fn id_token(&self, token: &str) -> Result<IdClaims, TokenError> {
        check_id_token(token, &self.keys.load(), &self.expect())
    }

    /// Replace the trusted certificates (a key rotation); a set that
    /// cannot be used keeps the old one.
    pub fn reload(&self, pems: &[Vec<u8>]) -> Result<(), String> {
        let keys = TrustedKeys::from_certificates(pems)?;
        self.keys.store(std::sync::Arc::new(keys));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
