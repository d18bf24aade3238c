//! The signed identity assertion for the diary: a short-lived EdDSA JWT
//! carrying the same claims as the plain headers, so the diary (or a thin
//! shim before it) can check they came from the gateway. Its public key is
//! served as a JWKS under the gateway's prefix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{Id, PKey, Private};
use serde::Serialize;

pub struct AssertionSigner {
    /// Signed assertions reused while more than half their life is left:
    /// signing on every request would cost more than the rest of the proxy.
    cache: [Mutex<HashMap<String, (String, i64)>>; SHARDS],
    key: EncodingKey,
    kid: String,
    jwks: String,
    issuer: String,
    ttl_seconds: i64,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    oid: &'a str,
    method: &'a str,
    trusted: bool,
    role: &'a str,
}

impl AssertionSigner {
    /// From an Ed25519 PKCS#8 PEM file, or a fresh key when `None`.
    pub fn new(key_file: Option<&Path>, issuer: &str, ttl_seconds: u64) -> Result<Self, String> {
        let pkey: PKey<Private> = match key_file {
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                PKey::private_key_from_pem(&pem).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => PKey::generate_ed25519().map_err(|e| e.to_string())?,
        };
        if pkey.id() != Id::ED25519 {
            return Err("identity_headers.assertion_key must be an Ed25519 key".into());
        }
        let pem = pkey.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
        let key = EncodingKey::from_ed_pem(&pem).map_err(|e| e.to_string())?;
        let raw = pkey.raw_public_key().map_err(|e| e.to_string())?;
        let x = URL_SAFE_NO_PAD.encode(&raw);
        let kid = x.chars().take(16).collect::<String>();
        let jwks = serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x
        }]})
        .to_string();
        Ok(Self {
            cache: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            key,
            kid,
            jwks,
            issuer: issuer.to_string(),
            ttl_seconds: ttl_seconds as i64,
        })
    }

    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// [`Self::sign`], reusing this session's last assertion for the same
    /// claims while more than half of its lifetime is left.
    pub fn sign_cached(
        &self,
        session_id: &str,
        now: i64,
        login: &str,
        oid: &str,
        trusted: bool,
        role: &str,
    ) -> String {
        let key = format!("{session_id}\u{1f}{login}\u{1f}{role}\u{1f}{trusted}");
        let shard = (fxhash(session_id.as_bytes()) as usize) % SHARDS;
        let mut map = self.cache[shard].lock().unwrap_or_else(|p| p.into_inner());
        if let Some((jwt, fresh_until)) = map.get(&key)
            && *fresh_until > now
        {
            return jwt.clone();
        }
        let jwt = self.sign(now, login, oid, trusted, role);
        if map.len() >= MAX_PER_SHARD {
            map.retain(|_, (_, f)| *f > now);
            if map.len() >= MAX_PER_SHARD {
                map.clear();
            }
        }
        map.insert(key, (jwt.clone(), now + self.ttl_seconds / 2));
        jwt
    }

    pub fn sign(&self, now: i64, login: &str, oid: &str, trusted: bool, role: &str) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(self.kid.clone());
        let claims = Claims {
            iss: &self.issuer,
            sub: login,
            aud: "diary",
            iat: now,
            exp: now + self.ttl_seconds,
            oid,
            method: "esia",
            trusted,
            role,
        };
        // Serialising these plain claims cannot fail; an empty header value
        // would make the diary refuse the request rather than trust it.
        jsonwebtoken::encode(&h, &claims, &self.key).unwrap_or_default()
    }
}

/// A small fixed hash to pick a shard (no security role).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assertion_verifies_with_the_published_key() {
        let s = AssertionSigner::new(None, "http://gw", 60).expect("signer");
        let t = s.sign(
            chrono::Utc::now().timestamp(),
            "ivanova",
            "1000001",
            true,
            "parent",
        );
        let jwks: serde_json::Value = serde_json::from_str(s.jwks()).expect("json");
        let x = jwks["keys"][0]["x"].as_str().expect("x");
        let key = jsonwebtoken::DecodingKey::from_ed_components(x).expect("key");
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.set_audience(&["diary"]);
        let d = jsonwebtoken::decode::<serde_json::Value>(&t, &key, &v).expect("valid");
        assert_eq!(d.claims["sub"], "ivanova");
        assert_eq!(d.claims["method"], "esia");
    }

    #[test]
    fn a_session_reuses_its_assertion_until_half_its_life() {
        let s = AssertionSigner::new(None, "http://gw", 60).expect("signer");
        let a = s.sign_cached("sid", 1000, "ivanova", "1", true, "parent");
        assert_eq!(
            s.sign_cached("sid", 1029, "ivanova", "1", true, "parent"),
            a
        );
        assert_ne!(
            s.sign_cached("sid", 1031, "ivanova", "1", true, "parent"),
            a
        );
        // Another account in the same session gets its own assertion.
        assert_ne!(
            s.sign_cached("sid", 1001, "ivanova.t", "1", true, "staff"),
            a
        );
    }
}
