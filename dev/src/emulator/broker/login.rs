//! The broker's login: `GET /broker/auth` checks the relying party's
//! request and shows one button per person; `POST /broker/login` sends
//! the browser back with a code.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use crate::emulator::PENDING_TTL;
use crate::emulator::pages::{page, plain_page};
use crate::emulator::state::{Shared, lock, random_id};
use crate::html::{esc, form_map, found, respond};

use super::{Code, LOGIN_TITLE, Pending, error_back};

pub(in crate::emulator) async fn auth(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client) = get("client_id").and_then(|id| st.broker.clients.get(id)) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка входа",
            "Система-клиент (client_id) не зарегистрирована у брокера.",
        );
    };
    let Some(redirect_uri) =
        get("redirect_uri").filter(|r| client.redirect_uris.iter().any(|x| x == r))
    else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка входа",
            "Адрес возврата (redirect_uri) не зарегистрирован для этой системы.",
        );
    };
    let state = get("state");
    let Some(state) = state else {
        return error_back(redirect_uri, "invalid_request", "state is required", None);
    };
    match get("response_type") {
        None => {
            return error_back(
                redirect_uri,
                "invalid_request",
                "response_type is required",
                Some(state),
            );
        }
        Some("code") => {}
        Some(_) => {
            return error_back(
                redirect_uri,
                "unsupported_response_type",
                "only response_type=code is supported",
                Some(state),
            );
        }
    }

    // PKCE: a challenge must be S256 ("plain" would show the verifier).
    let code_challenge = get("code_challenge").map(str::to_string);
    if code_challenge.is_some() && get("code_challenge_method") != Some("S256") {
        return error_back(
            redirect_uri,
            "invalid_request",
            "code_challenge_method must be S256",
            Some(state),
        );
    }

    let id = random_id(24);
    {
        let mut pending = lock(&st.broker.pending);
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        pending.insert(
            id.clone(),
            Pending {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_string(),
                state: state.to_string(),
                nonce: get("nonce").map(str::to_string),
                code_challenge,
                created: Instant::now(),
            },
        );
    }
    tracing::info!(client_id = %client.client_id, "broker auth: login screen shown");

    let mut buttons = String::new();
    for p in &st.persons {
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"oid\" value=\"{}\">{}<small>{} · {}</small></button>\n",
            p.oid,
            esc(&p.full_name()),
            esc(p.account_kind()),
            esc(&p.login_hint)
        ));
    }
    if buttons.is_empty() {
        buttons.push_str("<p class=\"note\">Нет учётных записей.</p>\n");
    }
    let inner = format!(
        "<h1>{}</h1>\n\
         <p class=\"note\">Брокер ЕСИА: система <b>{}</b> просит войти. Пароль не нужен: выберите, кем войти.</p>\n\
         <form method=\"post\" action=\"/broker/login\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n{}</form>",
        esc(LOGIN_TITLE),
        esc(&client.client_id),
        esc(&id),
        buttons
    );
    respond(StatusCode::OK, page(LOGIN_TITLE, "", &inner))
}

fn unknown_request() -> Response {
    plain_page(
        StatusCode::BAD_REQUEST,
        "Запрос не найден",
        "Запрос на вход не найден или устарел. Вернитесь в систему и начните вход заново.",
    )
}

pub(in crate::emulator) async fn login(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let person = f
        .get("oid")
        .and_then(|o| o.trim().parse::<u64>().ok())
        .and_then(|o| st.person(o));
    let p = {
        let mut pending = lock(&st.broker.pending);
        match pending.get(id) {
            Some(p) if p.created.elapsed() < PENDING_TTL => {
                if person.is_none() {
                    // Keep the request: the user may pick again.
                    return plain_page(
                        StatusCode::BAD_REQUEST,
                        "Учётная запись не найдена",
                        "Выберите учётную запись из списка.",
                    );
                }
                pending.remove(id)
            }
            _ => None,
        }
    };
    let (Some(p), Some(person)) = (p, person) else {
        return unknown_request();
    };
    let code = random_id(32);
    {
        let mut codes = lock(&st.broker.codes);
        codes.retain(|_, c| c.expires > Instant::now());
        codes.insert(
            code.clone(),
            Code {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                nonce: p.nonce,
                code_challenge: p.code_challenge,
                oid: person.oid,
                auth_time: Utc::now().timestamp(),
                expires: Instant::now() + Duration::from_secs(st.cfg.code_ttl_seconds),
            },
        );
    }
    tracing::info!(client_id = %p.client_id, oid = person.oid, "broker: code issued");
    let Ok(mut u) = url::Url::parse(&p.redirect_uri) else {
        return plain_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Ошибка",
            "Неверный адрес возврата.",
        );
    };
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &p.state);
    found(u.as_str())
}
