//! `POST /aas/oauth2/v3/te` (and, through `legacy`, the deprecated `te`):
//! the code exchanged for an access token and an `id_token` once every
//! check passes, answered with ESIA's error codes otherwise.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::html::form_map;
use esia_gate::esia::protocol::{self, codes};

use super::checks::{check_timestamp, has_scope, make_jwt, secret_ok, token_scope};
use super::faults::FaultMode;
use super::persons::Person;
use super::state::{Emulator, Flow, Grant, Shared, lock};
use super::{EVIL_ISSUER, HANG, TOKEN_LIFETIME, legacy};

pub(super) fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn te_error(error: &str, code: &str, text: &str, state: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({
            "error": error,
            "error_description": format!("{code}: {text}"),
            "state": state,
        }),
    )
}

pub(super) const TE_REQUIRED: &[&str] = &[
    "client_id",
    "code",
    "grant_type",
    "client_certificate_hash",
    "client_secret",
    "state",
    "redirect_uri",
    "scope",
    "timestamp",
    "token_type",
];

pub(super) async fn te(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    token(st, headers, body, Flow::V2).await
}

/// `te` of either flow: the same checks and tokens; only the client secret
/// (and `client_certificate_hash`) differ, and a code is redeemed only by
/// the flow that issued it.
pub(super) async fn token(st: Shared, headers: HeaderMap, body: Bytes, flow: Flow) -> Response {
    let fault = st.fault("te");
    match fault {
        FaultMode::Status500 => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "server_error", "error_description": "internal error (emulator fault)"}),
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let f = form_map(&body);
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let state = get("state").unwrap_or_default();
    // A code is used up by the first request that shows it, whatever follows.
    let grant = get("code").and_then(|c| lock(&st.grants).remove(c));

    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Тело запроса должно быть application/x-www-form-urlencoded",
            state,
        );
    }
    let required = match flow {
        Flow::V2 => TE_REQUIRED,
        Flow::Legacy => legacy::TE_REQUIRED,
    };
    for name in required {
        if get(name).is_none() {
            return te_error(
                "invalid_request",
                codes::MISSING_PARAMETER,
                &format!("Отсутствует обязательный параметр {name}"),
                state,
            );
        }
    }
    let (client_id, code, scope, secret, hash, ts, redirect_uri) = (
        get("client_id").unwrap_or_default(),
        get("code").unwrap_or_default(),
        get("scope").unwrap_or_default(),
        get("client_secret").unwrap_or_default(),
        get("client_certificate_hash").unwrap_or_default(),
        get("timestamp").unwrap_or_default(),
        get("redirect_uri").unwrap_or_default(),
    );
    let scope_org = get("scope_org").unwrap_or_default();
    if get("grant_type") != Some("authorization_code") {
        return te_error(
            "unsupported_grant_type",
            codes::MISSING_PARAMETER,
            "Неверное значение grant_type (эмулятор поддерживает authorization_code)",
            state,
        );
    }
    if get("token_type") != Some("Bearer") {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение token_type (ожидается Bearer)",
            state,
        );
    }
    let Some(client) = st.clients.get(client_id) else {
        return te_error(
            "unauthorized_client",
            codes::UNAUTHORIZED_CLIENT,
            "Система-клиент не зарегистрирована в ЕСИА",
            state,
        );
    };
    if let Err(text) = check_timestamp(ts, Utc::now(), st.cfg.timestamp_tolerance_seconds) {
        return te_error("invalid_request", codes::BAD_TIMESTAMP, text, state);
    }
    if flow == Flow::V2 && !hash.eq_ignore_ascii_case(&client.cert_hash) {
        tracing::info!(client_id, "te: certificate hash mismatch");
        return te_error(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Хэш сертификата (client_certificate_hash) не совпадает с сертификатом системы",
            state,
        );
    }
    let signed = match flow {
        Flow::V2 => {
            let input = protocol::token_secret_input(
                client_id,
                scope,
                scope_org,
                ts,
                state,
                redirect_uri,
                code,
            );
            secret_ok(&client.public_key, &input, secret)
        }
        Flow::Legacy => legacy::secret_ok(
            &client.cert,
            &legacy::secret_input(scope, ts, client_id, state),
            secret,
        ),
    };
    if !signed {
        tracing::info!(client_id, "te: client_secret signature rejected");
        return te_error(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Подпись запроса (client_secret) не прошла проверку",
            state,
        );
    }
    let Some(grant) =
        grant.filter(|g| g.expires > Instant::now() && g.client_id == client_id && g.flow == flow)
    else {
        tracing::info!(client_id, "te: unknown, reused or expired code");
        return te_error(
            "invalid_grant",
            codes::BAD_CODE,
            "Код авторизации недействителен, просрочен или уже использован",
            state,
        );
    };
    if uuid::Uuid::parse_str(state).is_err() || state == grant.ac_state {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Параметр state должен быть новым UUID, отличным от state запроса авторизации",
            state,
        );
    }
    if redirect_uri != grant.redirect_uri {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "redirect_uri отличается от указанного в запросе авторизации",
            state,
        );
    }
    if scope != grant.scope || scope_org != grant.scope_org {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "scope отличается от указанного в запросе авторизации",
            state,
        );
    }
    let Some(person) = st.person(grant.oid) else {
        return te_error(
            "invalid_grant",
            codes::BAD_CODE,
            "Учётная запись не найдена",
            state,
        );
    };

    match issue_tokens(&st, fault, client_id, &grant, person) {
        Ok((access, id_token)) => {
            tracing::info!(client_id, oid = grant.oid, "te: tokens issued");
            let mut v = json!({
                "access_token": access,
                "state": state,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
            });
            if let Some(id) = id_token {
                v["id_token"] = Value::String(id);
            }
            json_response(StatusCode::OK, v)
        }
        Err(e) => {
            tracing::error!(error = %e, "te: cannot sign tokens");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "server_error", "error_description": "cannot sign the token"}),
            )
        }
    }
}

fn issue_tokens(
    st: &Emulator,
    fault: FaultMode,
    client_id: &str,
    grant: &Grant,
    person: &Person,
) -> anyhow::Result<(String, Option<String>)> {
    let now = Utc::now().timestamp();
    let (iat, exp) = if fault == FaultMode::Expired {
        (now - 2 * TOKEN_LIFETIME, now - TOKEN_LIFETIME)
    } else {
        (now, now + TOKEN_LIFETIME)
    };
    let iss = if fault == FaultMode::WrongIssuer {
        EVIL_ISSUER
    } else {
        st.cfg.issuer.as_str()
    };
    let key = if fault == FaultMode::BadSignature {
        &st.rogue_key
    } else {
        &st.token_key
    };
    let access = make_jwt(
        key,
        &json!({"ver": 1, "typ": "JWT", "sbt": "access", "alg": "RS256"}),
        &json!({
            "nbf": iat,
            "iat": iat,
            "exp": exp,
            "iss": iss,
            "client_id": client_id,
            "urn:esia:sid": uuid::Uuid::new_v4().to_string(),
            "urn:esia:sbj_id": person.oid,
            "scope": token_scope(&grant.scope, person.oid),
        }),
    )?;
    let id_token = if has_scope(&grant.scope, "openid") {
        let mut sbj = json!({
            "urn:esia:sbj:typ": "P",
            "urn:esia:sbj:oid": person.oid,
            "urn:esia:sbj:lvl": if person.trusted { "PR" } else { "P" },
        });
        if person.trusted {
            sbj["urn:esia:sbj:is_tru"] = Value::Bool(true);
        }
        Some(make_jwt(
            key,
            &json!({"typ": "JWT", "alg": "RS256"}),
            &json!({
                "iss": iss,
                "aud": client_id,
                "sub": person.oid,
                "nbf": iat,
                "iat": iat,
                "exp": exp,
                "auth_time": grant.auth_time,
                "amr": "PWD",
                "urn:esia:sbj": sbj,
            }),
        )?)
    } else {
        None
    };
    Ok((access, id_token))
}
