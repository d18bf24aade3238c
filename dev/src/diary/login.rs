//! The diary's own password login: the form, its submission (counted,
//! and delayed when a test asks) and logout.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use rand::RngCore;

use crate::html::{esc, found, respond};

use super::pages::page;
use super::visitor::session_id;
use super::{SESSION_COOKIE, Shared, lock};

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

pub(super) async fn login_form() -> Response {
    login_page(false, "")
}

pub(super) async fn login_submit(State(d): State<Shared>, uri: Uri, body: Bytes) -> Response {
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
