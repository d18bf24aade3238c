//! Pure checks and token helpers (unit tested): the request timestamp, the
//! GOST client secret, scopes, RS256 JWTs and same-origin URLs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use serde_json::Value;

use esia_gate::esia::gost;
use esia_gate::esia::protocol;

/// The timestamp is well-formed and within `tolerance` seconds of `now`.
pub(super) fn check_timestamp(
    ts: &str,
    now: DateTime<Utc>,
    tolerance: u64,
) -> Result<(), &'static str> {
    let t = protocol::parse_timestamp(ts)
        .ok_or("Неверный формат timestamp (ожидается yyyy.MM.dd HH:mm:ss Z)")?;
    let skew = (now - t.with_timezone(&Utc)).num_seconds().unsigned_abs();
    if skew > tolerance {
        return Err("Время запроса (timestamp) расходится с временем ЕСИА больше допустимого");
    }
    Ok(())
}

/// `client_secret` (base64url, padding optional) is a valid GOST signature
/// of `input` by `key`.
pub(super) fn secret_ok(key: &PKey<Public>, input: &str, secret: &str) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')) else {
        return false;
    };
    gost::verify(key, input.as_bytes(), &sig).unwrap_or(false)
}

fn scope_names(scope: &str) -> impl Iterator<Item = &str> {
    scope
        .split_whitespace()
        .map(|s| s.split('?').next().unwrap_or(s))
}

pub(super) fn has_scope(scope: &str, name: &str) -> bool {
    scope_names(scope).any(|s| s == name)
}

/// The access token's `scope`: `fullname?oid=1000001 openid snils?oid=1000001`.
pub(super) fn token_scope(requested: &str, oid: u64) -> String {
    requested
        .split_whitespace()
        .map(|s| {
            if s == "openid" {
                s.to_string()
            } else {
                format!("{s}?oid={oid}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn make_jwt(
    key: &PKey<Private>,
    header: &Value,
    claims: &Value,
) -> anyhow::Result<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(input.as_bytes())?;
    let sig = signer.sign_to_vec()?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Header and claims of an RS256 JWT whose signature `key` verifies.
pub(super) fn verify_jwt(key: &PKey<Private>, token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "RS256" {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), key).ok()?;
    verifier.update(h.as_bytes()).ok()?;
    verifier.update(b".").ok()?;
    verifier.update(c.as_bytes()).ok()?;
    if !verifier.verify(&sig).unwrap_or(false) {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    Some((header, claims))
}

/// Same origin (scheme, host, port).
pub(super) fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}
