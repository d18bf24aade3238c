//! The admin listener (never on the public port): `/healthz`, `/readyz`
//! (this instance can serve the diary: store and upstream; ESIA's health is
//! a metric of its own), `/metrics`, and the schools' reports under
//! `/reports`. With a token
//! configured every path but `/healthz` needs it ([`access`]); without one
//! the listener is on loopback only.

pub mod access;
mod report_pages;
mod report_stream;
pub mod reports;
pub mod tables;

pub use report_pages::ReportSettings;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use http::Response;
use pingora::protocols::http::ServerSession;
use report_stream::Answer;

use crate::clock::{Clock, Rehearsal};
use crate::esia::EsiaClient;
use crate::identity::Directory;
use crate::store::Store;
use crate::telemetry::metrics;

/// What the admin listener needs of the running gateway.
pub struct AdminApp {
    pub esia: Arc<EsiaClient>,
    pub store: Arc<dyn Store>,
    /// The policy in force, for `/readyz`.
    pub policy: crate::policy::slot::PolicySlot,
    /// Present only on a rehearsal gateway (`policy.rehearse_date`):
    /// `PUT /rehearse-date?date=YYYY-MM-DD` moves the pretended date.
    pub rehearsal: Option<Rehearsal>,
    /// `host:port` of the diary, for readiness.
    /// The diary's current address (resolved in the background).
    pub upstream: Arc<dyn Fn() -> std::net::SocketAddr + Send + Sync>,
    /// The directory in use, for the reports and the adoption gauge.
    pub directory: Arc<ArcSwap<Directory>>,
    /// Required on every path but `/healthz` when set; a SIGHUP may put
    /// in a new one (`admin.token_file` rewritten).
    pub token: Arc<arc_swap::ArcSwapOption<access::AdminToken>>,
    pub reports: ReportSettings,
    pub clock: Clock,
}

/// How often a scrape may re-check the dependencies and recount adoption:
/// a busy Prometheus (or several) must not turn into load on ESIA, the
/// diary or the store.
const DEPENDENCY_CHECK_EVERY: Duration = Duration::from_secs(10);

/// Whether `last` is older than `every` (or unset); if so, it becomes now.
fn due(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
    let Ok(mut last) = last.lock() else {
        return true;
    };
    match *last {
        Some(t) if t.elapsed() < every => false,
        _ => {
            *last = Some(Instant::now());
            true
        }
    }
}

static DEPENDENCIES_CHECKED: Mutex<Option<Instant>> = Mutex::new(None);
static ADOPTION_COUNTED: Mutex<Option<Instant>> = Mutex::new(None);

fn record_dependencies(upstream: bool, esia: bool, store: bool, durable: bool) {
    let m = metrics::get();
    for (name, up) in [
        ("upstream", upstream),
        ("esia", esia),
        ("store", store),
        ("durable_store", durable),
    ] {
        m.dependency_up
            .with_label_values(&[name])
            .set(i64::from(up));
    }
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
async fn upstream_reachable(addr: std::net::SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

impl AdminApp {
    /// The answer to one request (see `report_stream` for how it is sent).
    async fn answer(&self, session: &mut ServerSession) -> Answer {
        let path = session.req_header().uri.path().to_string();
        let query = session.req_header().uri.query().map(str::to_string);
        let host = session
            .req_header()
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| session.req_header().uri.host());
        let token = self.token.load_full();
        if path != "/healthz" && token.is_none() && !access::loopback_host(host) {
            return Answer::Whole(reply(
                403,
                "text/plain; charset=utf-8",
                b"this admin listener answers only requests for localhost (set [admin] token_file to reach it by another name)\n".to_vec(),
            ));
        }
        if path != "/healthz"
            && let Some(token) = &token
            && !token.allows(&session.req_header().headers)
        {
            return Answer::Whole(report_pages::respond(
                401,
                "text/plain; charset=utf-8",
                &[("WWW-Authenticate", access::CHALLENGE.to_string())],
                b"this admin listener needs its token (Authorization: Bearer ...)\n".to_vec(),
            ));
        }
        Answer::Whole(match path.as_str() {
            "/healthz" => reply(200, "text/plain; charset=utf-8", b"ok\n".to_vec()),
            "/reports" | "/reports/" => report_pages::index(),
            "/rehearse-date" => {
                let Some(r) = &self.rehearsal else {
                    return Answer::Whole(reply(
                        404,
                        "text/plain; charset=utf-8",
                        b"not a rehearsal gateway\n".to_vec(),
                    ));
                };
                let query = session.req_header().uri.query().unwrap_or("");
                let date = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "date")
                    .and_then(|(_, v)| chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok());
                match date {
                    Some(d) if session.req_header().method == http::Method::PUT => {
                        r.store(Arc::new(d));
                        tracing::warn!(date = %d, "rehearsal date moved");
                        reply(
                            200,
                            "text/plain; charset=utf-8",
                            format!("{d}\n").into_bytes(),
                        )
                    }
                    _ => reply(
                        400,
                        "text/plain; charset=utf-8",
                        b"use PUT /rehearse-date?date=YYYY-MM-DD\n".to_vec(),
                    ),
                }
            }
            "/readyz" => {
                let (upstream, esia, store, durable) = tokio::join!(
                    upstream_reachable((self.upstream)()),
                    self.esia.reachable(),
                    self.store.ping(),
                    self.store.ping_durable()
                );
                let (store, durable) = (store.is_ok(), durable.is_ok());
                record_dependencies(upstream, esia, store, durable);
                // Ready = this instance can serve the diary. An ESIA outage
                // stops new logins only (they get their page); people
                // already in and allowed password users keep the diary, so
                // a balancer must not drain every instance for it. ESIA's
                // health is `esia_gate_dependency_up{dependency="esia"}`
                // and its own alert. Durable records kept apart (in
                // PostgreSQL) are alike: without them new logins fail, the
                // people already in do not (`durable`, for information).
                let ready = upstream && store;
                let policy = self.policy.load_full().map(|p| {
                    serde_json::json!({
                        "name": p.policy.name,
                        "hash": p.hash,
                        "loaded_at": p.loaded_at,
                    })
                });
                let body = serde_json::json!({
                    "policy": policy,
                    "ready": ready,
                    "upstream": upstream,
                    "esia": esia,
                    "store": store,
                    "durable": durable,
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
                self.refresh_gauges().await;
                reply(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics::get().encode(),
                )
            }
            _ => {
                return match self.report(&path, query.as_deref()).await {
                    Some(r) => r,
                    None => Answer::Whole(reply(
                        404,
                        "text/plain; charset=utf-8",
                        b"not found\n".to_vec(),
                    )),
                };
            }
        })
    }
}

impl AdminApp {
    /// Before a scrape: dependency checks (every 10 s at most) and the
    /// adoption counts (every `admin.adoption_refresh_seconds` at most;
    /// they read the last logins of every directory account, a part at a
    /// time).
    async fn refresh_gauges(&self) {
        if due(&DEPENDENCIES_CHECKED, DEPENDENCY_CHECK_EVERY) {
            let (upstream, esia, store, durable) = tokio::join!(
                upstream_reachable((self.upstream)()),
                self.esia.reachable(),
                self.store.ping(),
                self.store.ping_durable()
            );
            record_dependencies(upstream, esia, store.is_ok(), durable.is_ok());
        }
        if due(&ADOPTION_COUNTED, self.reports.adoption_refresh) {
            let dir = self.directory.load_full();
            match self.adoption_counts(&dir).await {
                Ok(counts) => {
                    let gauge = &metrics::get().adoption_accounts;
                    for (role, state, n) in counts {
                        gauge.with_label_values(&[role.as_str(), state]).set(n);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count ESIA adoption for the metrics");
                    // Try again at the next scrape.
                    if let Ok(mut t) = ADOPTION_COUNTED.lock() {
                        *t = None;
                    }
                }
            }
        }
    }
}
