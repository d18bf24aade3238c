//! `GET /broker/userinfo`: the person's claims for a bearer access token.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::emulator::HANG;
use crate::emulator::faults::FaultMode;
use crate::emulator::state::{Shared, lock};
use crate::emulator::token::json_response;

use super::json_error;

fn invalid_token(text: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "invalid_token", text);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

pub(in crate::emulator) async fn userinfo(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Response {
    match st.fault("broker_userinfo") {
        FaultMode::Status500 => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        FaultMode::BadSignature | FaultMode::WrongIssuer | FaultMode::Expired => {
            return invalid_token("token rejected (emulator fault)");
        }
        FaultMode::None | FaultMode::WrongNonce => {}
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return invalid_token("no bearer token");
    };
    let oid = lock(&st.broker.tokens)
        .get(token)
        .filter(|t| t.expires > Instant::now())
        .map(|t| t.oid);
    let Some(p) = oid.and_then(|o| st.person(o)) else {
        return invalid_token("unknown or expired token");
    };
    let mut v = json!({
        "sub": p.oid.to_string(),
        "family_name": p.last_name,
        "given_name": p.first_name,
        "middle_name": p.middle_name,
        "trusted": p.trusted,
    });
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&p.birth_date, "%d.%m.%Y") {
        v["birthdate"] = Value::String(d.format("%Y-%m-%d").to_string());
    }
    if let Some(s) = &p.snils {
        v["snils"] = Value::String(s.clone());
    }
    json_response(StatusCode::OK, v)
}
