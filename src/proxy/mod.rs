//! The Pingora glue: one type implementing `ProxyHttp`, each hook doing one
//! visible thing and asking [`crate::auth`] for every decision. The
//! gateway's own routes and the policy's word on diary requests are in
//! `request_filter` (glue in [`gate`] and [`diary`]); identity is set in
//! `upstream_request_filter` ([`upstream`]); the diary's password sessions
//! are learned in `response_filter`; content is inserted in
//! `response_body_filter` ([`page_edit`]); counting is done in `logging`.
//! The connections themselves (caps, header deadline) are kept in
//! [`connections`], around the proxy; only the keep-alive timeout, which
//! Pingora decides per request, is set in `early_request_filter`.

pub mod assertion;
pub mod client_ip;
pub mod connections;
pub mod diary;
pub mod forms;
pub mod gate;
pub mod headers;
pub mod inject;
pub mod page_edit;
pub mod reply;
pub mod upstream;
pub mod upstream_headers;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};

use self::assertion::AssertionSigner;
use self::headers::header_key;
use self::page_edit::BodyEdit;
use self::reply::write_reply;
use crate::auth::guard::Injection;
use crate::auth::password::{DiaryAnswer, LoginAttempt};
use crate::auth::{Auth, Reply};
use crate::config::Resolved;
use crate::esia::EsiaClient;
use crate::identity::Directory;
use crate::pages;
use crate::policy::slot::PolicySlot;
use crate::store::{SessionRecord, Store};
use crate::telemetry::metrics;

pub use crate::clock::{Clock, Rehearsal};

pub struct Gateway {
    cfg: Arc<Resolved>,
    /// The login flows and the policy's word on diary requests.
    auth: Auth,
    /// Swapped when a SIGHUP reads new assertion keys.
    assertion: Arc<ArcSwap<AssertionSigner>>,
    /// Identity header names and client claims
    /// ([`headers::CLIENT_CLAIMS`]) in [`header_key`] form: removed from
    /// every request before the diary sees it.
    identity_keys: HashSet<String>,
    /// The diary's address, kept current in the background.
    upstream: Arc<upstream::Upstream>,
    /// `Host` for the diary: the public origin's, whatever the client sent.
    public_host: String,
    trusted_proxies: Vec<client_ip::Net>,
    /// The region's policy in force (`None`: every route needs ESIA).
    policy: PolicySlot,
    /// `connections.keepalive_timeout_seconds` (`None`: off).
    keepalive: Option<u64>,
    directory_refresh: Arc<tokio::sync::Notify>,
}

static HANDING_OVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The listeners are going (or have gone) to a new process, or this one is
/// stopping: keep-alive ends with the next answer on each connection.
pub fn set_handing_over() {
    HANDING_OVER.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn handing_over() -> bool {
    HANDING_OVER.load(std::sync::atomic::Ordering::Relaxed)
}

/// Per-request state shared by the hooks.
pub struct Ctx {
    request_id: String,
    started: Instant,
    /// Route class for metrics: `gate`, `diary`, or the policy's class.
    route: std::borrow::Cow<'static, str>,
    session: Option<SessionRecord>,
    session_id: String,
    /// The request's `Cookie` headers, joined.
    cookies: String,
    /// A diary login form submission passed on under a policy: its answer
    /// tells whether to learn a password session.
    login_form: Option<LoginAttempt>,
    /// What to insert into the diary's HTML answer.
    injection: Injection,
    /// The answer's body, collected while it is being changed.
    body: Option<BodyEdit>,
    /// When the request went to the diary.
    upstream_sent: Option<Instant>,
    /// The diary's own «Выйти»: the gateway session has ended, the answer
    /// clears its cookie and goes through ESIA's logout.
    logging_out: bool,
}

/// What a gateway is built from (opened and checked by `app`).
pub struct Parts {
    pub esia: Arc<EsiaClient>,
    pub store: Arc<dyn Store>,
    pub directory: Arc<ArcSwap<Directory>>,
    pub assertion: AssertionSigner,
    /// Wakes the directory's refresher for a load now (SIGHUP).
    pub directory_refresh: Arc<tokio::sync::Notify>,
    pub policy: PolicySlot,
    pub clock: Clock,
    pub upstream: Arc<upstream::Upstream>,
}

impl Gateway {
    pub fn new(cfg: Resolved, parts: Parts) -> Self {
        let Parts {
            esia,
            store,
            directory,
            assertion,
            directory_refresh,
            policy,
            clock,
            upstream,
        } = parts;
        let cfg = Arc::new(cfg);
        let trusted_proxies = cfg
            .settings
            .gateway
            .trusted_proxies
            .iter()
            .filter_map(|p| client_ip::Net::parse(p).ok())
            .collect();
        let identity_keys = cfg
            .settings
            .identity_headers
            .all()
            .iter()
            .map(|h| header_key(h))
            .chain(headers::CLIENT_CLAIMS.iter().map(|h| h.to_string()))
            .collect();
        let public_host = match (cfg.public_url.host_str(), cfg.public_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => upstream.sni.clone(),
        };
        let keepalive = connections::keepalive(&cfg.settings.connections);
        let auth =
            Auth::new(cfg.clone(), esia, store, directory, clock).with_policy(policy.clone());
        Self {
            keepalive,
            cfg,
            auth,
            assertion: Arc::new(ArcSwap::from_pointee(assertion)),
            directory_refresh,
            identity_keys,
            upstream,
            public_host,
            trusted_proxies,
            policy,
        }
    }

    pub fn esia(&self) -> &Arc<EsiaClient> {
        self.auth.esia()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.auth.store()
    }

    pub fn rehearsal(&self) -> Option<&Rehearsal> {
        self.auth.rehearsal()
    }

    /// The signer of the identity assertion, swapped on reload.
    pub fn assertion_slot(&self) -> &Arc<ArcSwap<AssertionSigner>> {
        &self.assertion
    }

    /// Wakes the directory's refresher for a load now.
    pub fn directory_refresh(&self) -> &Arc<tokio::sync::Notify> {
        &self.directory_refresh
    }

    pub fn policy_slot(&self) -> &PolicySlot {
        &self.policy
    }

    pub fn upstream(&self) -> &Arc<upstream::Upstream> {
        &self.upstream
    }

    /// The directory in use (swapped on reload), for the admin reports.
    pub fn directory(&self) -> &Arc<ArcSwap<Directory>> {
        self.auth.directory()
    }

    pub fn clock(&self) -> &Clock {
        self.auth.clock()
    }

    /// The request's `Cookie` headers, joined.
    fn cookies(req: &RequestHeader) -> String {
        let mut values = req
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let mut joined = values.next().unwrap_or_default().to_string();
        for v in values {
            joined.push_str("; ");
            joined.push_str(v);
        }
        joined
    }

    /// The browser's address (see [`client_ip`]).
    fn client_of(&self, session: &Session) -> String {
        let Some(peer) = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip())
        else {
            return "unknown".into();
        };
        let xff = session
            .req_header()
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        client_ip::client_ip(peer, xff, &self.trusted_proxies).to_string()
    }
}

/// A response header's value as text.
fn header_text(resp: &ResponseHeader, name: http::HeaderName) -> Option<String> {
    resp.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            // A v4 UUID from the thread's generator: `Uuid::new_v4` asks
            // the kernel (a `getrandom` call) for every request.
            request_id: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .simple()
                .to_string(),
            started: Instant::now(),
            route: "diary".into(),
            session: None,
            session_id: String::new(),
            cookies: String::new(),
            login_form: None,
            injection: Injection::default(),
            body: None,
            upstream_sent: None,
            logging_out: false,
        }
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<()> {
        connections::apply_keepalive(session, self.keepalive);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if let Some(route) = crate::auth::routes::GateRoute::of(session.req_header().uri.path()) {
            ctx.route = "gate".into();
            self.gate_route(session, ctx, route).await?;
            return Ok(true);
        }
        match self.diary_request(session, ctx).await {
            None => Ok(false),
            Some(reply) => {
                write_reply(session, reply, &ctx.request_id, &self.cfg.settings.help).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // An address, never a name: no DNS on a request's way.
        let mut peer = HttpPeer::new(
            self.upstream.addr(),
            self.upstream.tls,
            self.upstream.sni.clone(),
        );
        let u = &self.cfg.settings.upstream;
        peer.options.connection_timeout = Some(Duration::from_secs(u.connect_timeout_seconds));
        if let Some(ca) = &self.upstream.ca {
            peer.options.ca = Some(ca.clone());
        }
        peer.options.read_timeout = Some(Duration::from_secs(u.read_timeout_seconds));
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let client = self.client_of(session);
        self.set_upstream_headers(upstream, &client, ctx)?;
        let now = Instant::now();
        metrics::get()
            .proxy_overhead
            .observe(now.duration_since(ctx.started).as_secs_f64());
        ctx.upstream_sent = Some(now);
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if session.is_process_shutting_down() || handing_over() {
            // Handing over to a new process: tell the client not to reuse
            // this connection, so its next request goes to the new one.
            resp.insert_header(http::header::CONNECTION, "close")?;
            session.set_keepalive(None);
        }
        if let Some(t) = ctx.upstream_sent.take() {
            metrics::get()
                .upstream_duration
                .observe(t.elapsed().as_secs_f64());
        }
        if ctx.session.as_ref().is_some_and(|s| s.active.is_some())
            && !resp.headers.contains_key(http::header::CACHE_CONTROL)
        {
            // The diary answered a person named in headers a shared cache
            // does not see: without a word from the diary, only this
            // browser may keep the page.
            resp.insert_header(http::header::CACHE_CONTROL, "private")?;
        }
        if ctx.logging_out {
            for c in self.auth.logout_cookies() {
                resp.append_header(http::header::SET_COOKIE, c)?;
            }
            if resp.status.is_redirection() {
                resp.insert_header(http::header::LOCATION, self.auth.logout_location())?;
            }
        }
        if let Some(attempt) = &ctx.login_form {
            let set_cookies: Vec<String> = resp
                .headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let location = header_text(resp, http::header::LOCATION);
            let answer = DiaryAnswer {
                status: resp.status.as_u16(),
                location: location.as_deref(),
                set_cookies: &set_cookies,
            };
            self.auth
                .learn_password_session(attempt, &ctx.cookies, &answer, &ctx.request_id)
                .await;
        }
        if ctx.injection.any()
            && resp.status.as_u16() == 200
            && session.req_header().method != http::Method::HEAD
        {
            let http10 = session.req_header().version == http::Version::HTTP_10;
            self.start_page_edit(resp, ctx, !http10)?;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        page_edit::edit_body(ctx, body, end_of_stream)?;
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let kind = match e.esource() {
            ErrorSource::Upstream => "upstream",
            ErrorSource::Downstream => "downstream",
            _ => "internal",
        };
        if kind == "downstream" {
            // The browser went away; nothing to answer.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        tracing::warn!(request_id = %ctx.request_id, error = %e, kind, "request could not be proxied");
        metrics::get()
            .upstream_errors
            .with_label_values(&[kind])
            .inc();
        if session.response_written().is_some() {
            // Part of the diary's answer is out: cut it off (the connection
            // closes) rather than append an error page to it.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let page = if kind == "upstream" {
            pages::diary_unavailable()
        } else {
            pages::internal_error()
        };
        let status = page.status;
        if let Err(we) = write_reply(
            session,
            Reply::page(page),
            &ctx.request_id,
            &self.cfg.settings.help,
        )
        .await
        {
            tracing::debug!(request_id = %ctx.request_id, error = %we, "could not write the error page");
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    /// What Pingora's own warnings and errors name the request by. Its
    /// default is the method, the whole path with the query and the host:
    /// the callback's query carries ESIA's `code` and `state`, and a
    /// diary's query may carry anything.
    fn request_summary(&self, session: &Session, ctx: &Ctx) -> String {
        let req = session.req_header();
        // `Uri::path` stops before the `?`.
        format!(
            "{} {}, request_id: {}",
            req.method,
            req.uri.path(),
            ctx.request_id
        )
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let m = metrics::get();
        m.requests
            .with_label_values(&[&*ctx.route, status_class(status)])
            .inc();
        m.request_duration
            .with_label_values(&[&*ctx.route])
            .observe(ctx.started.elapsed().as_secs_f64());
        // An access line for debugging: no query, no header, no cookie.
        tracing::debug!(request_id = %ctx.request_id, method = %session.req_header().method,
            route = %ctx.route, status, millis = ctx.started.elapsed().as_millis(), "request done");
    }
}

/// Status codes as a bounded label: the exact code for the common ones.
fn status_class(s: u16) -> &'static str {
    match s {
        200 => "200",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        0 => "none",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}
