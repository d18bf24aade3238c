//! The diary's own password login: the form (in a pre-session with a CSRF
//! token when `login_token` is on), its submission (counted, and delayed
//! when a test asks) and logout.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use rand::RngCore;

use crate::html::{esc, found, respond};

use super::pages::page;
use super::visitor::{cookies, session_id};
use super::{Diary, PRE_SESSION_COOKIE, SESSION_COOKIE, Shared, lock};

/// A new random id, hex.
fn random_hex() -> String {
    let mut raw = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The pre-session a login page is shown in (with `login_token`): the
/// visitor's own if the cookie names a known one, else a new one whose
/// cookie the page sets. Its token is written into the form.
fn pre_session(d: &Diary, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let mut pre = lock(&d.pre_sessions);
    if let Some(token) = d
        .mode
        .cookie(&cookies(headers), PRE_SESSION_COOKIE)
        .and_then(|id| pre.get(&id).cloned())
    {
        return (token, None);
    }
    // A sample diary: forget every pre-session rather than grow forever.
    if pre.len() > 10_000 {
        pre.clear();
    }
    let (id, token) = (random_hex(), random_hex());
    pre.insert(id.clone(), token.clone());
    let cookie = HeaderValue::from_str(&format!(
        "{PRE_SESSION_COOKIE}={id}; HttpOnly; Path=/; SameSite=Lax"
    ))
    .ok();
    (token, cookie)
}

/// Whether a login form came with its page's pre-session cookie and token.
fn token_ok(d: &Diary, headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(id) = d.mode.cookie(&cookies(headers), PRE_SESSION_COOKIE) else {
        return false;
    };
    lock(&d.pre_sessions)
        .get(&id)
        .is_some_and(|t| Some(t.as_str()) == token)
}

fn login_page(d: &Diary, headers: &HeaderMap, error: bool, login: &str) -> Response {
    let err = if error {
        "<p class=\"err\" id=\"login-error\">Неверный логин или пароль</p>\n"
    } else {
        ""
    };
    let (hidden, cookie) = if d.login_token {
        let (token, cookie) = pre_session(d, headers);
        (
            format!(
                "<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n",
                esc(&token)
            ),
            cookie,
        )
    } else {
        (String::new(), None)
    };
    let inner = format!(
        "<div class=\"card\"><h1>Вход в дневник</h1>\n{err}\
         <form method=\"post\" action=\"/login\">\n{hidden}\
         <label for=\"login\">Логин</label>\n\
         <input type=\"text\" id=\"login\" name=\"login\" value=\"{}\" autocomplete=\"username\" required>\n\
         <label for=\"password\">Пароль</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Войти</button>\n</form></div>",
        esc(login)
    );
    let mut r = respond(StatusCode::OK, page("Дневник — вход", None, &inner));
    if let Some(c) = cookie {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

pub(super) async fn login_form(State(d): State<Shared>, headers: HeaderMap) -> Response {
    login_page(&d, &headers, false, "")
}

pub(super) async fn login_submit(
    State(d): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    d.login_posts.fetch_add(1, Ordering::Relaxed);
    let delay = d.login_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let field = |name| d.mode.field(name, uri.query().unwrap_or_default(), &body);
    // A PHP array (`login[]=`) is no login at all.
    let (login, password, csrf) = (field("login"), field("password"), field("csrf"));
    let login = login.text().map(str::trim).unwrap_or_default();
    let password = password.text().unwrap_or_default();
    // Without its page's cookie and token the form is refused exactly as
    // a wrong password is: the answer tells nothing more.
    let ok = !login.is_empty()
        && (!d.login_token || token_ok(&d, &headers, csrf.text()))
        && d.users
            .get(login)
            .is_some_and(|u| !u.password.is_empty() && u.password == password);
    if !ok {
        tracing::info!("diary: failed password login");
        return login_page(&d, &headers, true, login);
    }
    if d.login_token
        && let Some(id) = d.mode.cookie(&cookies(&headers), PRE_SESSION_COOKIE)
    {
        // The pre-session ends with the login, as PHP regenerates its id.
        lock(&d.pre_sessions).remove(&id);
    }
    let sid = random_hex();
    lock(&d.sessions).insert(sid.clone(), login.to_string());
    tracing::info!(login, "diary: password login");
    let mut r = found(if d.relative_redirect {
        "grades?welcome=1"
    } else {
        "/grades"
    });
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={sid}; HttpOnly; Path=/; SameSite=Lax"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub(super) async fn logout(State(d): State<Shared>, headers: HeaderMap) -> Response {
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
