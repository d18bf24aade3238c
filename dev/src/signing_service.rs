//! A small HTTP signing service for tests and trials of `[esia.signer] url`:
//! `POST /sign` with the bytes as the body answers the GOST signature as
//! base64 text. With a token, requests without `Authorization: Bearer
//! <token>` get 401. Real regions run their own (CryptoPro DSS or a
//! signing box); this one only shows the shape the gateway speaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;

use esia_gate::esia::signer::{OpensslGostSigner, Signer};

struct Service {
    signer: Arc<dyn Signer>,
    token: Option<String>,
    signed: Arc<AtomicU64>,
}

/// Serve on `listener` until the task is dropped, signing with the GOST
/// key `key` whose certificate is `certificate`; `signed` counts the
/// signatures given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    certificate: std::path::PathBuf,
    key: std::path::PathBuf,
    token: Option<String>,
    signed: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let signer: Arc<dyn Signer> =
        Arc::new(OpensslGostSigner::from_files(&certificate, &key).map_err(std::io::Error::other)?);
    let state = Arc::new(Service {
        signer,
        token,
        signed,
    });
    let app = Router::new().route("/sign", post(sign)).with_state(state);
    axum::serve(listener, app).await
}

async fn sign(
    State(s): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if let Some(t) = &s.token {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent != Some(t.as_str()) {
            return (StatusCode::UNAUTHORIZED, "token required\n".into());
        }
    }
    match s.signer.sign(&body).await {
        Ok(sig) => {
            s.signed.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::OK,
                base64::engine::general_purpose::STANDARD.encode(sig),
            )
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign\n".into()),
    }
}
