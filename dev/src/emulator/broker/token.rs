//! `POST /broker/token`: the client authenticated by its static secret
//! (form or HTTP Basic), a single-use code exchanged for an opaque access
//! token and an RS256 `id_token`.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};

use crate::emulator::checks::make_jwt;
use crate::emulator::faults::FaultMode;
use crate::emulator::state::{Shared, lock, random_id};
use crate::emulator::token::json_response;
use crate::emulator::{EVIL_ISSUER, HANG, TOKEN_LIFETIME};
use crate::html::form_map;

use super::{Token, issuer, json_error};

/// `client_id` and `client_secret` from HTTP Basic (RFC 6749 §2.3.1: both
/// form-urlencoded, then base64) — `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| ())?;
    let text = String::from_utf8(raw).map_err(|_| ())?;
    let (id, secret) = text.split_once(':').ok_or(())?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

/// Compare secrets without leaking where they differ.
fn secret_eq(a: &str, b: &str) -> bool {
    openssl::memcmp::eq(
        &openssl::sha::sha256(a.as_bytes()),
        &openssl::sha::sha256(b.as_bytes()),
    )
}

fn invalid_client(basic: bool) -> Response {
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    );
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"broker\""),
        );
    }
    r
}

pub(in crate::emulator) async fn token(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = st.fault("broker_token");
    match fault {
        FaultMode::Status500 => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let f = form_map(&body);
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());

    // Client authentication first: a request without the secret must not
    // use up the code.
    let basic = match basic_credentials(&headers) {
        Ok(b) => b,
        Err(()) => return invalid_client(true),
    };
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if get("client_id").is_some_and(|f| f != id) || get("client_secret").is_some() {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "use one client authentication method",
                );
            }
            (id, secret)
        }
        None => (
            get("client_id").unwrap_or_default().to_string(),
            get("client_secret").unwrap_or_default().to_string(),
        ),
    };
    let client = st
        .broker
        .clients
        .get(&client_id)
        .filter(|c| secret_eq(&c.client_secret, &secret));
    let Some(client) = client else {
        tracing::info!(client_id, "broker token: client authentication failed");
        return invalid_client(used_basic);
    };

    if get("grant_type") != Some("authorization_code") {
        return json_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let Some(code) = get("code") else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        );
    };
    // A code is used up by the first authenticated request that shows it.
    let grant = lock(&st.broker.codes).remove(code);
    let grant = grant.filter(|g| {
        g.expires > Instant::now()
            && g.client_id == client.client_id
            && get("redirect_uri") == Some(g.redirect_uri.as_str())
    });
    let Some(grant) = grant else {
        tracing::info!(client_id, "broker token: bad, reused or expired code");
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is invalid, expired, used or issued for another redirect_uri",
        );
    };
    // PKCE (RFC 7636): the verifier whose SHA-256 is the request's challenge.
    if let Some(challenge) = &grant.code_challenge {
        let shown = get("code_verifier")
            .map(|v| URL_SAFE_NO_PAD.encode(openssl::sha::sha256(v.as_bytes())));
        if shown.as_deref() != Some(challenge.as_str()) {
            tracing::info!(client_id, "broker token: PKCE verifier missing or wrong");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the PKCE code_verifier is missing or does not match the code_challenge",
            );
        }
    }

    let now = Utc::now().timestamp();
    let (iat, exp) = if fault == FaultMode::Expired {
        (now - 2 * TOKEN_LIFETIME, now - TOKEN_LIFETIME)
    } else {
        (now, now + TOKEN_LIFETIME)
    };
    let iss = if fault == FaultMode::WrongIssuer {
        EVIL_ISSUER.to_string()
    } else {
        issuer(&st)
    };
    let (kid, key) = {
        let k = lock(&st.broker.key);
        (k.kid.clone(), k.key.clone())
    };
    let key = if fault == FaultMode::BadSignature {
        st.rogue_key.clone()
    } else {
        key
    };
    let mut claims = json!({
        "iss": iss,
        "aud": client.client_id,
        "sub": grant.oid.to_string(),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "auth_time": grant.auth_time,
    });
    if let Some(n) = &grant.nonce {
        let n = if fault == FaultMode::WrongNonce {
            "not-the-requests-nonce".to_string()
        } else {
            n.clone()
        };
        claims["nonce"] = Value::String(n);
    }
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let id_token = match make_jwt(&key, &header, &claims) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "broker token: cannot sign the id_token");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "cannot sign the token",
            );
        }
    };
    let access = random_id(32);
    {
        let mut tokens = lock(&st.broker.tokens);
        tokens.retain(|_, t| t.expires > Instant::now());
        tokens.insert(
            access.clone(),
            Token {
                oid: grant.oid,
                expires: Instant::now() + Duration::from_secs(TOKEN_LIFETIME.unsigned_abs()),
            },
        );
    }
    tracing::info!(client_id, oid = grant.oid, "broker token: tokens issued");
    json_response(
        StatusCode::OK,
        json!({
            "access_token": access,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }),
    )
}
