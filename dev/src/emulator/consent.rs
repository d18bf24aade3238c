//! The login and consent screens: `POST /aas/oauth2/login` picks a person
//! and shows the consent page for the requested scopes; `POST
//! /aas/oauth2/consent` allows (a code back to the system) or denies.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use crate::html::{esc, form_map, found, respond};
use esia_gate::esia::protocol::codes;

use super::PENDING_TTL;
use super::authorize::{error_redirect, unknown_request};
use super::pages::{page, plain_page, scope_label};
use super::state::{Grant, PersonFilter, Shared, lock, random_id};

pub(super) async fn login(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let oid = f.get("oid").and_then(|o| o.trim().parse::<u64>().ok());
    let mut pending = lock(&st.pending);
    let Some(p) = pending
        .get_mut(id)
        .filter(|p| p.created.elapsed() < PENDING_TTL)
    else {
        return unknown_request();
    };
    let Some(person) = oid
        .and_then(|o| st.person(o))
        .filter(|person| PersonFilter::admits(p.filter, person))
    else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Учётная запись не найдена",
            "Выберите учётную запись из списка.",
        );
    };
    p.oid = Some(person.oid);
    let items: String = p
        .scope
        .split_whitespace()
        .map(|s| format!("<li>{}</li>\n", esc(scope_label(s))))
        .collect();
    let inner = format!(
        "<h1>Предоставление прав доступа</h1>\n\
         <p>{}, система <b>{}</b> запрашивает доступ к вашим данным:</p>\n<ul>\n{}</ul>\n\
         <form method=\"post\" action=\"/aas/oauth2/consent\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Предоставить</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Отказать</button>\n</form>",
        esc(&person.full_name()),
        esc(&p.client_id),
        items,
        esc(id)
    );
    respond(
        StatusCode::OK,
        page(
            "Предоставление прав доступа — Госуслуги (эмулятор)",
            "",
            &inner,
        ),
    )
}

pub(super) async fn consent(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let decision = f.get("decision").map(String::as_str);
    if !matches!(decision, Some("allow") | Some("deny")) {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Неверный запрос",
            "Нажмите «Предоставить» или «Отказать».",
        );
    }
    let p = {
        let mut pending = lock(&st.pending);
        match pending.get(id) {
            Some(p) if p.oid.is_some() && p.created.elapsed() < PENDING_TTL => pending.remove(id),
            _ => None,
        }
    };
    let Some(p) = p else {
        return unknown_request();
    };
    let Some(oid) = p.oid else {
        return unknown_request();
    };
    if decision == Some("deny") {
        tracing::info!(client_id = %p.client_id, oid, "consent refused");
        return error_redirect(
            &p.redirect_uri,
            "access_denied",
            codes::CONSENT_REFUSED,
            "Пользователь отказался предоставить доступ к своим данным",
            Some(&p.state),
        );
    }
    let code = random_id(48);
    {
        let mut grants = lock(&st.grants);
        grants.retain(|_, g| g.expires > Instant::now());
        grants.insert(
            code.clone(),
            Grant {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                scope: p.scope,
                scope_org: p.scope_org,
                ac_state: p.state.clone(),
                oid,
                auth_time: Utc::now().timestamp(),
                expires: Instant::now() + Duration::from_secs(st.cfg.code_ttl_seconds),
                flow: p.flow,
            },
        );
    }
    tracing::info!(client_id = %p.client_id, oid, "consent given, code issued");
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
