//! Hooks for tests: health, the count of login form submissions
//! (`/__diary/stats`) and a delay for them (`/__diary/login-delay`).

use std::sync::atomic::Ordering;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::html::form_map;

use super::Shared;
use super::grades::json_response;

pub(super) async fn health() -> &'static str {
    "ok"
}

pub(super) async fn stats(State(d): State<Shared>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"login_posts": d.login_posts.load(Ordering::Relaxed)}),
    )
}

pub(super) async fn set_login_delay(State(d): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let Some(ms) = q.get("ms").and_then(|m| m.parse::<u64>().ok()) else {
        return (StatusCode::BAD_REQUEST, "ms must be a number\n").into_response();
    };
    d.login_delay_ms.store(ms, Ordering::Relaxed);
    tracing::info!(ms, "diary: login delay set");
    StatusCode::NO_CONTENT.into_response()
}
