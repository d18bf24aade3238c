//! A strict ESIA emulator speaking the v2 authorization and v3 token
//! endpoints, the person REST API and logout, as described in
//! `esia-protocol.md`. It checks what real ESIA checks (registered client
//! and redirect_uri, timestamp, certificate hash, GOST client secret,
//! single-use short-lived codes, a new state at the token endpoint) and
//! answers with ESIA's error codes, so that the gateway's client can be
//! tested without the real test stand.
//!
//! With `broker_clients` configured it also plays a certified ESIA broker
//! (plain OAuth2/OIDC with a static client secret under `/broker/`, see
//! `broker`), for the gateway's `mode = "broker"`.
//!
//! It also accepts the deprecated legacy pair `GET /aas/oauth2/ac` +
//! `POST /aas/oauth2/te` (detached PKCS#7 client secret, no certificate
//! hash; see `legacy`), with the same login, consent and tokens.
//!
//! Persons come from a JSON file (see [`Person`]); tokens are RS256 JWTs
//! signed with a configured RSA key. `POST /__emulator/fault` makes an
//! endpoint misbehave for tests. Nothing here logs a SNILS or a token.
//!
//! Here: the router and the constants every endpoint shares. The endpoints
//! live in `authorize` (ac), `consent` (login and consent screens), `token`
//! (te), `person_api` (/rs/prns), `logout`, `faults`, and in `legacy` and
//! `broker` for the other flows; `config`, `persons`, `state`, `checks`
//! and `pages` hold what they share.

mod authorize;
mod broker;
mod checks;
mod config;
mod consent;
mod faults;
mod legacy;
mod logout;
mod pages;
mod person_api;
mod persons;
mod state;
#[cfg(test)]
mod tests;
mod token;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use authorize::ac;
use consent::{consent, login};
use faults::set_fault;
use logout::logout;
use pages::plain_page;
use person_api::{kid, kids, prns};
use state::{Emulator, Shared};
use token::te;

pub use broker::LOGIN_TITLE as BROKER_LOGIN_TITLE;
pub use config::{BrokerClient, EmulatorConfig, RegisteredClient};
pub use persons::{Kid, Person, load_persons};

/// The issuer of the ESIA test stand's tokens.
pub const DEFAULT_ISSUER: &str = "http://esia-portal1.test.gosuslugi.ru/";
/// The issuer the `wrong_issuer` fault puts into tokens.
pub const EVIL_ISSUER: &str = "http://evil.example/";
/// How long a login screen (between `ac` and the consent) stays usable.
const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
const TOKEN_LIFETIME: i64 = 3600;
const HANG: Duration = Duration::from_secs(120);

/// Build the emulator's router (for embedding); [`serve`] is the usual way.
pub fn router(cfg: EmulatorConfig) -> anyhow::Result<Router> {
    let state: Shared = Arc::new(Emulator::new(cfg)?);
    Ok(Router::new()
        .route("/aas/oauth2/v2/ac", get(ac))
        .route("/aas/oauth2/login", post(login))
        .route("/aas/oauth2/consent", post(consent))
        .route("/aas/oauth2/v3/te", post(te))
        .route("/aas/oauth2/ac", get(legacy::ac))
        .route("/aas/oauth2/te", post(legacy::te))
        .route("/rs/prns/:oid", get(prns))
        .route("/rs/prns/:oid/kids", get(kids))
        .route("/rs/prns/:oid/kids/:kid", get(kid))
        .route("/idp/ext/Logout", get(logout))
        .route(
            "/broker/.well-known/openid-configuration",
            get(broker::openid_configuration),
        )
        .route("/broker/jwks", get(broker::jwks))
        .route("/__emulator/broker/rotate-key", post(broker::rotate_key))
        .route("/broker/auth", get(broker::auth))
        .route("/broker/login", post(broker::login))
        .route("/broker/token", post(broker::token))
        .route("/broker/userinfo", get(broker::userinfo))
        .route("/broker/logout", get(broker::logout))
        .route("/__emulator/fault", post(set_fault))
        .route("/__emulator/health", get(health))
        .fallback(not_found)
        .with_state(state))
}

/// Serve on `listener` until the returned future is dropped.
pub async fn serve(cfg: EmulatorConfig, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let app = router(cfg)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "ESIA emulator listening");
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// Bind `cfg.listen` and [`serve`].
pub async fn run(cfg: EmulatorConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    serve(cfg, listener).await
}

async fn not_found() -> Response {
    plain_page(
        StatusCode::NOT_FOUND,
        "Страница не найдена",
        "Такой страницы в эмуляторе ЕСИА нет.",
    )
}

async fn health() -> &'static str {
    "ok"
}
