//! What the login flow needs from "an ESIA", whichever way it is reached:
//! the [`EsiaProvider`] trait, what its answers carry, and the pieces every
//! implementation shares ([`Shared`]: the settings, the one HTTP client,
//! the token checks). `config::EsiaMode` picks the implementation at start:
//! `v2`, `legacy` and `broker`, each in the file of that name.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use url::Url;

use super::error::EsiaError;
use super::http::BackChannel;
use super::token::{TokenChecks, TrustedKeys};
use crate::identity::Person;

/// One ESIA (direct or through a broker), as the login flow sees it.
#[async_trait::async_trait]
pub trait EsiaProvider: Send + Sync {
    /// Where the browser is sent to log in, for this login's `state`, and
    /// what the token exchange will need back.
    async fn authorization_url(
        &self,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Authorization, EsiaError>;

    /// Exchange the authorization code for tokens and check them (the
    /// signature against the trusted keys, times, issuer, client);
    /// `handshake` is what [`Self::authorization_url`] gave for this login.
    async fn exchange_code(
        &self,
        code: &str,
        handshake: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Tokens, EsiaError>;

    /// The person the tokens are about: FIO, SNILS, birth date, trusted,
    /// children.
    async fn person(&self, tokens: &Tokens) -> Result<Person, EsiaError>;

    /// The logout URL that ends the single sign-on session and comes back
    /// to `redirect_url`.
    fn logout_url(&self, redirect_url: &str) -> String;

    /// Is the provider reachable at all (for `/readyz`)?
    async fn reachable(&self) -> bool;
}

/// A login's way to ESIA: the URL, and the secrets the token exchange
/// needs back (a broker's nonce and PKCE verifier), kept with the pending
/// login in the store and never shown to the browser. Empty for ESIA,
/// whose token exchange makes its own state.
pub struct Authorization {
    pub url: String,
    pub handshake: String,
}

impl Authorization {
    /// A URL that needs nothing back.
    pub fn plain(url: String) -> Self {
        Self {
            url,
            handshake: String::new(),
        }
    }
}

/// Tokens that passed their checks.
pub struct Tokens {
    /// Sent to the person endpoint, never logged.
    pub access_token: String,
    /// Whom the tokens are about: ESIA's oid, or the broker's `sub`.
    pub subject: String,
    /// The id token says the account is confirmed (`is_tru` or level `PR`).
    pub confirmed: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<hidden>")
            .field("subject", &self.subject)
            .field("confirmed", &self.confirmed)
            .finish()
    }
}

/// What a successful login brings back.
#[derive(Debug, Clone)]
pub struct LoginResult {
    pub person: Person,
}

pub struct EsiaSettings {
    pub base: Url,
    pub client_id: String,
    pub scope: String,
    pub scope_org: String,
    pub redirect_uri: String,
    pub issuer: String,
    pub timeout: Duration,
    pub leeway_seconds: u64,
    /// The CAs ESIA's (or the broker's) https endpoints are checked against.
    pub trust: crate::config::tls::Trust,
}

/// What every provider holds: the settings, the HTTP client, the token
/// checks. Cloning shares the client and the trusted keys, so a key
/// reload reaches every holder.
#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<EsiaSettings>,
    pub http: Arc<BackChannel>,
    pub tokens: Arc<TokenChecks>,
}

impl Shared {
    pub fn new(settings: EsiaSettings, keys: TrustedKeys) -> Result<Self, String> {
        let http = BackChannel::new(settings.base.clone(), settings.timeout, &settings.trust)?;
        let tokens = TokenChecks::new(
            keys,
            settings.issuer.clone(),
            settings.client_id.clone(),
            settings.leeway_seconds,
        );
        Ok(Self {
            settings: Arc::new(settings),
            http: Arc::new(http),
            tokens: Arc::new(tokens),
        })
    }
}

/// What the providers' unit tests share: settings for a made-up ESIA on
/// a fixed clock, and reading an authorization URL back.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use chrono::TimeZone as _;

    use super::*;

    pub const CLIENT: &str = "DIARY";
    pub const SCOPE: &str = "openid fullname snils";
    pub const REDIRECT: &str = "https://diary.example/esia-gate/callback";

    /// `trusted` is any certificate (PEM) the token checks may hold.
    pub fn shared(trusted: &Path, scope_org: &str) -> Shared {
        let pem = std::fs::read(trusted).expect("certificate");
        let keys = TrustedKeys::from_certificates(&[pem]).expect("trusted keys");
        Shared::new(
            EsiaSettings {
                base: Url::parse("https://esia.example/").expect("url"),
                client_id: CLIENT.into(),
                scope: SCOPE.into(),
                scope_org: scope_org.into(),
                redirect_uri: REDIRECT.into(),
                issuer: "http://esia-portal1.test.gosuslugi.ru/".into(),
                timeout: Duration::from_secs(1),
                leeway_seconds: 60,
                trust: Default::default(),
            },
            keys,
        )
        .expect("shared")
    }

    /// 02.01.2019 10:00 Moscow time.
    pub fn moment() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(3 * 3600)
            .and_then(|z| z.with_ymd_and_hms(2019, 1, 2, 10, 0, 0).single())
            .expect("a valid moment")
    }

    /// The URL without its query, and the query's pairs in order.
    pub fn split(url: &str) -> (String, Vec<(String, String)>) {
        let mut u = Url::parse(url).expect("url");
        let q = u.query_pairs().into_owned().collect();
        u.set_query(None);
        (u.into(), q)
    }

    pub fn param(q: &[(String, String)], name: &str) -> String {
        q.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no `{name}` in the query"))
    }
}
