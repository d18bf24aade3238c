//! The signed identity assertion for the diary: a short-lived EdDSA JWT
//! carrying the same claims as the plain headers (the chosen child too),
//! so the diary (or a thin shim before it) can check they came from the
//! gateway. Its public key — and during a rotation the previous ones — is
//! served as a JWKS under the gateway's prefix. Every instance signs with
//! the configured key, so their JWKS agree and a restart changes nothing
//! the diary cached.

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
    /// The child a parent is looking at (`X-Child-User`), when chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<&'a str>,
}

/// Who an assertion is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub login: &'a str,
    pub oid: &'a str,
    pub trusted: bool,
    pub role: &'a str,
    pub child: Option<&'a str>,
}

/// An Ed25519 key from a PEM file (private PKCS#8, or public): its JWK.
fn jwk_of(path: &Path) -> Result<serde_json::Value, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw = match PKey::private_key_from_pem(&pem) {
        Ok(k) if k.id() == Id::ED25519 => k.raw_public_key(),
        Ok(_) => return Err(format!("{}: not an Ed25519 key", path.display())),
        Err(_) => match PKey::public_key_from_pem(&pem) {
            Ok(k) if k.id() == Id::ED25519 => k.raw_public_key(),
            _ => return Err(format!("{}: not an Ed25519 PEM key", path.display())),
        },
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(jwk(&raw))
}

fn jwk(raw_public: &[u8]) -> serde_json::Value {
    let x = URL_SAFE_NO_PAD.encode(raw_public);
    let kid = x.chars().take(16).collect::<String>();
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x})
}

impl AssertionSigner {
    /// From an Ed25519 PKCS#8 PEM file, or a fresh key when `None` (one
    /// instance, nothing cached by the diary across restarts); `previous`
    /// are keys still published during a rotation (private or public PEM).
    pub fn new(
        key_file: Option<&Path>,
        previous: &[std::path::PathBuf],
        issuer: &str,
        ttl_seconds: u64,
    ) -> Result<Self, String> {
        let pkey: PKey<Private> = match key_file {
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                PKey::private_key_from_pem(&pem).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => PKey::generate_ed25519().map_err(|e| e.to_string())?,
        };
        if pkey.id() != Id::ED25519 {
            return Err(
                "identity_headers.assertion_key must be an Ed25519 key (openssl genpkey -algorithm ed25519)"
                    .into(),
            );
        }
        let pem = pkey.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
        let key = EncodingKey::from_ed_pem(&pem).map_err(|e| e.to_string())?;
        let raw = pkey.raw_public_key().map_err(|e| e.to_string())?;
        let current = jwk(&raw);
        let kid = current["kid"].as_str().unwrap_or_default().to_string();
        let mut keys = vec![current];
        for p in previous {
            let k = jwk_of(p)?;
            if k["kid"] != keys[0]["kid"] {
                keys.push(k);
            }
        }
        let jwks = serde_json::json!({ "keys": keys }).to_string();
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
    pub fn sign_cached(&self, session_id: &str, now: i64, who: Subject<'_>) -> String {
        let key = format!(
            "{session_id}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            who.login,
            who.role,
            who.trusted,
            who.child.unwrap_or("")
        );
        let shard = (fxhash(session_id.as_bytes()) as usize) % SHARDS;
        let mut map = self.cache[shard].lock().unwrap_or_else(|p| p.into_inner());
        if let Some((jwt, fresh_until)) = map.get(&key)
            && *fresh_until > now
        {
            return jwt.clone();
        }
        let jwt = self.sign(now, who);
        if map.len() >= MAX_PER_SHARD {
            map.retain(|_, (_, f)| *f > now);
            if map.len() >= MAX_PER_SHARD {
                map.clear();
            }
        }
        map.insert(key, (jwt.clone(), now + self.ttl_seconds / 2));
        jwt
    }

    pub fn sign(&self, now: i64, who: Subject<'_>) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(self.kid.clone());
        let claims = Claims {
            iss: &self.issuer,
            sub: who.login,
            aud: "diary",
            iat: now,
            exp: now + self.ttl_seconds,
            oid: who.oid,
            method: "esia",
            trusted: who.trusted,
            role: who.role,
            child: who.child,
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

    fn ivanova(child: Option<&'static str>) -> Subject<'static> {
        Subject {
            login: "ivanova",
            oid: "1000001",
            trusted: true,
            role: "parent",
            child,
        }
    }

    fn decode(s: &AssertionSigner, jwt: &str, key_index: usize) -> serde_json::Value {
        let jwks: serde_json::Value = serde_json::from_str(s.jwks()).expect("json");
        let x = jwks["keys"][key_index]["x"].as_str().expect("x");
        let key = jsonwebtoken::DecodingKey::from_ed_components(x).expect("key");
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.set_audience(&["diary"]);
        jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v)
            .expect("valid")
            .claims
    }

    #[test]
    fn the_assertion_verifies_with_the_published_key_and_names_the_child() {
        let s = AssertionSigner::new(None, &[], "http://gw", 60).expect("signer");
        let now = chrono::Utc::now().timestamp();
        let d = decode(&s, &s.sign(now, ivanova(None)), 0);
        assert_eq!(d["sub"], "ivanova");
        assert_eq!(d["method"], "esia");
        assert!(d.get("child").is_none());
        let d = decode(&s, &s.sign(now, ivanova(Some("ivanov.n"))), 0);
        assert_eq!(d["child"], "ivanov.n");
    }

    #[test]
    fn instances_with_one_key_agree_and_a_rotation_publishes_both_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let write = |name: &str| {
            let k = PKey::generate_ed25519().expect("key");
            let p = dir.path().join(name);
            std::fs::write(&p, k.private_key_to_pem_pkcs8().expect("pem")).expect("write");
            p
        };
        let (old, new) = (write("old.pem"), write("new.pem"));
        let a = AssertionSigner::new(Some(&old), &[], "http://gw", 60).expect("a");
        let b = AssertionSigner::new(Some(&old), &[], "http://gw", 60).expect("b");
        assert_eq!(a.jwks(), b.jwks(), "two instances publish the same key");
        // Rotation: the new key signs, the old one is still published, so
        // a diary holding either verifies.
        let r = AssertionSigner::new(Some(&new), std::slice::from_ref(&old), "http://gw", 60)
            .expect("rotated");
        let jwks: serde_json::Value = serde_json::from_str(r.jwks()).expect("json");
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
        let now = chrono::Utc::now().timestamp();
        assert_eq!(decode(&r, &r.sign(now, ivanova(None)), 0)["sub"], "ivanova");
        assert_eq!(decode(&r, &a.sign(now, ivanova(None)), 1)["sub"], "ivanova");
        // An RSA key is refused with what to do.
        let rsa = dir.path().join("rsa.pem");
        let k = openssl::rsa::Rsa::generate(2048).expect("rsa");
        let k = PKey::from_rsa(k).expect("pkey");
        std::fs::write(&rsa, k.private_key_to_pem_pkcs8().expect("pem")).expect("write");
        let e = AssertionSigner::new(Some(&rsa), &[], "http://gw", 60).err();
        assert!(e.is_some_and(|e| e.contains("Ed25519")));
    }

    #[test]
    fn a_session_reuses_its_assertion_until_half_its_life() {
        let s = AssertionSigner::new(None, &[], "http://gw", 60).expect("signer");
        let a = s.sign_cached("sid", 1000, ivanova(None));
        assert_eq!(s.sign_cached("sid", 1029, ivanova(None)), a);
        assert_ne!(s.sign_cached("sid", 1031, ivanova(None)), a);
        // Another account, or another child, in the same session gets its
        // own assertion.
        let staff = Subject {
            login: "ivanova.t",
            role: "staff",
            ..ivanova(None)
        };
        assert_ne!(s.sign_cached("sid", 1001, staff), a);
        assert_ne!(s.sign_cached("sid", 1001, ivanova(Some("ivanov.n"))), a);
    }
}
