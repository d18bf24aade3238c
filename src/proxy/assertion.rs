//! The signed identity assertion for the diary: a short-lived EdDSA JWT
//! carrying the same claims as the plain headers, so the diary (or a thin
//! shim before it) can check they came from the gateway. Its public key is
//! served as a JWKS under the gateway's prefix.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{Id, PKey, Private};
use serde::Serialize;

pub struct AssertionSigner {
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
}
