//! From parsed settings to [`Resolved`]: every derived value computed and
//! every setting checked once, each error naming its key; the notes `check`
//! prints for valid but risky settings; the files a configuration names.

use std::path::{Path, PathBuf};

use url::Url;

use super::env::Environment;
use super::{
    ConfigError, EsiaMode, GATE_PREFIX, Settings, admin, connections, directory, help, linking,
    net, store,
};

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
    /// The keys the environment set (`config::env`), for `check` to list.
    pub from_env: Vec<&'static str>,
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

/// The file at `path`, with the process's environment overrides.
pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
    load_with_env(path, &Environment::from_process())
}

pub fn load_with_env(path: &Path, env: &Environment) -> Result<Resolved, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse_with_env(&text, &path.display().to_string(), base_dir, env)
}

/// A configuration's text alone, without the environment.
pub fn parse(text: &str, name: &str, base_dir: PathBuf) -> Result<Resolved, ConfigError> {
    parse_with_env(text, name, base_dir, &Environment::none())
}

pub fn parse_with_env(
    text: &str,
    name: &str,
    base_dir: PathBuf,
    env: &Environment,
) -> Result<Resolved, ConfigError> {
    let mut settings: Settings = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: name.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let from_env = super::env::apply(&mut settings, env)?;
    let mut r = validate(settings, name, base_dir)?;
    r.from_env = from_env;
    Ok(r)
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
            if let Some(l) = &b.logout_url {
                http_url("esia.broker.logout_url", l)?;
            }
            if b.client_secret_file.is_none() && b.client_secret.is_none() {
                return Err(bad(
                    "esia.broker.client_secret_file",
                    format!(
                        "required: a file holding the client secret (or the environment's {})",
                        super::env::var_name("esia.broker.client_secret")
                    ),
                ));
            }
            match settings.esia.issuer.as_deref() {
                None | Some("") => {
                    return Err(bad(
                        "esia.issuer",
                        "required in mode \"broker\": the broker's issuer, whose \
                         /.well-known/openid-configuration names its endpoints and keys"
                            .into(),
                    ));
                }
                Some(i) => {
                    http_url("esia.issuer", i)?;
                }
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
    // A broker's keys come from its discovery document.
    if settings.esia.trusted_certificates.is_empty() && settings.esia.mode != EsiaMode::Broker {
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
    help::validate(&settings.help).map_err(|(key, m)| bad(key, m))?;
    if !matches!(settings.log.format.as_str(), "json" | "text") {
        return Err(bad("log.format", "must be \"json\" or \"text\"".into()));
    }
    if tracing_subscriber::EnvFilter::try_new(&settings.log.level).is_err() {
        return Err(bad(
            "log.level",
            format!("`{}` is not a log level", settings.log.level),
        ));
    }
    if settings.store.backend == store::StoreBackend::Redis
        && settings.identity_headers.assertion_key.is_none()
    {
        return Err(bad(
            "identity_headers.assertion_key",
            "required with the Redis store: every instance must sign the diary's assertions \
             with the same Ed25519 key (openssl genpkey -algorithm ed25519 -out assertion-key.pem)"
                .into(),
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
        for (key, value) in [
            ("diary_login.url", Some(&d.url)),
            ("diary_login.page_url", d.page_url.as_ref()),
        ] {
            let Some(value) = value else { continue };
            let target = upstream_url
                .join(value)
                .map_err(|e| bad(key, format!("`{value}`: {e}")))?;
            if !matches!(target.scheme(), "http" | "https") {
                return Err(bad(key, "must be an http(s) URL or a path".into()));
            }
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
        from_env: Vec::new(),
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
    // A secret the environment gives needs no file.
    if let Some(b) = &s.esia.broker
        && let Some(f) = &b.client_secret_file
        && b.client_secret.is_none()
    {
        files.push(("esia.broker.client_secret_file", f));
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
    if let Some(t) = &s.admin.token_file
        && s.admin.token.is_none()
    {
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
    super::tls::check_trust(r)
}
