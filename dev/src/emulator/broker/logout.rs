//! `GET /broker/logout`: back to `post_logout_redirect_uri` when it is on
//! the origin of one of the client's redirect URIs.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::emulator::checks::same_origin;
use crate::emulator::pages::plain_page;
use crate::emulator::state::Shared;
use crate::html::{form_map, found};

/// `GET /broker/logout?client_id=…&post_logout_redirect_uri=…`: back to a
/// URL on the origin of one of the client's redirect URIs (or a page).
pub(in crate::emulator) async fn logout(
    State(st): State<Shared>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let target = q
        .get("post_logout_redirect_uri")
        .and_then(|r| url::Url::parse(r).ok());
    let Some(target) = target else {
        return plain_page(
            StatusCode::OK,
            "Выход выполнен",
            "Вы вышли из брокера ЕСИА.",
        );
    };
    let allowed = st
        .broker
        .clients
        .values()
        .filter(|c| q.get("client_id").is_none_or(|id| *id == c.client_id))
        .flat_map(|c| c.redirect_uris.iter())
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| same_origin(&r, &target));
    if !allowed {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Адрес возврата (post_logout_redirect_uri) не относится к зарегистрированной системе.",
        );
    }
    let mut u = target;
    if let Some(s) = q.get("state") {
        u.query_pairs_mut().append_pair("state", s);
    }
    found(u.as_str())
}
