//! A sample legacy school diary: its own login form and session cookie
//! (`DIARYSESSID`), grade pages (HTML) and a grade API (JSON). It trusts the
//! gateway's identity headers (`X-Remote-User`, `X-Auth-Method`, …) exactly
//! as an unmodified diary behind a reverse proxy would, so it must only ever
//! be reachable through the gateway. Its `mode` makes it read requests the
//! way an ASP.NET or a PHP diary does (see [`DiaryMode`]).
//!
//! Its login can be made as demanding as real diaries are (RosarioSIS and
//! other PHP systems): with `login_token` the form is accepted only with
//! the pre-session cookie and the CSRF token its page handed out, and with
//! `relative_redirect` a successful login answers with a relative
//! `Location`, as PHP's `header('Location: …')` usually does.
//!
//! For tests: `GET /__diary/stats` counts login form submissions, and
//! `POST /__diary/login-delay?ms=N` makes every later submission wait `N`
//! ms before it is answered (so that guesses sent together are all in
//! flight at once). `POST /__diary/release?hold=NAME` lets the end of a
//! held `/legacy/large?hold=NAME` go (see `legacy_pages`).
//!
//! Here: the settings, the state and the router; the handlers are in
//! `pages`, `login`, `grades` and `test_hooks`, who is asking in
//! `visitor`, and the users and accounts files are read in `accounts`.

mod accounts;
mod grades;
mod login;
mod pages;
mod test_hooks;
#[cfg(test)]
mod tests;
mod visitor;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::routing::{any, get, post};
use serde::{Deserialize, Serialize};

pub use super::diary_mode::DiaryMode;

use accounts::{load_accounts, load_users};
use grades::{api_grades, grades};
use login::{login_form, login_submit, logout};
use pages::{echo, home, index_php, not_found};
use test_hooks::{health, set_login_delay, stats};

/// The diary's session cookie.
pub const SESSION_COOKIE: &str = "DIARYSESSID";
/// The cookie of a login page's pre-session (with `login_token`).
pub const PRE_SESSION_COOKIE: &str = "DIARYPRE";
/// The gateway's own cookie; the diary reports whether it leaked through.
pub const GATE_COOKIE: &str = "esia_gate_session";

/// The sample diary's settings (unknown fields are errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiaryConfig {
    pub listen: SocketAddr,
    /// `diary-users.csv`: `login,password,display_name,role`.
    pub users: PathBuf,
    /// `accounts.csv` (the gateway's directory), for classes and schools.
    #[serde(default)]
    pub accounts: Option<PathBuf>,
    /// How the diary reads requests: `"normal"` (the default), `"iis"`
    /// (like ASP.NET on IIS) or `"php"` (like a PHP diary); see
    /// [`DiaryMode`].
    #[serde(default)]
    pub mode: DiaryMode,
    /// The login form needs what its page hands out: `GET /login` sets a
    /// pre-session cookie (`DIARYPRE`) and writes a hidden `csrf` input; a
    /// `POST /login` without both, matching, answers exactly as a wrong
    /// password does.
    #[serde(default)]
    pub login_token: bool,
    /// A successful login redirects to `grades?welcome=1` (relative)
    /// instead of `/grades`.
    #[serde(default)]
    pub relative_redirect: bool,
}

impl DiaryConfig {
    /// Read a TOML configuration file.
    pub fn load(path: &FsPath) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid diary configuration", path.display()))
    }
}

#[derive(Debug, Clone)]
struct User {
    password: String,
    display_name: String,
    role: String,
}

#[derive(Debug, Clone, Default)]
struct AccountInfo {
    full_name: String,
    school: String,
    class: String,
}

struct Diary {
    mode: DiaryMode,
    login_token: bool,
    relative_redirect: bool,
    /// Pre-session id (`DIARYPRE`) → the CSRF token its login page showed.
    pre_sessions: Mutex<HashMap<String, String>>,
    users: HashMap<String, User>,
    accounts: HashMap<String, AccountInfo>,
    /// Session id → login.
    sessions: Mutex<HashMap<String, String>>,
    /// Login form submissions, right or wrong: what tests count to see how
    /// many password guesses got through the gateway (`/__diary/stats`).
    login_posts: AtomicU64,
    /// How long a login form submission waits before its answer, ms.
    login_delay_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Diary>;

/// Build the diary's router (for embedding); [`serve`] is the usual way.
pub fn router(cfg: DiaryConfig) -> anyhow::Result<Router> {
    let users = load_users(&cfg.users)?;
    let accounts = match &cfg.accounts {
        Some(p) => load_accounts(p)?,
        None => HashMap::new(),
    };
    let state: Shared = Arc::new(Diary {
        mode: cfg.mode,
        login_token: cfg.login_token,
        relative_redirect: cfg.relative_redirect,
        pre_sessions: Mutex::new(HashMap::new()),
        users,
        accounts,
        sessions: Mutex::new(HashMap::new()),
        login_posts: AtomicU64::new(0),
        login_delay_ms: AtomicU64::new(0),
    });
    let routes = Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", get(logout))
        .route("/grades", get(grades))
        .route("/api/grades", get(api_grades))
        .route("/echo", get(echo))
        .route("/legacy/cp1251", get(super::legacy_pages::cp1251))
        .route("/legacy/gzip", get(super::legacy_pages::gzip))
        .route("/legacy/chunked", get(super::legacy_pages::chunked))
        .route(
            "/legacy/no-body-close",
            get(super::legacy_pages::no_body_close),
        )
        .route("/legacy/brotli", get(super::legacy_pages::brotli))
        .route(
            "/legacy/brotli-always",
            get(super::legacy_pages::brotli_always),
        )
        .route("/legacy/fragment", get(super::legacy_pages::fragment))
        .route("/legacy/large", get(super::legacy_pages::large))
        .route("/__diary/release", post(super::legacy_pages::release))
        .route("/__diary/health", get(health))
        .route("/__diary/stats", get(stats))
        .route("/__diary/login-delay", post(set_login_delay));
    let routes = match cfg.mode {
        DiaryMode::Php => routes.route("/index.php", any(index_php)),
        DiaryMode::Normal | DiaryMode::Iis => routes,
    };
    let routes = routes.fallback(not_found).with_state(state);
    Ok(match cfg.mode {
        // The path and method are rewritten before the routes see them:
        // a layer on the routes themselves would run after routing.
        DiaryMode::Iis => Router::new()
            .fallback_service(routes)
            .layer(axum::middleware::map_request(iis_request)),
        DiaryMode::Normal | DiaryMode::Php => routes,
    })
}

/// An IIS diary's request as its routes see it: the path canonical, the
/// method resolved (see [`DiaryMode::route_path`], [`DiaryMode::route_method`]).
async fn iis_request(mut req: Request) -> Request {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    let path = DiaryMode::Iis.route_path(req.uri().path()).into_owned();
    let method = DiaryMode::Iis.route_method(req.method(), req.headers(), &path);
    let mut target = percent_encoding::utf8_percent_encode(&path, PATH).to_string();
    if let Some(q) = req.uri().query() {
        target.push('?');
        target.push_str(q);
    }
    if let Ok(uri) = target.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    *req.method_mut() = method;
    req
}

/// Serve on `listener` until the returned future is dropped.
pub async fn serve(cfg: DiaryConfig, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let app = router(cfg)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "sample diary listening");
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// Bind `cfg.listen` and [`serve`].
pub async fn run(cfg: DiaryConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    serve(cfg, listener).await
}
