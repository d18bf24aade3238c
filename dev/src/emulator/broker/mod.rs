//! The emulator acting as a certified ESIA *broker* (Keycloak with an ESIA
//! plugin, a regional "шлюз ЕСИА"): plain OAuth2/OIDC with a static client
//! secret under `/broker/`, so the gateway can be tested in
//! `mode = "broker"`. The broker has done ESIA's login and consent itself;
//! the relying party only sees an ordinary authorization-code flow:
//!
//! * `GET /broker/.well-known/openid-configuration` — the discovery
//!   document; `GET /broker/jwks` — the signing key in force (one: after a
//!   rotation the old key is gone at once, the hardest case for a relying
//!   party);
//! * `GET /broker/auth` — login screen (one button per person); a PKCE
//!   challenge must be S256;
//! * `POST /broker/login` — redirect back with `code` and `state`;
//! * `POST /broker/token` — client secret (form or HTTP Basic), single-use
//!   code (and its PKCE verifier when the request had a challenge) →
//!   opaque access token and an RS256 `id_token` with the key's `kid` and
//!   the request's nonce;
//! * `GET /broker/userinfo` — the person's claims for a bearer token;
//! * `GET /broker/logout` — `post_logout_redirect_uri` on a registered origin;
//! * `POST /__emulator/broker/rotate-key` — a new signing key (the test's
//!   control).
//!
//! A child module of the emulator: it shares its persons, token key,
//! faults and page shell. Nothing here logs a SNILS, a secret or a token.
//!
//! Here: the broker's state and what its endpoints share; the endpoints
//! are in `login` (auth and login), `token`, `userinfo` and `logout`.

mod discovery;
mod login;
mod logout;
#[cfg(test)]
mod tests;
mod token;
mod userinfo;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use openssl::pkey::{PKey, Private};
use serde_json::json;

use crate::emulator::config::BrokerClient;
use crate::emulator::pages::plain_page;
use crate::emulator::state::Emulator;
use crate::emulator::token::json_response;
use crate::html::found;

pub(super) use discovery::{jwks, openid_configuration, rotate_key};
pub(super) use login::{auth, login};
pub(super) use logout::logout;
pub(super) use token::token;
pub(super) use userinfo::userinfo;

/// The title (and heading) of the broker's login screen.
pub const LOGIN_TITLE: &str = "Вход через Госуслуги (брокер, эмулятор)";

/// The broker's part of the emulator state.
pub(super) struct Broker {
    clients: HashMap<String, BrokerClient>,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, Code>>,
    tokens: Mutex<HashMap<String, Token>>,
    /// The id token signing key in force.
    key: Mutex<SigningKey>,
}

/// The broker's signing key and its `kid`.
struct SigningKey {
    kid: String,
    key: PKey<Private>,
    generation: u32,
}

/// Between `/broker/auth` and `/broker/login`.
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    /// PKCE (S256) challenge of the authorization request.
    code_challenge: Option<String>,
    created: Instant,
}

/// An issued authorization code.
struct Code {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    oid: u64,
    auth_time: i64,
    expires: Instant,
}

/// An issued (opaque) access token.
struct Token {
    oid: u64,
    expires: Instant,
}

impl Broker {
    /// The clients, and the first signing key (`kid` `broker-1`).
    pub(super) fn new(list: &[BrokerClient], key: PKey<Private>) -> anyhow::Result<Self> {
        let mut clients = HashMap::new();
        for c in list {
            if c.client_id.is_empty() || c.client_secret.is_empty() {
                anyhow::bail!(
                    "broker client {:?}: client_id and client_secret are required",
                    c.client_id
                );
            }
            if c.redirect_uris.is_empty() {
                anyhow::bail!("broker client {}: no redirect_uris registered", c.client_id);
            }
            for r in &c.redirect_uris {
                if url::Url::parse(r).is_err() {
                    anyhow::bail!(
                        "broker client {}: redirect_uri {r:?} is not a URL",
                        c.client_id
                    );
                }
            }
            if clients.insert(c.client_id.clone(), c.clone()).is_some() {
                anyhow::bail!("broker client {} is registered twice", c.client_id);
            }
        }
        Ok(Broker {
            clients,
            pending: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            key: Mutex::new(SigningKey {
                kid: "broker-1".into(),
                key,
                generation: 1,
            }),
        })
    }
}

/// The broker's `iss`: `{public_url}/broker`.
fn issuer(st: &Emulator) -> String {
    format!("{}/broker", st.cfg.public_url.trim_end_matches('/'))
}

fn json_error(status: StatusCode, error: &str, text: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": text}))
}

/// `redirect_uri?error=…&error_description=…&state=…`
fn error_back(redirect_uri: &str, error: &str, text: &str, state: Option<&str>) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return plain_page(StatusCode::BAD_REQUEST, "Ошибка входа", text);
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", text);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(u.as_str())
}
