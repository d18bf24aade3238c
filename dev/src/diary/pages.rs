//! The diary's pages: the shell, the home page, the PHP front script, the
//! echo of what the diary received, and not found.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::diary_mode::Field;
use crate::html::{document, esc, respond};

use super::Shared;
use super::grades::{api_grades, grades, json_response};
use super::login::{login_form, logout};
use super::visitor::{cookies, visitor};

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

pub(super) fn page(title: &str, who: Option<&str>, inner: &str) -> String {
    let right = match who {
        Some(name) => format!("<span>{} · <a href=\"/logout\">Выйти</a></span>", esc(name)),
        None => "<a href=\"/login\">Войти</a>".to_string(),
    };
    let body = format!(
        "<header><a class=\"brand\" href=\"/\">Электронный дневник</a>{right}</header>\n<main>\n{inner}\n</main>"
    );
    document(title, CSS, &body)
}

pub(super) async fn not_found(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let who = visitor(&d, &headers).map(|v| d.display_name(&v.login));
    let inner =
        "<div class=\"card\"><h1>Страница не найдена</h1><p><a href=\"/\">На главную</a></p></div>";
    respond(
        StatusCode::NOT_FOUND,
        page("Дневник — не найдено", who.as_deref(), inner),
    )
}

pub(super) async fn home(State(d): State<Shared>, headers: HeaderMap) -> Response {
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

/// A PHP diary's front script: `index.php?page=...`, the page read from
/// `$_REQUEST` (a form body's `page` over the query's, the last value of
/// each) and matched in any case. No page is the home page.
pub(super) async fn index_php(
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
        "login" => login_form(State(d), headers).await,
        "logout" => logout(State(d), headers).await,
        _ => not_found(State(d), headers).await,
    }
}

pub(super) async fn echo(headers: HeaderMap) -> Response {
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
