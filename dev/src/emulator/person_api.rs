//! The person REST API: `/rs/prns/{oid}`, its `kids` and one kid, for a
//! bearer token whose scope names that person (ETag included).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use crate::html::form_map;

use super::HANG;
use super::checks::{has_scope, verify_jwt};
use super::faults::FaultMode;
use super::persons::Kid;
use super::state::{Emulator, Shared};
use super::token::json_response;

fn rs_error(status: StatusCode, error: &str, text: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": text}))
}

/// Check the bearer token for `/rs/prns/{oid}…`; gives the token's scope.
async fn authorize_rs(
    st: &Emulator,
    headers: &HeaderMap,
    path_oid: &str,
) -> Result<(u64, String), Response> {
    match st.fault("prns") {
        FaultMode::Status500 => {
            return Err(rs_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            ));
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        FaultMode::BadSignature | FaultMode::WrongIssuer | FaultMode::Expired => {
            return Err(rs_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "token rejected (emulator fault)",
            ));
        }
        FaultMode::None | FaultMode::WrongNonce => {}
    }
    let unauthorized = |text: &str| rs_error(StatusCode::UNAUTHORIZED, "invalid_token", text);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized("no bearer token"));
    };
    let Some((header, claims)) = verify_jwt(&st.token_key, token) else {
        return Err(unauthorized("bad token signature"));
    };
    if header.get("sbt").and_then(Value::as_str) != Some("access") {
        return Err(unauthorized("not an access token"));
    }
    let now = Utc::now().timestamp();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e <= now)
    {
        return Err(unauthorized("token expired"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(st.cfg.issuer.as_str()) {
        return Err(unauthorized("unknown issuer"));
    }
    let Ok(oid) = path_oid.parse::<u64>() else {
        return Err(rs_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oid must be a number",
        ));
    };
    if claims.get("urn:esia:sbj_id").and_then(Value::as_u64) != Some(oid) {
        return Err(unauthorized("the token was issued for another person"));
    }
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((oid, scope))
}

fn etag(v: &Value) -> String {
    let digest = openssl::sha::sha256(v.to_string().as_bytes());
    hex::encode_upper(&digest[..20])
}

pub(super) async fn prns(
    State(st): State<Shared>,
    Path(oid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope fullname is required",
        );
    }
    let Some(p) = st.person(oid) else {
        return rs_error(StatusCode::NOT_FOUND, "not_found", "no such person");
    };
    let mut v = json!({
        "firstName": p.first_name,
        "lastName": p.last_name,
        "middleName": p.middle_name,
        "birthDate": p.birth_date,
        "gender": p.gender,
        "trusted": p.trusted,
        "citizenship": "RUS",
        "status": "REGISTERED",
        "updatedOn": 1_717_200_000u64,
    });
    if let Some(s) = &p.snils
        && has_scope(&scope, "snils")
    {
        v["snils"] = Value::String(s.clone());
    }
    v["eTag"] = Value::String(etag(&v));
    json_response(StatusCode::OK, v)
}

fn kid_json(k: &Kid, with_snils: bool) -> Value {
    let mut v = json!({
        "id": k.oid,
        "firstName": k.first_name,
        "lastName": k.last_name,
        "middleName": k.middle_name,
        "birthDate": k.birth_date,
    });
    if let Some(s) = &k.snils
        && with_snils
    {
        v["snils"] = Value::String(s.clone());
    }
    v["eTag"] = Value::String(etag(&v));
    v
}

pub(super) async fn kids(
    State(st): State<Shared>,
    Path(oid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "kid_fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope kid_fullname is required",
        );
    }
    let Some(p) = st.person(oid) else {
        return rs_error(StatusCode::NOT_FOUND, "not_found", "no such person");
    };
    let q = form_map(q.unwrap_or_default().as_bytes());
    let embed = q.get("embed").is_some_and(|e| e == "(elements)");
    let with_snils = has_scope(&scope, "kid_snils");
    let elements: Vec<Value> = p
        .kids
        .iter()
        .map(|k| {
            if embed {
                kid_json(k, with_snils)
            } else {
                Value::String(format!(
                    "{}/rs/prns/{}/kids/{}",
                    st.cfg.public_url.trim_end_matches('/'),
                    p.oid,
                    k.oid
                ))
            }
        })
        .collect();
    let mut v = json!({
        "stateFacts": ["hasSize"],
        "size": elements.len(),
        "elements": elements,
    });
    v["eTag"] = Value::String(etag(&v));
    json_response(StatusCode::OK, v)
}

pub(super) async fn kid(
    State(st): State<Shared>,
    Path((oid, kid_oid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "kid_fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope kid_fullname is required",
        );
    }
    let found_kid = st.person(oid).and_then(|p| {
        let k: u64 = kid_oid.parse().ok()?;
        p.kids.iter().find(|x| x.oid == k)
    });
    match found_kid {
        Some(k) => json_response(StatusCode::OK, kid_json(k, has_scope(&scope, "kid_snils"))),
        None => rs_error(StatusCode::NOT_FOUND, "not_found", "no such child"),
    }
}
