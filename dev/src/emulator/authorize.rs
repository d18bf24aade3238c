//! `GET /aas/oauth2/v2/ac` (and, through `legacy`, the deprecated `ac`):
//! every check real ESIA makes of an authorization request, then the login
//! screen with one button per person.

use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use crate::html::{esc, form_map, found, respond};
use esia_gate::esia::protocol::{self, codes};

use super::checks::{check_timestamp, secret_ok};
use super::faults::FaultMode;
use super::pages::{error_page, page, plain_page};
use super::state::{Flow, Pending, PersonFilter, Shared, lock, random_id};
use super::{HANG, PENDING_TTL, legacy};

pub(super) const AC_REQUIRED: &[&str] = &[
    "client_id",
    "client_secret",
    "client_certificate_hash",
    "redirect_uri",
    "scope",
    "response_type",
    "state",
    "access_type",
    "timestamp",
];

/// `redirect_uri?error=…&error_description=CODE: text&state=…`
pub(super) fn error_redirect(
    redirect_uri: &str,
    error: &str,
    code: &str,
    text: &str,
    state: Option<&str>,
) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, error, code, text);
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", &format!("{code}: {text}"));
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(u.as_str())
}

pub(super) async fn ac(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    authorize(st, q, Flow::V2).await
}

/// `ac` of either flow: the same checks, login screen and pending request;
/// only the client secret (and `client_certificate_hash`) differ.
pub(super) async fn authorize(st: Shared, q: Option<String>, flow: Flow) -> Response {
    match st.fault("ac") {
        FaultMode::Status500 => {
            return plain_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Внутренняя ошибка",
                "Сервис временно недоступен (ошибка, вызванная эмулятором).",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let q = form_map(q.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let state = get("state");
    let client = get("client_id").and_then(|id| st.clients.get(id));
    // Only a registered pair may receive errors by redirect.
    let redirect = match (client, get("redirect_uri")) {
        (Some(c), Some(r)) if c.redirect_uris.iter().any(|x| x == r) => Some(r),
        _ => None,
    };
    let fail = |error: &str, code: &str, text: &str| match redirect {
        Some(r) => error_redirect(r, error, code, text, state),
        None => error_page(StatusCode::BAD_REQUEST, error, code, text),
    };

    let required = match flow {
        Flow::V2 => AC_REQUIRED,
        Flow::Legacy => legacy::AC_REQUIRED,
    };
    for name in required {
        if get(name).is_none() {
            return fail(
                "invalid_request",
                codes::MISSING_PARAMETER,
                &format!("Отсутствует обязательный параметр {name}"),
            );
        }
    }
    let Some(client) = client else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            codes::UNAUTHORIZED_CLIENT,
            "Система-клиент не зарегистрирована в ЕСИА или не имеет права на этот способ доступа",
        );
    };
    let Some(redirect_uri) = redirect else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Адрес возврата redirect_uri не зарегистрирован для этой системы",
        );
    };
    let (client_id, scope, secret, hash, ts, state) = (
        get("client_id").unwrap_or_default(),
        get("scope").unwrap_or_default(),
        get("client_secret").unwrap_or_default(),
        get("client_certificate_hash").unwrap_or_default(),
        get("timestamp").unwrap_or_default(),
        state.unwrap_or_default(),
    );
    let scope_org = get("scope_org").unwrap_or_default();
    if get("response_type") != Some("code") {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение параметра response_type (ожидается code)",
        );
    }
    if !matches!(get("access_type"), Some("online") | Some("offline")) {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение параметра access_type (online или offline)",
        );
    }
    if uuid::Uuid::parse_str(state).is_err() {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Параметр state должен быть UUID",
        );
    }
    let filter = match get("person_filter") {
        None => None,
        Some(f) => match PersonFilter::parse(f) {
            Some(f) => Some(f),
            None => {
                return fail(
                    "invalid_request",
                    codes::MISSING_PARAMETER,
                    "Неверное значение параметра person_filter",
                );
            }
        },
    };
    if let Err(text) = check_timestamp(ts, Utc::now(), st.cfg.timestamp_tolerance_seconds) {
        return fail("invalid_request", codes::BAD_TIMESTAMP, text);
    }
    if flow == Flow::V2 && !hash.eq_ignore_ascii_case(&client.cert_hash) {
        tracing::info!(client_id, "ac: certificate hash mismatch");
        return fail(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Хэш сертификата (client_certificate_hash) не совпадает с сертификатом системы",
        );
    }
    let signed = match flow {
        Flow::V2 => {
            let input =
                protocol::auth_secret_input(client_id, scope, scope_org, ts, state, redirect_uri);
            secret_ok(&client.public_key, &input, secret)
        }
        Flow::Legacy => legacy::secret_ok(
            &client.cert,
            &legacy::secret_input(scope, ts, client_id, state),
            secret,
        ),
    };
    if !signed {
        tracing::info!(client_id, "ac: client_secret signature rejected");
        return fail(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Подпись запроса (client_secret) не прошла проверку",
        );
    }

    let id = random_id(24);
    {
        let mut pending = lock(&st.pending);
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        pending.insert(
            id.clone(),
            Pending {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
                scope_org: scope_org.to_string(),
                state: state.to_string(),
                filter,
                oid: None,
                created: Instant::now(),
                flow,
            },
        );
    }
    tracing::info!(client_id, ?flow, "ac: request accepted, login screen shown");

    let mut buttons = String::new();
    for p in st
        .persons
        .iter()
        .filter(|p| PersonFilter::admits(filter, p))
    {
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"oid\" value=\"{}\">{}<small>{} · {}</small></button>\n",
            p.oid,
            esc(&p.full_name()),
            esc(p.account_kind()),
            esc(&p.login_hint)
        ));
    }
    if buttons.is_empty() {
        buttons
            .push_str("<p class=\"note\">Нет учётных записей, подходящих под условия входа.</p>\n");
    }
    let inner = format!(
        "<h1>Вход через Госуслуги (эмулятор)</h1>\n\
         <p class=\"note\">Система <b>{}</b> просит войти. Пароль не нужен: выберите, кем войти.</p>\n\
         <form method=\"post\" action=\"/aas/oauth2/login\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n{}</form>",
        esc(client_id),
        esc(&id),
        buttons
    );
    respond(
        StatusCode::OK,
        page("Вход через Госуслуги (эмулятор)", "", &inner),
    )
}

pub(super) fn unknown_request() -> Response {
    plain_page(
        StatusCode::BAD_REQUEST,
        "Запрос не найден",
        "Запрос на вход не найден или устарел. Вернитесь в систему и начните вход заново.",
    )
}
