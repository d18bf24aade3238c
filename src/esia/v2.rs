//! ESIA reached directly, the current way (`esia.mode = "v2"`):
//! `GET /aas/oauth2/v2/ac` and `POST /aas/oauth2/v3/te`, the client secret
//! a raw GOST R 34.10-2012 signature by the configured [`Signer`] plus the
//! certificate's hash. The answers are read by [`super::endpoints`], which
//! the legacy provider shares.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use url::Url;

use super::endpoints;
use super::error::EsiaError;
use super::protocol::{auth_secret_input, format_timestamp, token_secret_input};
use super::provider::{Authorization, EsiaProvider, Shared, Tokens};
use super::signer::Signer;
use crate::identity::Person;

pub struct V2Provider {
    shared: Shared,
    signer: Arc<dyn Signer>,
}

impl V2Provider {
    pub fn new(shared: Shared, signer: Arc<dyn Signer>) -> Self {
        Self { shared, signer }
    }

    async fn client_secret(&self, input: &str) -> Result<String, EsiaError> {
        self.signer
            .client_secret(input)
            .await
            .map_err(|e| EsiaError::Signing(e.to_string()))
    }
}

#[async_trait::async_trait]
impl EsiaProvider for V2Provider {
    async fn authorization_url(
        &self,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Authorization, EsiaError> {
        let ts = format_timestamp(&now);
        let s = &self.shared.settings;
        let secret = self
            .client_secret(&auth_secret_input(
                &s.client_id,
                &s.scope,
                &s.scope_org,
                &ts,
                state,
                &s.redirect_uri,
            ))
            .await?;
        let mut url = Url::parse(&self.shared.http.endpoint("/aas/oauth2/v2/ac"))
            .map_err(|e| EsiaError::bad_answer("ac", e))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &s.client_id)
                .append_pair("client_secret", &secret)
                .append_pair("client_certificate_hash", self.signer.certificate_hash())
                .append_pair("redirect_uri", &s.redirect_uri)
                .append_pair("scope", &s.scope);
            if !s.scope_org.is_empty() {
                q.append_pair("scope_org", &s.scope_org);
            }
            q.append_pair("response_type", "code")
                .append_pair("state", state)
                .append_pair("access_type", "online")
                .append_pair("timestamp", &ts);
        }
        Ok(Authorization::plain(url.into()))
    }

    async fn exchange_code(
        &self,
        code: &str,
        _handshake: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Tokens, EsiaError> {
        // The token request signs with a state and timestamp of its own.
        let state = uuid::Uuid::new_v4().to_string();
        let ts = format_timestamp(&now);
        let s = &self.shared.settings;
        let secret = self
            .client_secret(&token_secret_input(
                &s.client_id,
                &s.scope,
                &s.scope_org,
                &ts,
                &state,
                &s.redirect_uri,
                code,
            ))
            .await?;
        let form = [
            ("client_id", s.client_id.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("client_certificate_hash", self.signer.certificate_hash()),
            ("client_secret", &secret),
            ("state", &state),
            ("redirect_uri", &s.redirect_uri),
            ("scope", &s.scope),
            ("scope_org", &s.scope_org),
            ("timestamp", &ts),
            ("token_type", "Bearer"),
        ];
        endpoints::token_request(&self.shared, "/aas/oauth2/v3/te", &form, &state).await
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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::esia::gost;
    use crate::esia::provider::testing;
    use crate::esia::signer::OpensslGostSigner;

    #[tokio::test]
    async fn the_authorization_url_carries_a_gost_secret_over_the_documented_string() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let signer =
            OpensslGostSigner::from_files(&keys.client_cert, &keys.client_key).expect("signer");
        let p = V2Provider::new(testing::shared(&keys.esia_cert, ""), Arc::new(signer));
        let url = p
            .authorization_url("ST-1", testing::moment())
            .await
            .expect("url")
            .url;
        let (path, q) = testing::split(&url);
        assert_eq!(path, "https://esia.example/aas/oauth2/v2/ac");
        let names: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "client_id",
                "client_secret",
                "client_certificate_hash",
                "redirect_uri",
                "scope",
                "response_type",
                "state",
                "access_type",
                "timestamp"
            ]
        );
        let get = |k: &str| testing::param(&q, k);
        assert_eq!(get("state"), "ST-1");
        assert_eq!(get("timestamp"), "2019.01.02 10:00:00 +0300");
        assert_eq!(get("response_type"), "code");
        let cert = gost::read_certificate(&keys.client_cert).expect("cert");
        assert_eq!(
            get("client_certificate_hash"),
            gost::certificate_hash(&cert).expect("hash")
        );
        let signed = auth_secret_input(
            testing::CLIENT,
            testing::SCOPE,
            "",
            "2019.01.02 10:00:00 +0300",
            "ST-1",
            testing::REDIRECT,
        );
        let sig = URL_SAFE_NO_PAD
            .decode(get("client_secret"))
            .expect("base64url");
        let public = cert.public_key().expect("public");
        assert!(gost::verify(&public, signed.as_bytes(), &sig).expect("verify"));
        assert!(!gost::verify(&public, b"another state", &sig).unwrap_or(false));
    }

    #[tokio::test]
    async fn scope_org_is_sent_only_when_configured_and_logout_names_redirect_url() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let signer =
            OpensslGostSigner::from_files(&keys.client_cert, &keys.client_key).expect("signer");
        let p = V2Provider::new(
            testing::shared(&keys.esia_cert, "org_emps"),
            Arc::new(signer),
        );
        let url = p
            .authorization_url("ST", testing::moment())
            .await
            .expect("url")
            .url;
        let (_, q) = testing::split(&url);
        assert_eq!(testing::param(&q, "scope_org"), "org_emps");
        assert_eq!(
            p.logout_url("https://diary.example/esia-gate/logged-out"),
            "https://esia.example/idp/ext/Logout?client_id=DIARY&redirect_url=https%3A%2F%2Fdiary.example%2Fesia-gate%2Flogged-out"
        );
    }
}
