//! A sample legacy school diary: its own login form and session cookie
//! (`DIARYSESSID`), grade pages (HTML) and a grade API (JSON). It trusts the
//! gateway's identity headers (`X-Remote-User`, `X-Auth-Method`, …) exactly
//! as an unmodified diary behind a reverse proxy would, so it must only ever
//! be reachable through the gateway. Its `mode` makes it read requests the
//! way an ASP.NET or a PHP diary does (see [`DiaryMode`]).
//!
//! For tests: `GET /__diary/stats` counts login form submissions, and
//! `POST /__diary/login-delay?ms=N` makes every later submission wait `N`
//! ms before it is answered (so that guesses sent together are all in
//! flight at once).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use super::diary_mode::DiaryMode;
use super::diary_mode::Field;
use super::html::{document, esc, form_map, found, respond};

/// The diary's session cookie.
pub const SESSION_COOKIE: &str = "DIARYSESSID";
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

fn load_users(path: &FsPath) -> anyhow::Result<HashMap<String, User>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the diary users {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| -> anyhow::Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (login, password, display, role) = (
        col("login")?,
        col("password")?,
        col("display_name")?,
        col("role")?,
    );
    let mut users = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let field = |c: usize| rec.get(c).unwrap_or_default().trim().to_string();
        let l = field(login);
        if l.is_empty() {
            bail!("{}: row {}: empty login", path.display(), i + 2);
        }
        users.insert(
            l,
            User {
                password: rec.get(password).unwrap_or_default().to_string(),
                display_name: field(display),
                role: field(role),
            },
        );
    }
    Ok(users)
}

fn load_accounts(path: &FsPath) -> anyhow::Result<HashMap<String, AccountInfo>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the accounts {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let Some(login) = col("login") else {
        bail!("{}: no column login", path.display());
    };
    let mut out = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let field = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let full_name = [
            field(col("last_name")),
            field(col("first_name")),
            field(col("middle_name")),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
        out.insert(
            field(Some(login)),
            AccountInfo {
                full_name,
                school: field(col("school")),
                class: field(col("class")),
            },
        );
    }
    Ok(out)
}

/// Build the diary's router (for embedding); [`serve`] is the usual way.
pub fn router(cfg: DiaryConfig) -> anyhow::Result<Router> {
    let users = load_users(&cfg.users)?;
    let accounts = match &cfg.accounts {
        Some(p) => load_accounts(p)?,
        None => HashMap::new(),
    };
    let state: Shared = Arc::new(Diary {
        mode: cfg.mode,
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

// ---------------------------------------------------------------------------
// Who is asking

#[derive(Debug, Clone, PartialEq, Eq)]
struct Visitor {
    login: String,
    /// `esia` or `password`.
    via: &'static str,
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Names and values of every cookie in every `Cookie` header.
fn cookies(h: &HeaderMap) -> Vec<(String, String)> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let n = n.trim();
            (!n.is_empty()).then(|| (n.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn session_id(mode: DiaryMode, h: &HeaderMap) -> Option<String> {
    mode.cookie(&cookies(h), SESSION_COOKIE)
}

fn visitor(d: &Diary, h: &HeaderMap) -> Option<Visitor> {
    if let Some(user) = header_str(h, "x-remote-user") {
        let via = match header_str(h, "x-auth-method") {
            Some(m) if m.eq_ignore_ascii_case("password") => "password",
            _ => "esia",
        };
        return Some(Visitor {
            login: user.to_string(),
            via,
        });
    }
    let sid = session_id(d.mode, h)?;
    let login = lock(&d.sessions).get(&sid).cloned()?;
    Some(Visitor {
        login,
        via: "password",
    })
}

impl Diary {
    fn display_name(&self, login: &str) -> String {
        if let Some(u) = self.users.get(login).filter(|u| !u.display_name.is_empty()) {
            return u.display_name.clone();
        }
        if let Some(a) = self.accounts.get(login).filter(|a| !a.full_name.is_empty()) {
            return a.full_name.clone();
        }
        login.to_string()
    }
}

// ---------------------------------------------------------------------------
// Grades: deterministic per login

const SUBJECTS: &[&str] = &[
    "Русский язык",
    "Литература",
    "Математика",
    "История",
    "Окружающий мир / Биология",
    "Английский язык",
    "Физическая культура",
];

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn grades_for(login: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut x = fnv1a(login) | 1;
    let mut next = move || {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    SUBJECTS
        .iter()
        .map(|s| {
            let n = 3 + (next() % 4) as usize;
            let marks = (0..n)
                .map(|_| match next() % 10 {
                    0 => 3,
                    1..=4 => 4,
                    5..=8 => 5,
                    _ => {
                        if next() % 3 == 0 {
                            2
                        } else {
                            3
                        }
                    }
                })
                .collect();
            (*s, marks)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Pages

const CSS: &str = "*{box-sizing:border-box}\
body{margin:0;font-family:Georgia,'PT Serif','Times New Roman',serif;background:#f4f1e8;color:#2b2b2b;line-height:1.45}\
header{background:#2f5d50;color:#fff;padding:10px 16px;display:flex;justify-content:space-between;align-items:center;flex-wrap:wrap;gap:8px}\
header a{color:#fff}.brand{font-weight:bold;font-size:19px;text-decoration:none}\
main{max-width:760px;margin:16px auto;padding:0 12px}\
.card{background:#fffdf7;border:1px solid #d9d2bf;border-radius:6px;padding:16px;margin-bottom:14px}\
h1{font-size:21px;margin:0 0 12px}h2{font-size:17px;margin:0 0 8px}\
a{color:#2f5d50}\
label{display:block;margin:10px 0 4px}\
input[type=text],input[type=password]{width:100%;padding:10px;font-size:16px;border:1px solid #b9b09a;border-radius:4px}\
button{margin-top:14px;padding:10px 18px;font-size:16px;background:#2f5d50;color:#fff;border:0;border-radius:4px;cursor:pointer}\
table{width:100%;border-collapse:collapse}td,th{border-bottom:1px solid #e2dccb;padding:7px 6px;text-align:left;vertical-align:top}\
.m{display:inline-block;min-width:22px;text-align:center;margin:1px;border-radius:3px;padding:0 3px;background:#eef3ea}\
.m2{background:#f6d5d0}.m3{background:#f7ecc9}\
.err{color:#a12a1d;font-weight:bold}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0;font-family:monospace;font-size:14px}\
dd{margin:0;word-break:break-all}\
.note{color:#6b6456;font-size:14px}";

fn page(title: &str, who: Option<&str>, inner: &str) -> String {
    let right = match who {
        Some(name) => format!("<span>{} · <a href=\"/logout\">Выйти</a></span>", esc(name)),
        None => "<a href=\"/login\">Войти</a>".to_string(),
    };
    let body = format!(
        "<header><a class=\"brand\" href=\"/\">Электронный дневник</a>{right}</header>\n<main>\n{inner}\n</main>"
    );
    document(title, CSS, &body)
}

async fn health() -> &'static str {
    "ok"
}

async fn stats(State(d): State<Shared>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"login_posts": d.login_posts.load(Ordering::Relaxed)}),
    )
}

async fn set_login_delay(State(d): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let Some(ms) = q.get("ms").and_then(|m| m.parse::<u64>().ok()) else {
        return (StatusCode::BAD_REQUEST, "ms must be a number\n").into_response();
    };
    d.login_delay_ms.store(ms, Ordering::Relaxed);
    tracing::info!(ms, "diary: login delay set");
    StatusCode::NO_CONTENT.into_response()
}

async fn not_found(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let who = visitor(&d, &headers).map(|v| d.display_name(&v.login));
    let inner =
        "<div class=\"card\"><h1>Страница не найдена</h1><p><a href=\"/\">На главную</a></p></div>";
    respond(
        StatusCode::NOT_FOUND,
        page("Дневник — не найдено", who.as_deref(), inner),
    )
}

async fn home(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let inner = match visitor(&d, &headers) {
        Some(v) => {
            let name = d.display_name(&v.login);
            let how = if v.via == "esia" {
                "через Госуслуги"
            } else {
                "по логину и паролю"
            };
            let role = match d.users.get(&v.login).map(|u| u.role.as_str()) {
                Some("staff") => "сотрудник школы",
                Some("parent") => "родитель",
                Some("student") => "ученик",
                _ => "пользователь",
            };
            let school = d
                .accounts
                .get(&v.login)
                .map(|a| {
                    let mut s = esc(&a.school);
                    if !a.class.is_empty() {
                        s.push_str(&format!(", класс {}", esc(&a.class)));
                    }
                    s
                })
                .unwrap_or_default();
            let inner = format!(
                "<div class=\"card\"><h1>Здравствуйте, {}!</h1>\n\
                 <p>Вы вошли как <b id=\"login\">{}</b> ({}), {}.</p>\n<p class=\"note\">{}</p>\n\
                 <p><a href=\"/grades\">Оценки</a></p></div>",
                esc(&name),
                esc(&v.login),
                role,
                how,
                school
            );
            return respond(
                StatusCode::OK,
                page("Электронный дневник", Some(&name), &inner),
            );
        }
        None => {
            "<div class=\"card\"><h1>Электронный дневник</h1>\n\
             <p>Оценки, домашние задания и расписание вашей школы.</p>\n\
             <p><a href=\"/login\">Войти в дневник</a></p></div>"
        }
    };
    respond(StatusCode::OK, page("Электронный дневник", None, inner))
}

fn login_page(error: bool, login: &str) -> Response {
    let err = if error {
        "<p class=\"err\" id=\"login-error\">Неверный логин или пароль</p>\n"
    } else {
        ""
    };
    let inner = format!(
        "<div class=\"card\"><h1>Вход в дневник</h1>\n{err}\
         <form method=\"post\" action=\"/login\">\n\
         <label for=\"login\">Логин</label>\n\
         <input type=\"text\" id=\"login\" name=\"login\" value=\"{}\" autocomplete=\"username\" required>\n\
         <label for=\"password\">Пароль</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Войти</button>\n</form></div>",
        esc(login)
    );
    respond(StatusCode::OK, page("Дневник — вход", None, &inner))
}

async fn login_form() -> Response {
    login_page(false, "")
}

async fn login_submit(State(d): State<Shared>, uri: Uri, body: Bytes) -> Response {
    d.login_posts.fetch_add(1, Ordering::Relaxed);
    let delay = d.login_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let field = |name| d.mode.field(name, uri.query().unwrap_or_default(), &body);
    // A PHP array (`login[]=`) is no login at all.
    let (login, password) = (field("login"), field("password"));
    let login = login.text().map(str::trim).unwrap_or_default();
    let password = password.text().unwrap_or_default();
    let ok = !login.is_empty()
        && d.users
            .get(login)
            .is_some_and(|u| !u.password.is_empty() && u.password == password);
    if !ok {
        tracing::info!("diary: failed password login");
        return login_page(true, login);
    }
    let mut raw = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut raw);
    let sid = hex::encode(raw);
    lock(&d.sessions).insert(sid.clone(), login.to_string());
    tracing::info!(login, "diary: password login");
    let mut r = found("/grades");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={sid}; HttpOnly; Path=/; SameSite=Lax"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(d): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_id(d.mode, &headers) {
        lock(&d.sessions).remove(&sid);
    }
    let mut r = found("/");
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("DIARYSESSID=; HttpOnly; Path=/; Max-Age=0; SameSite=Lax"),
    );
    r
}

async fn grades(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let Some(v) = visitor(&d, &headers) else {
        return found("/login");
    };
    let name = d.display_name(&v.login);
    let rows: String = grades_for(&v.login)
        .iter()
        .map(|(subject, marks)| {
            let marks: String = marks
                .iter()
                .map(|m| format!("<span class=\"m m{m}\">{m}</span>"))
                .collect();
            format!("<tr><td>{}</td><td>{marks}</td></tr>\n", esc(subject))
        })
        .collect();
    let shown = |name: &str| match header_str(&headers, name) {
        Some(v) => esc(v),
        None => "absent".to_string(),
    };
    let presence = |b: bool| if b { "present" } else { "absent" };
    let assertion = presence(header_str(&headers, "x-esia-assertion").is_some());
    let gate_cookie = presence(cookies(&headers).iter().any(|(n, _)| n == GATE_COOKIE));
    let class = d
        .accounts
        .get(&v.login)
        .filter(|a| !a.class.is_empty())
        .map(|a| format!("<p class=\"note\">Класс {}</p>\n", esc(&a.class)))
        .unwrap_or_default();
    let inner = format!(
        "<div class=\"card\"><h1>Оценки: {}</h1>\n{class}\
         <table><thead><tr><th>Предмет</th><th>Оценки</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n\
         <div class=\"card\"><h2>Что дневник получил от шлюза</h2>\n<dl id=\"identity\">\n\
         <dt>X-Remote-User</dt><dd id=\"remote-user\">{}</dd>\n\
         <dt>X-Esia-Oid</dt><dd id=\"esia-oid\">{}</dd>\n\
         <dt>X-Auth-Method</dt><dd id=\"auth-method\">{}</dd>\n\
         <dt>X-Esia-Trusted</dt><dd id=\"esia-trusted\">{}</dd>\n\
         <dt>X-Esia-Assertion</dt><dd id=\"assertion\">{assertion}</dd>\n\
         <dt>cookie esia_gate_session</dt><dd id=\"gate-cookie\">{gate_cookie}</dd>\n</dl></div>",
        esc(&name),
        shown("x-remote-user"),
        shown("x-esia-oid"),
        shown("x-auth-method"),
        shown("x-esia-trusted"),
    );
    respond(
        StatusCode::OK,
        page("Дневник — оценки", Some(&name), &inner),
    )
}

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn api_grades(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let Some(v) = visitor(&d, &headers) else {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
    };
    let grades: Vec<Value> = grades_for(&v.login)
        .into_iter()
        .map(|(subject, marks)| json!({"subject": subject, "marks": marks}))
        .collect();
    json_response(
        StatusCode::OK,
        json!({"login": v.login, "via": v.via, "grades": grades}),
    )
}

/// A PHP diary's front script: `index.php?page=...`, the page read from
/// `$_REQUEST` (a form body's `page` over the query's, the last value of
/// each) and matched in any case. No page is the home page.
async fn index_php(
    State(d): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // PHP fills `$_POST` for a POST only.
    let body: &[u8] = if method == Method::POST { &body } else { b"" };
    let page = d.mode.field("page", uri.query().unwrap_or_default(), body);
    let page = match &page {
        Field::Absent => return home(State(d), headers).await,
        Field::Text(p) => p.to_ascii_lowercase(),
        Field::Array => String::new(),
    };
    match page.as_str() {
        "grades" => grades(State(d), headers).await,
        "api_grades" => api_grades(State(d), headers).await,
        "login" => login_form().await,
        "logout" => logout(State(d), headers).await,
        _ => not_found(State(d), headers).await,
    }
}

async fn echo(headers: HeaderMap) -> Response {
    let mut map: serde_json::Map<String, Value> = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        map.insert(
            name.as_str().to_ascii_lowercase(),
            Value::String(values.join(", ")),
        );
    }
    let names: Vec<String> = cookies(&headers).into_iter().map(|(n, _)| n).collect();
    json_response(StatusCode::OK, json!({"headers": map, "cookies": names}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_are_deterministic_and_plausible() {
        let a = grades_for("ivanova.m");
        assert_eq!(a, grades_for("ivanova.m"));
        assert_ne!(a, grades_for("petrov.parent"));
        assert_eq!(a.len(), SUBJECTS.len());
        for (_, marks) in &a {
            assert!((3..=6).contains(&marks.len()));
            assert!(marks.iter().all(|m| (2..=5).contains(m)));
        }
    }

    #[test]
    fn cookie_header_is_split() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; DIARYSESSID=abc"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("esia_gate_session=x"),
        );
        let c = cookies(&h);
        assert_eq!(c.len(), 3);
        assert_eq!(session_id(DiaryMode::Normal, &h).as_deref(), Some("abc"));
    }

    async fn start() -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        super::super::fixtures::write_demo_fixtures(dir.path()).expect("fixtures");
        let cfg = DiaryConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            users: dir.path().join(super::super::fixtures::DIARY_USERS_FILE),
            accounts: Some(dir.path().join(super::super::fixtures::ACCOUNTS_FILE)),
            mode: DiaryMode::Normal,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = serve(cfg, listener).await;
        });
        (base, dir)
    }

    #[tokio::test]
    async fn password_login_headers_and_echo() {
        let (base, _dir) = start().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");

        let r = http
            .get(format!("{base}/__diary/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), 200);
        let r = http
            .get(format!("{base}/grades"))
            .send()
            .await
            .expect("grades");
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()[header::LOCATION], "/login");
        let r = http
            .get(format!("{base}/api/grades"))
            .send()
            .await
            .expect("api");
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v, json!({"error": "unauthorized"}));

        let r = http
            .post(format!("{base}/login"))
            .form(&[("login", "ivanova.m"), ("password", "wrong")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200);
        assert!(
            r.text()
                .await
                .expect("text")
                .contains("Неверный логин или пароль")
        );

        let r = http
            .post(format!("{base}/login"))
            .form(&[("login", "ivanova.m"), ("password", "demo")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 302);
        let v: Value = http
            .get(format!("{base}/__diary/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        assert_eq!(v, json!({"login_posts": 2}), "a wrong and a right login");
        assert_eq!(r.headers()[header::LOCATION], "/grades");
        let set = r.headers()[header::SET_COOKIE]
            .to_str()
            .expect("cookie")
            .to_string();
        assert!(
            set.starts_with("DIARYSESSID=") && set.contains("HttpOnly") && set.contains("Path=/")
        );
        let cookie = set.split(';').next().expect("pair").to_string();

        let r = http
            .get(format!("{base}/grades"))
            .header(header::COOKIE, format!("{cookie}; esia_gate_session=leak"))
            .send()
            .await
            .expect("grades");
        assert_eq!(r.status(), 200);
        let html = r.text().await.expect("text");
        assert!(html.contains("<title>Дневник — оценки</title>"));
        assert!(html.contains("Иванова Мария Петровна"));
        assert!(html.contains("<dd id=\"remote-user\">absent</dd>"));
        assert!(html.contains("<dd id=\"gate-cookie\">present</dd>"));

        let v: Value = http
            .get(format!("{base}/api/grades"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        assert_eq!(v["login"], "ivanova.m");
        assert_eq!(v["via"], "password");

        // The gateway's headers win over anything else.
        let r = http
            .get(format!("{base}/grades"))
            .header("X-Remote-User", "petrov.teacher")
            .header("X-Esia-Oid", "1000002")
            .header("X-Auth-Method", "esia")
            .header("X-Esia-Trusted", "true")
            .header("X-Esia-Assertion", "eyJhbGciOi.secret.value")
            .send()
            .await
            .expect("grades");
        let html = r.text().await.expect("text");
        assert!(html.contains("<dd id=\"remote-user\">petrov.teacher</dd>"));
        assert!(html.contains("<dd id=\"esia-oid\">1000002</dd>"));
        assert!(html.contains("<dd id=\"auth-method\">esia</dd>"));
        assert!(html.contains("<dd id=\"esia-trusted\">true</dd>"));
        assert!(html.contains("<dd id=\"assertion\">present</dd>"));
        assert!(!html.contains("secret.value"));
        assert!(html.contains("<dd id=\"gate-cookie\">absent</dd>"));
        assert!(html.contains("учитель физики"));

        let v: Value = http
            .get(format!("{base}/api/grades"))
            .header("X-Remote-User", "petrov.teacher")
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        assert_eq!(v["via"], "esia");

        let v: Value = http
            .get(format!("{base}/echo"))
            .header("X-Custom-Thing", "1")
            .header(header::COOKIE, "a=1; b=2")
            .send()
            .await
            .expect("echo")
            .json()
            .await
            .expect("json");
        assert_eq!(v["headers"]["x-custom-thing"], "1");
        assert_eq!(v["cookies"], json!(["a", "b"]));

        // Logout ends the cookie session.
        let r = http
            .get(format!("{base}/logout"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .expect("logout");
        assert_eq!(r.status(), 302);
        let r = http
            .get(format!("{base}/grades"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .expect("grades");
        assert_eq!(r.status(), 302);
    }
}
