//! `[esia]`: which way to ESIA (direct v2/v3, legacy, a broker), the
//! system's certificate and key or an external signer, and the broker's
//! endpoints and claim names.

use std::path::PathBuf;

use serde::Deserialize;

use super::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EsiaMode {
    V2,
    Legacy,
    Broker,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Esia {
    pub mode: EsiaMode,
    pub base_url: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default)]
    pub scope_org: String,
    /// The system's certificate registered at ESIA (direct mode; not used
    /// with a broker).
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// The key in a PEM file, for the in-process signer; not needed when an
    /// external `[esia.signer]` holds the key (a CryptoPro container).
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    pub trusted_certificates: Vec<PathBuf>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// CA certificates (PEM) for ESIA's (or the broker's) https endpoints,
    /// instead of `tls.ca_file`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for any ESIA back-channel call.
    #[serde(default = "default_esia_timeout")]
    pub timeout_seconds: u64,
    /// Allowed clock difference when checking token times.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// `mode = "broker"`: the broker's OAuth2/OIDC endpoints and secret.
    #[serde(default)]
    pub broker: Option<BrokerSettings>,
    /// Who signs the client secret: the in-process OpenSSL GOST engine
    /// (default), or an external command (CryptoPro `csptest`, an HSM tool).
    #[serde(default)]
    pub signer: Option<SignerSettings>,
}

fn default_esia_timeout() -> u64 {
    10
}
fn default_leeway() -> u64 {
    60
}

/// A certified ESIA broker (Keycloak with an ESIA plugin, a regional
/// "шлюз ЕСИА"): OpenID Connect with a static client secret; its endpoints
/// and keys come from its discovery document at `esia.issuer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// Where the user is sent at logout; default: the discovery document's
    /// `end_session_endpoint`.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// Extra parameters of the authorization request, e.g.
    /// `{ kc_idp_hint = "esia" }` for a Keycloak.
    #[serde(default)]
    pub authorize_params: std::collections::BTreeMap<String, String>,
    /// A file holding the client secret (first line); or the environment's
    /// `ESIA_GATE_ESIA__BROKER__CLIENT_SECRET`, which wins.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The secret from the environment (never from the file's text).
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    /// Which userinfo claims carry the person's data.
    #[serde(default)]
    pub claims: BrokerClaims,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerClaims {
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub snils: String,
    /// `YYYY-MM-DD` or `DD.MM.YYYY`.
    pub birth_date: String,
    /// A boolean: a confirmed ESIA account.
    pub trusted: String,
}

impl Default for BrokerClaims {
    fn default() -> Self {
        Self {
            last_name: "family_name".into(),
            first_name: "given_name".into(),
            middle_name: "middle_name".into(),
            snils: "snils".into(),
            birth_date: "birthdate".into(),
            trusted: "trusted".into(),
        }
    }
}

/// An external signer, exactly one of: a command (the bytes to sign on its
/// standard input, the signature on its standard output) or an HTTP
/// signing service (the bytes `POST`ed as the body, the signature as the
/// answer's body).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerSettings {
    /// Program and arguments, e.g. `["openssl", "dgst", "-engine", "gost",
    /// "-md_gost12_256", "-sign", "keys/client-key.pem"]`.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The signing service's URL (http or https).
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the bearer token the service wants (optional); the
    /// environment's `ESIA_GATE_ESIA__SIGNER__TOKEN` wins.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The token from the environment.
    #[serde(skip)]
    pub token: Option<Secret>,
    /// CA certificates (PEM) for an https service, instead of
    /// `tls.ca_file` (optional).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `raw` bytes (default) or `base64` text as the signer's output.
    #[serde(default = "default_signer_output")]
    pub output: String,
    /// Reverse the signature's bytes (CryptoPro `csptest` writes them in
    /// the opposite order to what ESIA expects).
    #[serde(default)]
    pub reverse: bool,
    #[serde(default = "default_signer_timeout")]
    pub timeout_seconds: u64,
}

fn default_signer_output() -> String {
    "raw".into()
}
fn default_signer_timeout() -> u64 {
    5
}
