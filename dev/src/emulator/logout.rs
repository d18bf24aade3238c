//! `GET /idp/ext/Logout`: back to a URL of the client's registered origin.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::html::{form_map, found};

use super::checks::same_origin;
use super::pages::plain_page;
use super::state::Shared;

pub(super) async fn logout(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let Some(client) = q.get("client_id").and_then(|c| st.clients.get(c)) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Неизвестная система (client_id).",
        );
    };
    let Some(target) = q.get("redirect_url").and_then(|r| url::Url::parse(r).ok()) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Не указан адрес возврата (redirect_url).",
        );
    };
    let allowed = client
        .redirect_uris
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| same_origin(&r, &target));
    if !allowed {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Адрес возврата (redirect_url) не относится к зарегистрированной системе.",
        );
    }
    found(target.as_str())
}
