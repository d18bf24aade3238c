//! The deprecated direct endpoints (`/aas/oauth2/ac`, `/aas/oauth2/te`),
//! still accepted on the test stand: the client secret is a detached
//! PKCS#7 SignedData (DER, signer certificate included, no signed
//! attributes) over `scope + timestamp + client_id + state`, base64url
//! (`esia.mode = "legacy"`). The answers are ESIA's own, read by
//! [`super::endpoints`] as for v2.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;
use url::Url;

use super::endpoints;
use super::error::EsiaError;
use super::gost::{self, GostError};
use super::protocol::format_timestamp;
use super::provider::{Authorization, EsiaProvider, Shared, Tokens};
use crate::identity::Person;

#[derive(Clone)]
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

    /// Detached PKCS#7 over `data`, DER, base64url without padding, signed
    /// on the blocking pool.
    pub async fn client_secret(&self, data: &str) -> Result<String, GostError> {
        let (signer, data) = (self.clone(), data.to_string());
        super::signer::off_the_runtime(move || signer.sign_now(&data)).await
    }

    fn sign_now(&self, data: &str) -> Result<String, GostError> {
        let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOATTR;
        let certs = Stack::new()?;
        let p7 = Pkcs7::sign(&self.cert, &self.key, &certs, data.as_bytes(), flags)?;
        Ok(URL_SAFE_NO_PAD.encode(p7.to_der()?))
    }
}

/// ESIA through the legacy endpoints, with the detached PKCS#7 secret.
pub struct LegacyProvider {
    shared: Shared,
    signer: LegacySigner,
}

impl LegacyProvider {
    pub fn new(shared: Shared, signer: LegacySigner) -> Self {
        Self { shared, signer }
    }

    async fn client_secret(&self, ts: &str, state: &str) -> Result<String, EsiaError> {
        let s = &self.shared.settings;
        self.signer
            .client_secret(&secret_input(&s.scope, ts, &s.client_id, state))
            .await
            .map_err(|e| EsiaError::Signing(e.to_string()))
    }
}

#[async_trait::async_trait]
impl EsiaProvider for LegacyProvider {
    async fn authorization_url(
        &self,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Authorization, EsiaError> {
        let ts = format_timestamp(&now);
        let secret = self.client_secret(&ts, state).await?;
        let s = &self.shared.settings;
        let mut url = Url::parse(&self.shared.http.endpoint("/aas/oauth2/ac"))
            .map_err(|e| EsiaError::bad_answer("ac", e))?;
        url.query_pairs_mut()
            .append_pair("client_id", &s.client_id)
            .append_pair("client_secret", &secret)
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scope)
            .append_pair("response_type", "code")
            .append_pair("state", state)
            .append_pair("access_type", "online")
            .append_pair("timestamp", &ts);
        Ok(Authorization::plain(url.into()))
    }

    async fn exchange_code(
        &self,
        code: &str,
        _handshake: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Tokens, EsiaError> {
        // As in v3, the token request has a state of its own.
        let state = uuid::Uuid::new_v4().to_string();
        let ts = format_timestamp(&now);
        let secret = self.client_secret(&ts, &state).await?;
        let s = &self.shared.settings;
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
        endpoints::token_request(&self.shared, "/aas/oauth2/te", &form, &state).await
    }

    async fn person(&self, tokens: &Tokens) -> Result<Person, EsiaError> {
        endpoints::person(&self.shared, tokens).await
    }

    fn logout_url(&self, redirect_url: &str) -> String {
        endpoints::logout_url(&self.shared, redirect_url)
    }

    async fn reachable(&self) -> bool {
        self.shared.http.reachable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_legacy_secret_is_a_detached_pkcs7_the_certificate_verifies() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let l = LegacySigner::from_files(&keys.client_cert, &keys.client_key).expect("signer");
        let data = secret_input("openid", "2019.01.02 10:00:00 +0300", "DIARY", "st");
        assert_eq!(data, "openid2019.01.02 10:00:00 +0300DIARYst");
        let der = URL_SAFE_NO_PAD
            .decode(l.client_secret(&data).await.expect("secret"))
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

    #[tokio::test]
    async fn the_legacy_authorization_url_goes_to_the_old_endpoint_with_a_pkcs7_secret() {
        use crate::esia::provider::testing;
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let l = LegacySigner::from_files(&keys.client_cert, &keys.client_key).expect("signer");
        let cert = l.cert.clone();
        let p = LegacyProvider::new(testing::shared(&keys.esia_cert, "org_emps"), l);
        let url = p
            .authorization_url("ST-1", testing::moment())
            .await
            .expect("url")
            .url;
        let (path, q) = testing::split(&url);
        assert_eq!(path, "https://esia.example/aas/oauth2/ac");
        let names: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
        // No certificate hash and no scope_org: the legacy request has neither.
        assert_eq!(
            names,
            [
                "client_id",
                "client_secret",
                "redirect_uri",
                "scope",
                "response_type",
                "state",
                "access_type",
                "timestamp"
            ]
        );
        assert_eq!(testing::param(&q, "timestamp"), "2019.01.02 10:00:00 +0300");
        let data = secret_input(
            testing::SCOPE,
            "2019.01.02 10:00:00 +0300",
            testing::CLIENT,
            "ST-1",
        );
        let der = URL_SAFE_NO_PAD
            .decode(testing::param(&q, "client_secret"))
            .expect("base64url");
        let p7 = Pkcs7::from_der(&der).expect("pkcs7");
        let mut certs = Stack::new().expect("stack");
        certs.push(cert).expect("push");
        let store = openssl::x509::store::X509StoreBuilder::new()
            .expect("store")
            .build();
        let flags = Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY;
        p7.verify(&certs, &store, Some(data.as_bytes()), None, flags)
            .expect("the secret signs the documented string");
        assert!(
            p.logout_url("https://diary.example/out")
                .starts_with("https://esia.example/idp/ext/Logout?client_id=DIARY&redirect_url=")
        );
    }
}
