//! The gateway's one handle on ESIA: the provider `config::EsiaMode`
//! chose at start, behind the calls the login flow, the admin listener
//! and the reload thread make. Every failure is an [`EsiaError`] the
//! gateway turns into a Russian page and a metric.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, FixedOffset};

use super::error::EsiaError;
use super::provider::{Authorization, EsiaProvider, LoginResult, Shared};
use super::token::TokenChecks;

pub struct EsiaClient {
    /// Swapped whole when the system's key, certificate or signer is read
    /// again (SIGHUP); a login already under way keeps the one it began
    /// its call with.
    provider: ArcSwap<Arc<dyn EsiaProvider>>,
    /// What a new provider is built on (the same settings, client, checks).
    shared: Shared,
    /// The same checks the provider holds: a key rotation reaches it.
    tokens: Arc<TokenChecks>,
}

impl EsiaClient {
    /// `provider` built on `shared` (the trusted keys reload through it).
    pub fn new(provider: Arc<dyn EsiaProvider>, shared: &Shared) -> Self {
        Self {
            provider: ArcSwap::from_pointee(provider),
            shared: shared.clone(),
            tokens: shared.tokens.clone(),
        }
    }

    /// What the provider was built on, to build its replacement.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Put in a provider built on [`Self::shared`] (new key material).
    pub fn replace_provider(&self, provider: Arc<dyn EsiaProvider>) {
        self.provider.store(Arc::new(provider));
    }

    fn provider(&self) -> Arc<dyn EsiaProvider> {
        self.provider.load().as_ref().clone()
    }

    /// The URL the browser is sent to for this login's `state`, and what
    /// to keep for [`Self::complete_login`].
    pub async fn authorization_url(
        &self,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Authorization, EsiaError> {
        self.provider().authorization_url(state, now).await
    }

    /// Exchange the code, check the tokens, fetch the person; `handshake`
    /// as [`Self::authorization_url`] gave it.
    pub async fn complete_login(
        &self,
        code: &str,
        handshake: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<LoginResult, EsiaError> {
        let provider = self.provider();
        let tokens = provider.exchange_code(code, handshake, now).await?;
        let person = provider.person(&tokens).await?;
        Ok(LoginResult { person })
    }

    /// The provider's logout URL, back to `redirect_url`.
    pub fn logout_url(&self, redirect_url: &str) -> String {
        self.provider.load().logout_url(redirect_url)
    }

    /// Is ESIA (or the broker) reachable at all (for `/readyz`)?
    pub async fn reachable(&self) -> bool {
        self.provider().reachable().await
    }

    /// Replace the trusted token certificates (a key rotation); a bad set
    /// keeps the old one.
    pub fn reload_trusted(&self, pems: &[Vec<u8>]) -> Result<(), String> {
        self.tokens.reload(pems)
    }
}
