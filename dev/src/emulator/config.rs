//! The emulator's settings: the registered systems (GOST certificate and
//! redirect URIs), the broker's relying parties, the token key, the persons
//! file and timings; read from TOML (unknown fields are errors) or built
//! for the demo.

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::DEFAULT_ISSUER;

fn default_issuer() -> String {
    DEFAULT_ISSUER.to_string()
}
fn default_code_ttl() -> u64 {
    60
}
fn default_tolerance() -> u64 {
    300
}

/// The emulator's settings (TOML or JSON; unknown fields are errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    /// Its own base URL, e.g. `http://127.0.0.1:8001` (used in links it returns).
    pub public_url: String,
    /// `iss` of the tokens.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    pub clients: Vec<RegisteredClient>,
    /// RSA private key (PKCS#8 PEM) for the RS256 tokens.
    pub token_key: PathBuf,
    /// The persons file (JSON array of [`Person`]).
    pub persons: PathBuf,
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
    #[serde(default = "default_tolerance")]
    pub timestamp_tolerance_seconds: u64,
    /// Relying parties of the `/broker/…` OAuth2/OIDC endpoints (none: the
    /// broker endpoints reject every client).
    #[serde(default)]
    pub broker_clients: Vec<BrokerClient>,
}

/// A system registered at the emulator ("technology portal").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredClient {
    /// The mnemonic, e.g. `DIARY`.
    pub client_id: String,
    /// The system's GOST certificate (PEM).
    pub certificate: PathBuf,
    /// Allowed `redirect_uri` values (exact matches). Logout accepts any
    /// `redirect_url` on the same origin as one of them.
    pub redirect_uris: Vec<String>,
}

/// A relying party of the emulator's OAuth2/OIDC *broker* endpoints
/// (`/broker/…`, see `mode = "broker"`): a static client secret instead of
/// GOST signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerClient {
    pub client_id: String,
    pub client_secret: String,
    /// Allowed `redirect_uri` values (exact matches).
    pub redirect_uris: Vec<String>,
}

impl EmulatorConfig {
    /// Read a TOML configuration file.
    pub fn load(path: &FsPath) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid emulator configuration", path.display()))
    }

    /// The configuration of the demo: one client `client_id` with the dev
    /// keys' GOST certificate, the dev RSA token key, default timings.
    pub fn demo(
        listen: SocketAddr,
        keys: &crate::keys::DevKeys,
        persons: PathBuf,
        client_id: &str,
        redirect_uris: Vec<String>,
    ) -> Self {
        EmulatorConfig {
            listen,
            public_url: format!("http://{listen}"),
            issuer: default_issuer(),
            clients: vec![RegisteredClient {
                client_id: client_id.to_string(),
                certificate: keys.client_cert.clone(),
                redirect_uris,
            }],
            token_key: keys.esia_token_key.clone(),
            persons,
            code_ttl_seconds: default_code_ttl(),
            timestamp_tolerance_seconds: default_tolerance(),
            broker_clients: Vec::new(),
        }
    }
}
