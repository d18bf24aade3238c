//! The deprecated direct endpoints (`/aas/oauth2/ac`, `/aas/oauth2/te`),
//! still accepted on the test stand: the client secret is a detached
//! PKCS#7 SignedData (DER, signer certificate included, no signed
//! attributes) over `scope + timestamp + client_id + state`, base64url.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;
use url::Url;

use super::client::{EsiaClient, EsiaError, LoginResult};
use super::gost::{self, GostError};
use super::protocol::format_timestamp;

pub struct LegacySigner {
    cert: X509,
    key: PKey<Private>,
}

/// What the legacy client secret signs.
pub fn secret_input(scope: &str, timestamp: &str, client_id: &str, state: &str) -> String {
    [scope, timestamp, client_id, state].concat()
}

impl LegacySigner {
    pub fn from_files(certificate: &Path, private_key: &Path) -> Result<Self, GostError> {
        gost::init_engine()?;
        Ok(Self {
            cert: gost::read_certificate(certificate)?,
            key: gost::read_private_key(private_key)?,
        })
    }

    /// Detached PKCS#7 over `data`, DER, base64url without padding.
    pub fn client_secret(&self, data: &str) -> Result<String, GostError> {
        let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOATTR;
        let certs = Stack::new()?;
        let p7 = Pkcs7::sign(&self.cert, &self.key, &certs, data.as_bytes(), flags)?;
        Ok(URL_SAFE_NO_PAD.encode(p7.to_der()?))
    }
}

impl EsiaClient {
    pub(super) fn legacy_authorization_url(
        &self,
        l: &LegacySigner,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<String, EsiaError> {
        let ts = format_timestamp(&now);
        let s = &self.s;
        let secret = l
            .client_secret(&secret_input(&s.scope, &ts, &s.client_id, state))
            .map_err(|e| EsiaError::Signing(e.to_string()))?;
        let mut url =
            Url::parse(&self.endpoint("/aas/oauth2/ac")).map_err(|e| EsiaError::BadAnswer {
                endpoint: "ac",
                reason: e.to_string(),
            })?;
        url.query_pairs_mut()
            .append_pair("client_id", &s.client_id)
            .append_pair("client_secret", &secret)
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scope)
            .append_pair("response_type", "code")
            .append_pair("state", state)
            .append_pair("access_type", "online")
            .append_pair("timestamp", &ts);
        Ok(url.into())
    }

    pub(super) async fn legacy_login(
        &self,
        l: &LegacySigner,
        code: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<LoginResult, EsiaError> {
        let state = uuid::Uuid::new_v4().to_string();
        let ts = format_timestamp(&now);
        let s = &self.s;
        let secret = l
            .client_secret(&secret_input(&s.scope, &ts, &s.client_id, &state))
            .map_err(|e| EsiaError::Signing(e.to_string()))?;
        let form = [
            ("client_id", s.client_id.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("client_secret", &secret),
            ("state", &state),
            ("redirect_uri", &s.redirect_uri),
            ("scope", &s.scope),
            ("timestamp", &ts),
            ("token_type", "Bearer"),
        ];
        self.exchange("/aas/oauth2/te", &form, &state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_secret_is_a_detached_pkcs7_the_certificate_verifies() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let l = LegacySigner::from_files(&keys.client_cert, &keys.client_key).expect("signer");
        let data = secret_input("openid", "2019.01.02 10:00:00 +0300", "DIARY", "st");
        assert_eq!(data, "openid2019.01.02 10:00:00 +0300DIARYst");
        let der = URL_SAFE_NO_PAD
            .decode(l.client_secret(&data).expect("secret"))
            .expect("base64url");
        let p7 = Pkcs7::from_der(&der).expect("pkcs7");
        let mut certs = Stack::new().expect("stack");
        certs.push(l.cert.clone()).expect("push");
        let store = openssl::x509::store::X509StoreBuilder::new()
            .expect("store")
            .build();
        let flags = Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY;
        p7.verify(&certs, &store, Some(data.as_bytes()), None, flags)
            .expect("verifies");
        assert!(
            p7.verify(&certs, &store, Some(b"tampered"), None, flags)
                .is_err()
        );
    }
}
