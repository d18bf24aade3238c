//! The admin listener (never on the public port): `/healthz`, `/readyz`,
//! `/metrics`. Reports come with the operations issue.

pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::esia::EsiaClient;
use crate::store::Store;

/// What the admin listener needs of the running gateway.
pub struct AdminApp {
    pub esia: Arc<EsiaClient>,
    pub store: Arc<dyn Store>,
    /// `host:port` of the diary, for readiness.
    pub upstream_addr: String,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .header("Cache-Control", "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

/// Can a TCP connection to the diary be opened?
async fn upstream_reachable(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/healthz" => reply(200, "text/plain; charset=utf-8", b"ok\n".to_vec()),
            "/readyz" => {
                let (upstream, esia, store) = tokio::join!(
                    upstream_reachable(&self.upstream_addr),
                    self.esia.reachable(),
                    self.store.ping()
                );
                let store = store.is_ok();
                let ready = upstream && esia && store;
                let body = serde_json::json!({
                    "ready": ready,
                    "upstream": upstream,
                    "esia": esia,
                    "store": store,
                });
                reply(
                    if ready { 200 } else { 503 },
                    "application/json",
                    body.to_string().into_bytes(),
                )
            }
            "/metrics" => {
                let sessions = self.store.session_count().await.unwrap_or(0);
                metrics::get().active_sessions.set(sessions as i64);
                reply(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics::get().encode(),
                )
            }
            _ => reply(404, "text/plain; charset=utf-8", b"not found\n".to_vec()),
        }
    }
}
