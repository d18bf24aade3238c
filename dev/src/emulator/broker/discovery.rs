//! What a relying party discovers at the broker: the OpenID Connect
//! discovery document and the JWKS with the signing key in force; and the
//! test's control to rotate that key (`POST /__emulator/broker/rotate-key`:
//! a new key and `kid`, the old one gone from the JWKS at once).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;

use crate::emulator::state::{Shared, lock};
use crate::emulator::token::json_response;

use super::{SigningKey, issuer};

/// `GET /broker/.well-known/openid-configuration`.
pub(in crate::emulator) async fn openid_configuration(State(st): State<Shared>) -> Response {
    let iss = issuer(&st);
    json_response(
        StatusCode::OK,
        json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/auth"),
            "token_endpoint": format!("{iss}/token"),
            "userinfo_endpoint": format!("{iss}/userinfo"),
            "jwks_uri": format!("{iss}/jwks"),
            "end_session_endpoint": format!("{iss}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "snils", "birthdate"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "family_name", "given_name", "middle_name",
                "birthdate", "snils", "trusted"],
        }),
    )
}

/// `GET /broker/jwks`: the key in force only.
pub(in crate::emulator) async fn jwks(State(st): State<Shared>) -> Response {
    let k = lock(&st.broker.key);
    let Ok(rsa) = k.key.rsa() else {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"keys": []}));
    };
    let b64 = |b: Vec<u8>| URL_SAFE_NO_PAD.encode(b);
    json_response(
        StatusCode::OK,
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": k.kid,
            "n": b64(rsa.n().to_vec()),
            "e": b64(rsa.e().to_vec()),
        }]}),
    )
}

/// `POST /__emulator/broker/rotate-key`: a new RSA key; answers its `kid`.
pub(in crate::emulator) async fn rotate_key(State(st): State<Shared>) -> Response {
    let fresh = Rsa::generate(2048).and_then(PKey::from_rsa);
    let Ok(key) = fresh else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "cannot make a key"}),
        );
    };
    let mut k = lock(&st.broker.key);
    let generation = k.generation + 1;
    *k = SigningKey {
        kid: format!("broker-{generation}"),
        key,
        generation,
    };
    tracing::info!(kid = %k.kid, "broker: signing key rotated");
    json_response(StatusCode::OK, json!({"kid": k.kid}))
}
