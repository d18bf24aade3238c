//! Typed settings: one TOML file, unknown keys are errors, every error names
//! the key and what is wrong. Knows nothing of Pingora.

pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

pub mod admin;
pub mod connections;
pub mod linking;
pub mod net;
pub mod policy;
pub mod redis_url;
pub mod reload;

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
    /// Caps and deadlines of the public listener's connections.
    #[serde(default)]
    pub connections: connections::ConnectionSettings,
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
    /// What tells a successful login at the diary's form
    /// (`redirect:/path`, `status:NNN`, `cookie:NAME`); default: the rule
    /// of `[diary_login]`, else a new `session_cookie`.
    #[serde(default)]
    pub login_success: Option<String>,
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

pub mod directory;
pub use directory::Directory;

/// A certified ESIA broker (Keycloak with an ESIA plugin, a regional
/// "шлюз ЕСИА"): plain OAuth2/OIDC with a static client secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    /// Where the user is sent at logout (optional `end_session_endpoint`).
    #[serde(default)]
    pub logout_url: Option<String>,
    /// A file holding the client secret (first line).
    pub client_secret_file: PathBuf,
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
    /// A file holding the bearer token the service wants (optional).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) for an https service (optional).
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

/// ESIA's token issuers for its own hosts; any other host must say.
fn known_issuer(base: &Url) -> Option<&'static str> {
    match base.host_str()? {
        "esia.gosuslugi.ru" => Some("http://esia.gosuslugi.ru/"),
        "esia-portal1.test.gosuslugi.ru" => Some("http://esia-portal1.test.gosuslugi.ru/"),
        _ => None,
    }
}

/// Settings after validation, with every derived value resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    pub public_url: Url,
    pub upstream_url: Url,
    pub esia_base: Url,
    pub issuer: String,
    pub redirect_uri: String,
    pub secure_cookies: bool,
    /// How a diary login is recognised, when manual linking is on.
    pub success_rule: Option<linking::SuccessRule>,
    /// How a login at the diary's own form is recognised as successful,
    /// before its session is learned (`upstream.login_success`, else the
    /// linking rule, else a new session cookie); `None` without a session
    /// cookie.
    pub login_rule: Option<linking::SuccessRule>,
    /// Directory of the configuration file: relative paths are resolved
    /// against it.
    pub base_dir: PathBuf,
}

impl Resolved {
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&text, &path.display().to_string(), base_dir)
}

pub fn parse(text: &str, name: &str, base_dir: PathBuf) -> Result<Resolved, ConfigError> {
    let settings: Settings = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: name.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate(settings, name, base_dir)
}

fn validate(settings: Settings, name: &str, base_dir: PathBuf) -> Result<Resolved, ConfigError> {
    let bad = |key: &str, message: String| ConfigError::Invalid {
        path: name.to_string(),
        key: key.to_string(),
        message,
    };
    let http_url = |key: &str, v: &str| -> Result<Url, ConfigError> {
        let u = Url::parse(v).map_err(|e| bad(key, format!("`{v}` is not a URL: {e}")))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(bad(
                key,
                format!("`{v}` must be an http:// or https:// URL"),
            ));
        }
        Ok(u)
    };
    let public_url = http_url("gateway.public_url", &settings.gateway.public_url)?;
    if public_url.path() != "/" || public_url.query().is_some() {
        return Err(bad(
            "gateway.public_url",
            "must be an origin only (scheme, host, port), without a path".into(),
        ));
    }
    let upstream_url = http_url("upstream.url", &settings.upstream.url)?;
    if let Some(p) = &settings.upstream.logout_path
        && (!p.starts_with('/') || p.starts_with(GATE_PREFIX))
    {
        return Err(bad(
            "upstream.logout_path",
            format!(
                "must be a path of the diary starting with `/` (not under {}), got {p:?}",
                GATE_PREFIX
            ),
        ));
    }
    let esia_base = http_url("esia.base_url", &settings.esia.base_url)?;
    if settings.listen.public == settings.listen.admin {
        return Err(bad(
            "listen.admin",
            "must differ from listen.public: metrics never go on the public port".into(),
        ));
    }
    match settings.esia.mode {
        EsiaMode::V2 => {
            if settings.esia.certificate.is_none() {
                return Err(bad(
                    "esia.certificate",
                    "required in mode \"v2\": the system's certificate registered at ESIA".into(),
                ));
            }
        }
        EsiaMode::Broker => {
            let Some(b) = &settings.esia.broker else {
                return Err(bad(
                    "esia.broker",
                    "mode \"broker\" needs an [esia.broker] section".into(),
                ));
            };
            http_url("esia.broker.authorize_url", &b.authorize_url)?;
            http_url("esia.broker.token_url", &b.token_url)?;
            http_url("esia.broker.userinfo_url", &b.userinfo_url)?;
            if let Some(l) = &b.logout_url {
                http_url("esia.broker.logout_url", l)?;
            }
            if settings.esia.issuer.as_deref().is_none_or(str::is_empty) {
                return Err(bad(
                    "esia.issuer",
                    "required in mode \"broker\": the broker's token issuer".into(),
                ));
            }
        }
        EsiaMode::Legacy => {
            if settings.esia.certificate.is_none() || settings.esia.private_key.is_none() {
                return Err(bad(
                    "esia.private_key",
                    "mode \"legacy\" signs PKCS#7 in process: certificate and private_key are required"
                        .into(),
                ));
            }
            if settings.esia.signer.is_some() {
                return Err(bad(
                    "esia.signer",
                    "an external signer is for mode \"v2\" only".into(),
                ));
            }
        }
    }
    let cid = &settings.esia.client_id;
    if cid.is_empty() || cid.chars().any(|c| c.is_whitespace()) {
        return Err(bad(
            "esia.client_id",
            "must be the system's mnemonic, without spaces".into(),
        ));
    }
    if settings.esia.scope.split_whitespace().next().is_none() {
        return Err(bad("esia.scope", "must name at least one scope".into()));
    }
    if settings.esia.mode == EsiaMode::V2
        && settings.esia.signer.is_none()
        && settings.esia.private_key.is_none()
    {
        return Err(bad(
            "esia.private_key",
            "required (or an external signer in [esia.signer])".into(),
        ));
    }
    if let Some(sg) = &settings.esia.signer {
        match (&sg.command, &sg.url) {
            (Some(c), None) => {
                if c.first().is_none_or(|c| c.trim().is_empty()) {
                    return Err(bad("esia.signer.command", "must name a program".into()));
                }
            }
            (None, Some(u)) => {
                http_url("esia.signer.url", u)?;
            }
            _ => {
                return Err(bad(
                    "esia.signer",
                    "needs exactly one of `command` (a program) or `url` (a signing service)"
                        .into(),
                ));
            }
        }
        for (key, file) in [
            ("esia.signer.token_file", &sg.token_file),
            ("esia.signer.ca_file", &sg.ca_file),
        ] {
            if let Some(f) = file
                && sg.url.is_none()
            {
                return Err(bad(
                    key,
                    format!(
                        "is for a signing service (`url`), not a command: {}",
                        f.display()
                    ),
                ));
            }
        }
        if !matches!(sg.output.as_str(), "raw" | "base64") {
            return Err(bad(
                "esia.signer.output",
                "must be \"raw\" or \"base64\"".into(),
            ));
        }
    }
    if settings.esia.trusted_certificates.is_empty() {
        return Err(bad(
            "esia.trusted_certificates",
            "must list at least one ESIA token signing certificate".into(),
        ));
    }
    let issuer = match (&settings.esia.issuer, known_issuer(&esia_base)) {
        (Some(i), _) if !i.is_empty() => i.clone(),
        (_, Some(k)) => k.to_string(),
        _ => {
            return Err(bad(
                "esia.issuer",
                format!(
                    "required: `{}` is not one of ESIA's own hosts, so the expected token issuer is unknown",
                    settings.esia.base_url
                ),
            ));
        }
    };
    let redirect_uri = match &settings.esia.redirect_uri {
        Some(r) => http_url("esia.redirect_uri", r)?.to_string(),
        None => format!(
            "{}{GATE_PREFIX}/callback",
            public_url.as_str().trim_end_matches('/')
        ),
    };
    let cookie = &settings.session.cookie_name;
    if cookie.is_empty()
        || !cookie
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad(
            "session.cookie_name",
            "use letters, digits, `_` and `-` only".into(),
        ));
    }
    // Browsers drop `__Host-`/`__Secure-` cookies that are not Secure, and
    // the gateway marks cookies Secure only on https: on http every login
    // would end in a loop.
    if (cookie.starts_with("__Host-") || cookie.starts_with("__Secure-"))
        && public_url.scheme() != "https"
    {
        return Err(bad(
            "session.cookie_name",
            format!("{cookie:?}: the __Host-/__Secure- prefixes need an https gateway.public_url"),
        ));
    }
    for (key, h) in [
        ("identity_headers.user", &settings.identity_headers.user),
        ("identity_headers.oid", &settings.identity_headers.oid),
        ("identity_headers.method", &settings.identity_headers.method),
        (
            "identity_headers.trusted",
            &settings.identity_headers.trusted,
        ),
        ("identity_headers.role", &settings.identity_headers.role),
        (
            "identity_headers.assertion",
            &settings.identity_headers.assertion,
        ),
        ("identity_headers.child", &settings.identity_headers.child),
    ] {
        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            return Err(bad(key, format!("`{h}` is not a valid header name")));
        }
    }
    directory::validate(&settings.directory).map_err(|(key, m)| bad(key, m))?;
    admin::validate(&settings.admin, settings.listen.admin).map_err(|(key, m)| bad(key, m))?;
    connections::validate(&settings.connections).map_err(|(key, m)| bad(key, m))?;
    if !matches!(settings.log.format.as_str(), "json" | "text") {
        return Err(bad("log.format", "must be \"json\" or \"text\"".into()));
    }
    if tracing_subscriber::EnvFilter::try_new(&settings.log.level).is_err() {
        return Err(bad(
            "log.level",
            format!("`{}` is not a log level", settings.log.level),
        ));
    }
    if let Some((key, message)) = settings.store.problems().into_iter().next() {
        return Err(bad(key, message));
    }
    for p in &settings.gateway.trusted_proxies {
        net::Net::parse(p).map_err(|m| bad("gateway.trusted_proxies", m))?;
    }
    let mut success_rule = None;
    if let Some(d) = &settings.diary_login {
        success_rule = Some(
            linking::SuccessRule::parse(&d.success).map_err(|m| bad("diary_login.success", m))?,
        );
        let target = upstream_url
            .join(&d.url)
            .map_err(|e| bad("diary_login.url", format!("`{}`: {e}", d.url)))?;
        if !matches!(target.scheme(), "http" | "https") {
            return Err(bad(
                "diary_login.url",
                "must be an http(s) URL or a path".into(),
            ));
        }
        if d.max_failures == 0 || d.window_seconds == 0 {
            return Err(bad(
                "diary_login.max_failures",
                "max_failures and window_seconds must be above zero".into(),
            ));
        }
    }
    let login_rule = match (
        &settings.upstream.login_success,
        &settings.upstream.session_cookie,
    ) {
        (Some(r), Some(_)) => {
            Some(linking::SuccessRule::parse(r).map_err(|m| bad("upstream.login_success", m))?)
        }
        (Some(_), None) => {
            return Err(bad(
                "upstream.login_success",
                "needs upstream.session_cookie: the session a successful login earns".into(),
            ));
        }
        (None, Some(cookie)) => Some(
            success_rule
                .clone()
                .unwrap_or_else(|| linking::SuccessRule::Cookie(cookie.clone())),
        ),
        (None, None) => None,
    };
    if settings.policy.is_some() && settings.upstream.session_cookie.is_none() {
        return Err(bad(
            "upstream.session_cookie",
            "required with a [policy]: without the diary's session cookie the gateway cannot \
             tell a password session from an anonymous visitor"
                .into(),
        ));
    }
    if settings.upstream.session_lifetime_seconds == 0 {
        return Err(bad(
            "upstream.session_lifetime_seconds",
            "must be above zero (the diary's own session lifetime, in seconds)".into(),
        ));
    }
    let secure_cookies = public_url.scheme() == "https";
    Ok(Resolved {
        settings,
        public_url,
        upstream_url,
        esia_base,
        issuer,
        redirect_uri,
        secure_cookies,
        success_rule,
        login_rule,
        base_dir,
    })
}

/// Check that every file the configuration names exists and is readable.
/// Valid settings that still deserve an operator's second look, each
/// naming its key: `esia-gate check` prints them, `run` logs them.
pub fn advice(r: &Resolved) -> Vec<String> {
    let s = &r.settings;
    let mut out = Vec::new();
    if s.upstream.logout_path.is_none() {
        out.push(
            "upstream.logout_path is not set: the diary's own «Выйти» ends only the diary's \
             session, not the gateway's (a shared computer stays logged in)"
                .to_string(),
        );
    }
    if s.upstream.session_cookie.is_none() {
        out.push(
            "upstream.session_cookie is not set: logout cannot clear the diary's own cookie, and \
             a policy cannot recognise password sessions"
                .to_string(),
        );
    }
    if s.session.idle_seconds == 0 {
        out.push(format!(
            "session.idle_seconds = 0: an unused session stays open for session.ttl_seconds ({} s)",
            s.session.ttl_seconds
        ));
    }
    if r.secure_cookies && s.gateway.trusted_proxies.is_empty() && s.connections.max_per_client > 0
    {
        // https outside, plain HTTP here: something in front ends TLS, and
        // every connection it makes comes from its one address.
        out.push(format!(
            "gateway.trusted_proxies is empty behind an https public_url: the TLS terminator or \
             balancer in front counts as one client, capped at connections.max_per_client = {} \
             connections; list its address in gateway.trusted_proxies",
            s.connections.max_per_client
        ));
    }
    if r.secure_cookies
        && !s.session.cookie_name.starts_with("__Host-")
        && !s.session.cookie_name.starts_with("__Secure-")
    {
        out.push(format!(
            "session.cookie_name: behind https \"__Host-{}\" keeps other subdomains from setting it",
            s.session.cookie_name
        ));
    }
    out
}

pub fn check_files(r: &Resolved) -> Result<(), ConfigError> {
    let s = &r.settings;
    let mut files = Vec::new();
    if let Some(c) = &s.esia.certificate {
        files.push(("esia.certificate", c));
    }
    if let Some(b) = &s.esia.broker {
        files.push(("esia.broker.client_secret_file", &b.client_secret_file));
    }
    if let Some(k) = &s.esia.private_key {
        files.push(("esia.private_key", k));
    }
    if let Some(csv) = &s.directory.csv {
        files.push(("directory.csv", csv));
    }
    if let Some(pg) = &s.directory.postgres {
        if let Some(f) = &pg.url_file {
            files.push(("directory.postgres.url_file", f));
        }
        if let Some(f) = &pg.ca_file {
            files.push(("directory.postgres.ca_file", f));
        }
    }
    for c in &s.esia.trusted_certificates {
        files.push(("esia.trusted_certificates", c));
    }
    if let Some(k) = &s.identity_headers.assertion_key {
        files.push(("identity_headers.assertion_key", k));
    }
    if let Some(t) = &s.admin.token_file {
        files.push(("admin.token_file", t));
    }
    for (key, p) in files {
        let full = r.path(p);
        if let Err(e) = std::fs::metadata(&full) {
            return Err(ConfigError::Invalid {
                path: "configuration".into(),
                key: key.into(),
                message: format!("cannot read {}: {e}", full.display()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[listen]
public = "127.0.0.1:8080"
admin  = "127.0.0.1:9090"
[upstream]
url = "http://127.0.0.1:8000"
[gateway]
public_url = "http://127.0.0.1:8080"
[esia]
mode = "v2"
base_url = "https://esia-portal1.test.gosuslugi.ru"
client_id = "DIARY"
scope = "openid fullname snils birthdate"
certificate = "keys/client-cert.pem"
private_key = "keys/client-key.pem"
trusted_certificates = ["keys/esia.pem"]
[directory]
csv = "data/accounts.csv"
"#;

    fn parse_str(s: &str) -> Result<Resolved, ConfigError> {
        parse(s, "gateway.toml", PathBuf::from("/etc/esia-gate"))
    }

    #[test]
    fn the_documented_minimum_loads_with_defaults() {
        let r = parse_str(GOOD).expect("valid");
        assert_eq!(r.issuer, "http://esia-portal1.test.gosuslugi.ru/");
        assert_eq!(r.redirect_uri, "http://127.0.0.1:8080/esia-gate/callback");
        assert!(!r.secure_cookies);
        assert_eq!(r.settings.identity_headers.user, "X-Remote-User");
        assert_eq!(
            r.path(Path::new("keys/esia.pem")),
            PathBuf::from("/etc/esia-gate/keys/esia.pem")
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let e = parse_str(&GOOD.replace("[directory]", "[directory]\ncvs = \"x\""))
            .expect_err("unknown key");
        assert!(e.to_string().contains("cvs"), "{e}");
    }

    #[test]
    fn an_unknown_esia_host_needs_an_issuer() {
        let text = GOOD.replace(
            "https://esia-portal1.test.gosuslugi.ru",
            "http://127.0.0.1:8001",
        );
        let e = parse_str(&text).expect_err("issuer required");
        assert!(e.to_string().contains("esia.issuer"), "{e}");
        let ok = parse_str(
            &text
                .replace("[directory]", "[directory]\n")
                .replace("mode = \"v2\"", "mode = \"v2\"\nissuer = \"http://x/\""),
        )
        .expect("with issuer");
        assert_eq!(ok.issuer, "http://x/");
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let r = parse_str(&GOOD.replace(
            "public_url = \"http://127.0.0.1:8080\"",
            "public_url = \"https://dnevnik.example.ru\"",
        ))
        .expect("valid");
        assert!(r.secure_cookies);
    }

    #[test]
    fn a_host_prefixed_cookie_needs_https() {
        let host_cookie = "\n[session]\ncookie_name = \"__Host-esia_gate_session\"\n";
        let https = GOOD.replace(
            "public_url = \"http://127.0.0.1:8080\"",
            "public_url = \"https://dnevnik.example.ru\"",
        );
        parse_str(&format!("{https}{host_cookie}")).expect("https: valid");
        let e = parse_str(&format!("{GOOD}{host_cookie}")).expect_err("http: refused");
        assert!(e.to_string().contains("session.cookie_name"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (from, to, key) in [
            (
                "admin  = \"127.0.0.1:9090\"",
                "admin = \"127.0.0.1:8080\"",
                "listen.admin",
            ),
            ("mode = \"v2\"", "mode = \"broker\"", "esia.broker"),
            (
                "url = \"http://127.0.0.1:8000\"",
                "url = \"ftp://x\"",
                "upstream.url",
            ),
            (
                "client_id = \"DIARY\"",
                "client_id = \"\"",
                "esia.client_id",
            ),
        ] {
            let e = parse_str(&GOOD.replace(from, to)).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
