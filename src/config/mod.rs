//! Typed settings: one TOML file, unknown keys are errors, every error names
//! the key and what is wrong. Knows nothing of Pingora.

pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

pub mod admin;
pub mod connections;
pub mod env;
mod esia;
pub mod help;
pub mod linking;
pub mod net;
pub mod policy;
pub mod redis_url;
pub mod reload;
pub mod secret;
pub mod tls;
mod validate;

pub use env::Environment;
pub use esia::{BrokerClaims, BrokerSettings, Esia, EsiaMode, SignerSettings};
pub use secret::Secret;
pub use validate::{Resolved, advice, check_files, load, load_with_env, parse, parse_with_env};

/// The reserved path prefix of the gateway's own pages.
pub const GATE_PREFIX: &str = "/esia-gate";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Listen,
    pub upstream: Upstream,
    pub gateway: Gateway,
    pub esia: Esia,
    pub directory: Directory,
    #[serde(default)]
    pub identity_headers: IdentityHeaders,
    #[serde(default)]
    pub session: Session,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub store: store::StoreSettings,
    /// Manual linking by diary login and password; disabled when absent.
    #[serde(default)]
    pub diary_login: Option<linking::DiaryLogin>,
    /// The region's dated policy; without it every diary route needs a
    /// gateway session.
    #[serde(default)]
    pub policy: Option<policy::PolicySettings>,
    /// Who may read the admin listener, and how reports show time.
    #[serde(default)]
    pub admin: admin::AdminSettings,
    /// Parents' children: whether to ask which child at login.
    #[serde(default)]
    pub children: Children,
    /// Caps and deadlines of the public listener's connections.
    #[serde(default)]
    pub connections: connections::ConnectionSettings,
    /// Who helps a person who is stuck: shown at the foot of every page of
    /// the gateway.
    #[serde(default)]
    pub help: help::HelpSettings,
    /// Which CAs the outgoing TLS connections trust.
    #[serde(default)]
    pub tls: tls::TlsSettings,
}

/// `[children]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Children {
    /// Ask a parent with several children which one to open at login, and
    /// name the chosen one in `X-Child-User` (and the assertion). Only for
    /// a diary that reads that header: an unmodified diary would show the
    /// parent's own page under the child's name. Off by default: a parent
    /// opens their own account and reaches the children page from the bar
    /// at the top of the diary's pages.
    #[serde(default)]
    pub choose_at_login: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    /// The Unix socket a new process (`run --upgrade`) takes the listeners
    /// over through; relative to the configuration file. Default:
    /// `esia-gate-upgrade.sock` beside it.
    #[serde(default)]
    pub upgrade_sock: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub url: String,
    /// Seconds to wait for the diary to accept a connection.
    #[serde(default = "default_upstream_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// Seconds to wait for the diary's answer.
    #[serde(default = "default_upstream_read_timeout")]
    pub read_timeout_seconds: u64,
    /// CA certificates (PEM) for an https diary, instead of `tls.ca_file`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The diary's own session cookie: cleared at logout, and the key the
    /// gateway learns password sessions by.
    #[serde(default)]
    pub session_cookie: Option<String>,
    /// The diary's own «Выйти» (a path such as `/logout`, or with a query
    /// such as `/index.php?modfunc=logout`): when a person with a gateway
    /// session follows it, the gateway session ends too and the diary's
    /// redirect goes on through ESIA's logout.
    #[serde(default)]
    pub logout_path: Option<String>,
    /// How long the diary keeps a session (seconds): a password session
    /// the gateway saw log in is remembered this long, in the store.
    #[serde(default = "default_diary_session_lifetime")]
    pub session_lifetime_seconds: u64,
    /// How often the diary's host name is looked up again, seconds (the
    /// address in use changes without a restart; 0 = never).
    #[serde(default = "default_dns_refresh")]
    pub dns_refresh_seconds: u64,
    /// What tells a successful login at the diary's form
    /// (`redirect:/path`, `status:NNN`, `cookie:NAME`); default: the rule
    /// of `[diary_login]`, else a new `session_cookie`.
    #[serde(default)]
    pub login_success: Option<String>,
}

fn default_dns_refresh() -> u64 {
    30
}

fn default_diary_session_lifetime() -> u64 {
    24 * 3600
}

fn default_upstream_connect_timeout() -> u64 {
    5
}
fn default_upstream_read_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    pub public_url: String,
    /// Where to go after login when no (valid) return target was given.
    #[serde(default = "default_landing")]
    pub default_return: String,
    /// Load balancers (addresses or CIDR blocks) allowed to name the client
    /// in `X-Forwarded-For`; empty: the peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

fn default_landing() -> String {
    "/".into()
}

pub mod directory;
pub use directory::Directory;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityHeaders {
    #[serde(default = "h_user")]
    pub user: String,
    #[serde(default = "h_oid")]
    pub oid: String,
    #[serde(default = "h_method")]
    pub method: String,
    #[serde(default = "h_trusted")]
    pub trusted: String,
    #[serde(default = "h_role")]
    pub role: String,
    #[serde(default = "h_assertion")]
    pub assertion: String,
    /// The chosen child's login, when a parent looks at a child.
    #[serde(default = "h_child")]
    pub child: String,
    /// Ed25519 private key (PKCS#8 PEM) signing the assertion JWT; a fresh key per start
    /// when absent (the diary then fetches the public key from the JWKS URL).
    #[serde(default)]
    pub assertion_key: Option<PathBuf>,
    /// Keys still published in the JWKS during a rotation (PEM, private or
    /// public), so that a diary holding the old key keeps verifying.
    #[serde(default)]
    pub assertion_previous_keys: Vec<PathBuf>,
    #[serde(default = "default_assertion_ttl")]
    pub assertion_ttl_seconds: u64,
}

fn h_user() -> String {
    "X-Remote-User".into()
}
fn h_oid() -> String {
    "X-Esia-Oid".into()
}
fn h_method() -> String {
    "X-Auth-Method".into()
}
fn h_trusted() -> String {
    "X-Esia-Trusted".into()
}
fn h_role() -> String {
    "X-Remote-Role".into()
}
fn h_child() -> String {
    "X-Child-User".into()
}
fn h_assertion() -> String {
    "X-Esia-Assertion".into()
}
fn default_assertion_ttl() -> u64 {
    60
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: h_user(),
            oid: h_oid(),
            method: h_method(),
            trusted: h_trusted(),
            role: h_role(),
            assertion: h_assertion(),
            child: h_child(),
            assertion_key: None,
            assertion_previous_keys: Vec::new(),
            assertion_ttl_seconds: default_assertion_ttl(),
        }
    }
}

impl IdentityHeaders {
    pub fn all(&self) -> [&str; 7] {
        [
            &self.user,
            &self.child,
            &self.oid,
            &self.method,
            &self.trusted,
            &self.role,
            &self.assertion,
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    #[serde(default = "default_cookie")]
    pub cookie_name: String,
    /// Lifetime of a gateway session from its login (not extended by use:
    /// on a shared school computer a session must end by itself).
    #[serde(default = "default_session_ttl")]
    pub ttl_seconds: u64,
    /// How long a started login may take (ESIA login + consent).
    #[serde(default = "default_login_ttl")]
    pub login_ttl_seconds: u64,
    /// A session unused this long ends (0: only `ttl_seconds` ends it).
    #[serde(default = "default_idle")]
    pub idle_seconds: u64,
    /// Keep the session cookie across browser restarts (for its lifetime);
    /// by default it is a browser-session cookie, so closing the browser
    /// of a shared computer logs the person out.
    #[serde(default)]
    pub persistent: bool,
}

fn default_idle() -> u64 {
    30 * 60
}

fn default_cookie() -> String {
    "esia_gate_session".into()
}
fn default_session_ttl() -> u64 {
    8 * 3600
}
fn default_login_ttl() -> u64 {
    600
}

impl Default for Session {
    fn default() -> Self {
        Self {
            cookie_name: default_cookie(),
            ttl_seconds: default_session_ttl(),
            login_ttl_seconds: default_login_ttl(),
            idle_seconds: default_idle(),
            persistent: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug`, `trace`; `RUST_LOG` wins when set.
    #[serde(default = "default_level")]
    pub level: String,
    /// `json` (default) or `text`.
    #[serde(default = "default_format")]
    pub format: String,
    /// The audit log (one JSON line per authentication event), appended
    /// to; relative to the configuration file. Stdout when absent.
    #[serde(default)]
    pub audit_file: Option<PathBuf>,
}

fn default_level() -> String {
    "info".into()
}
fn default_format() -> String {
    "json".into()
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: default_format(),
            audit_file: None,
        }
    }
}

#[cfg(test)]
mod tests;
