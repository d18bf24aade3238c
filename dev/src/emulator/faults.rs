//! Faults for tests: `POST /__emulator/fault?endpoint=…&mode=…` makes `ac`,
//! `te`, the person API or the broker's token and userinfo endpoints fail,
//! hang, sign badly, name the wrong issuer or issue expired tokens.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::html::form_map;

use super::state::{Shared, lock};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum FaultMode {
    #[default]
    None,
    Status500,
    Hang,
    BadSignature,
    WrongIssuer,
    Expired,
    /// The broker's id token carries another nonce than the request's.
    WrongNonce,
}

impl FaultMode {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "status500" => Self::Status500,
            "hang" => Self::Hang,
            "bad_signature" => Self::BadSignature,
            "wrong_issuer" => Self::WrongIssuer,
            "expired" => Self::Expired,
            "wrong_nonce" => Self::WrongNonce,
            _ => return None,
        })
    }
}

#[derive(Default)]
pub(super) struct Faults {
    pub(super) ac: FaultMode,
    pub(super) te: FaultMode,
    pub(super) prns: FaultMode,
    pub(super) broker_token: FaultMode,
    pub(super) broker_userinfo: FaultMode,
}

pub(super) async fn set_fault(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let mode = q.get("mode").and_then(|m| FaultMode::parse(m));
    let Some(mode) = mode else {
        return (
            StatusCode::BAD_REQUEST,
            "mode must be one of none|status500|hang|bad_signature|wrong_issuer|expired\n",
        )
            .into_response();
    };
    let mut f = lock(&st.faults);
    match q.get("endpoint").map(String::as_str) {
        Some("ac") => f.ac = mode,
        Some("te") => f.te = mode,
        Some("prns") => f.prns = mode,
        Some("broker_token") => f.broker_token = mode,
        Some("broker_userinfo") => f.broker_userinfo = mode,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "endpoint must be one of te|prns|ac|broker_token|broker_userinfo\n",
            )
                .into_response();
        }
    }
    tracing::info!(endpoint = ?q.get("endpoint"), ?mode, "emulator fault set");
    (StatusCode::OK, "ok\n").into_response()
}
