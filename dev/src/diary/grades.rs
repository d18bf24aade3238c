//! Grades, deterministic per login, as an HTML page and as a JSON API.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::html::{esc, found, respond};

use super::pages::page;
use super::visitor::{cookies, header_str, visitor};
use super::{GATE_COOKIE, Shared};

pub(super) const SUBJECTS: &[&str] = &[
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

pub(super) fn grades_for(login: &str) -> Vec<(&'static str, Vec<u8>)> {
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

/// Whose grades: the child a parent chose at the gateway (`X-Child-User`,
/// trusted with the other identity headers), else the visitor's own.
fn whose<'a>(v: &'a super::visitor::Visitor, headers: &'a HeaderMap) -> &'a str {
    match header_str(headers, "x-child-user") {
        Some(child) if v.via == "esia" => child,
        _ => &v.login,
    }
}

pub(super) async fn grades(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let Some(v) = visitor(&d, &headers) else {
        return found("/login");
    };
    let login = whose(&v, &headers).to_string();
    let name = d.display_name(&login);
    let rows: String = grades_for(&login)
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
        .get(&login)
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
        page("Дневник — оценки", Some(&d.display_name(&v.login)), &inner),
    )
}

pub(super) fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) async fn api_grades(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let Some(v) = visitor(&d, &headers) else {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
    };
    let grades: Vec<Value> = grades_for(whose(&v, &headers))
        .into_iter()
        .map(|(subject, marks)| json!({"subject": subject, "marks": marks}))
        .collect();
    json_response(
        StatusCode::OK,
        json!({"login": v.login, "via": v.via, "grades": grades}),
    )
}
