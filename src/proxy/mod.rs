//! The Pingora glue: one type implementing `ProxyHttp`, each hook doing one
//! visible thing and calling into the modules beside it. The gateway's own
//! routes (login, callback, accounts, linking, children) and the policy's
//! decision are in `request_filter`; identity is set in
//! `upstream_request_filter`; the diary's password sessions are learned in
//! `response_filter`; content is inserted in `response_body_filter`;
//! counting is done in `logging`. The connections themselves (caps, header
//! deadline) are kept in [`connections`], around the proxy; only the
//! keep-alive timeout, which Pingora decides per request, is set in
//! `early_request_filter`.

pub mod accounts;
pub mod assertion;
pub mod client_ip;
pub mod connections;
pub mod diary_check;
pub mod diary_forms;
pub mod enforce;
pub mod forms;
pub mod gate;
pub mod headers;
pub mod inject;
pub mod login;
pub mod return_to;
pub mod upstream;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};

use self::accounts::Current;
use self::assertion::AssertionSigner;
use self::diary_check::DiaryChecker;
use self::gate::write_reply;
use self::headers::{cookie_value, header_key, strip_cookies};
use self::login::{BINDING_COOKIE, Reply};
use crate::config::{GATE_PREFIX, Resolved};
use crate::esia::EsiaClient;
use crate::identity::{Directory, LegacyLogin};
use crate::pages;
use crate::policy::slot::PolicySlot;
use crate::store::{Idle, SessionRecord, Store};
use crate::telemetry::metrics;

pub use crate::clock::{Clock, Rehearsal};

pub struct Gateway {
    cfg: Resolved,
    esia: Arc<EsiaClient>,
    store: Arc<dyn Store>,
    directory: Arc<ArcSwap<Directory>>,
    assertion: AssertionSigner,
    /// Identity header names and client claims
    /// ([`headers::CLIENT_CLAIMS`]) in [`header_key`] form: removed from
    /// every request before the diary sees it.
    identity_keys: HashSet<String>,
    upstream_addr: String,
    upstream_tls: bool,
    upstream_host: String,
    /// `Host` for the diary: the public origin's, whatever the client sent.
    public_host: String,
    /// Checks diary logins and passwords; `None` when linking is off.
    checker: Option<DiaryChecker>,
    trusted_proxies: Vec<client_ip::Net>,
    /// The region's policy in force (`None`: every route needs ESIA).
    policy: PolicySlot,
    /// Decide as if it were this date (staging rehearsals only; the admin
    /// listener can move it).
    rehearse_date: Option<Rehearsal>,
    /// `connections.keepalive_timeout_seconds` (`None`: off).
    keepalive: Option<u64>,
    clock: Clock,
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
    /// The diary session's login, when the gateway knows it.
    password_session: Option<LegacyLogin>,
    /// The login named in a diary login form submission.
    password_attempt: Option<LegacyLogin>,
    /// The request is a diary login form submission passed on under a
    /// policy: its answer tells whether to learn a password session.
    login_form: bool,
    /// The request's path, against which a relative `Location` of the
    /// diary's answer is read.
    login_path: String,
    /// What to insert into the diary's HTML answer.
    injection: enforce::Injection,
    /// The answer's body, collected while it is being changed.
    body: Option<BodyEdit>,
    /// When the request went to the diary.
    upstream_sent: Option<Instant>,
    /// The diary's own «Выйти»: the gateway session has ended, the answer
    /// clears its cookie and goes through ESIA's logout.
    logging_out: bool,
}

/// A diary answer whose body is being collected to insert content.
pub struct BodyEdit {
    buf: Vec<u8>,
    content_type: Option<String>,
    content_encoding: Option<String>,
}

impl Gateway {
    pub fn new(
        cfg: Resolved,
        esia: Arc<EsiaClient>,
        store: Arc<dyn Store>,
        directory: Arc<ArcSwap<Directory>>,
        assertion: AssertionSigner,
        policy: PolicySlot,
        clock: Clock,
    ) -> Self {
        let trusted_proxies = cfg
            .settings
            .gateway
            .trusted_proxies
            .iter()
            .filter_map(|p| client_ip::Net::parse(p).ok())
            .collect();
        let cfg_rehearse = cfg
            .settings
            .policy
            .as_ref()
            .and_then(|p| p.rehearse_date)
            .map(|d| Arc::new(ArcSwap::from_pointee(d)));
        let identity_keys = cfg
            .settings
            .identity_headers
            .all()
            .iter()
            .map(|h| header_key(h))
            .chain(headers::CLIENT_CLAIMS.iter().map(|h| h.to_string()))
            .collect();
        let u = &cfg.upstream_url;
        let upstream_tls = u.scheme() == "https";
        let upstream_host = u.host_str().unwrap_or("localhost").to_string();
        let port = u.port_or_known_default().unwrap_or(80);
        let checker = match (&cfg.settings.diary_login, &cfg.success_rule) {
            (Some(d), Some(rule)) => {
                let url = cfg
                    .upstream_url
                    .join(&d.url)
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| d.url.clone());
                DiaryChecker::new(
                    url,
                    d.login_field.clone(),
                    d.password_field.clone(),
                    rule.clone(),
                    Duration::from_secs(d.timeout_seconds),
                )
                .map_err(|e| tracing::error!(error = %e, "manual linking disabled"))
                .ok()
            }
            _ => None,
        };
        let public_host = match (cfg.public_url.host_str(), cfg.public_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => upstream_host.clone(),
        };
        let upstream_addr = if upstream_host.contains(':') {
            format!("[{upstream_host}]:{port}")
        } else {
            format!("{upstream_host}:{port}")
        };
        let keepalive = connections::keepalive(&cfg.settings.connections);
        Self {
            keepalive,
            cfg,
            esia,
            store,
            directory,
            assertion,
            identity_keys,
            upstream_addr,
            upstream_tls,
            upstream_host,
            public_host,
            checker,
            trusted_proxies,
            policy,
            rehearse_date: cfg_rehearse,
            clock,
        }
    }

    pub fn esia(&self) -> &Arc<EsiaClient> {
        &self.esia
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn rehearsal(&self) -> Option<&Rehearsal> {
        self.rehearse_date.as_ref()
    }

    pub fn policy_slot(&self) -> &PolicySlot {
        &self.policy
    }

    pub fn upstream_addr(&self) -> &str {
        &self.upstream_addr
    }

    /// The directory in use (swapped on reload), for the admin reports.
    pub fn directory(&self) -> &Arc<ArcSwap<Directory>> {
        &self.directory
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn cookies(req: &RequestHeader) -> String {
        req.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The gateway session the request's cookies name, if it is alive.
    async fn current(&self, cookies: &str, request_id: &str) -> Option<Current> {
        let id = cookie_value(cookies, &self.cfg.settings.session.cookie_name)?.to_string();
        if id.is_empty() || id.len() > 128 {
            return None;
        }
        match self.store.get_session(&id).await {
            Ok(Some(record)) => self.idle_check(Current { id, record }, request_id).await,
            Ok(None) => None,
            Err(e) => {
                tracing::error!(request_id, error = %e, "session look-up failed");
                None
            }
        }
    }

    /// End a session unused longer than `session.idle_seconds` (a parent
    /// who walked away from a school computer without «Выйти»); note use of
    /// a live one once a minute at most.
    async fn idle_check(&self, mut current: Current, request_id: &str) -> Option<Current> {
        let s = &self.cfg.settings.session;
        let now = (self.clock)().timestamp();
        match current.record.idle(now, s.idle_seconds) {
            Idle::Fresh => Some(current),
            Idle::Touch => {
                current.record.last_seen = now;
                let left = current
                    .record
                    .created_at
                    .saturating_add(i64::try_from(s.ttl_seconds).unwrap_or(i64::MAX))
                    .saturating_sub(now)
                    .max(1);
                let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(1));
                if let Err(e) = self
                    .store
                    .put_session(&current.id, &current.record, ttl)
                    .await
                {
                    // The session still works; only its idle clock did not move.
                    tracing::warn!(request_id, error = %e, "cannot note the session's use");
                }
                Some(current)
            }
            Idle::Expired => {
                if let Err(e) = self.store.delete_session(&current.id).await {
                    tracing::error!(request_id, error = %e, "cannot delete an idle session");
                }
                metrics::get()
                    .logins
                    .with_label_values(&["idle_expired"])
                    .inc();
                tracing::info!(target: "audit", event = "logout", request_id, outcome = "idle",
                    login = %current.record.active.as_ref().map_or("-", |l| l.0.as_str()),
                    oid = %current.record.oid.0);
                None
            }
        }
    }

    /// Navigation (a person on a page) or an API call (a script)?
    fn is_navigation(req: &RequestHeader) -> bool {
        let h = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let mode = h("sec-fetch-mode");
        if !mode.is_empty() {
            return mode == "navigate";
        }
        let accept = h("accept");
        let wants_json = accept.contains("application/json") && !accept.contains("text/html");
        !wants_json && h("x-requested-with").is_empty()
    }

    /// People with several accounts or children see where to switch.
    fn set_account_bar(&self, ctx: &mut Ctx) {
        let Some(s) = &ctx.session else { return };
        let accounts = s.accounts.len() > 1;
        let children = !s.children.is_empty();
        if s.active.is_none() || !(accounts || children) {
            return;
        }
        let role = s.role.map(|r| r.russian()).unwrap_or("учётная запись");
        let child = s.child.as_ref().map(|c| {
            self.directory
                .load()
                .by_login(&c.0)
                .map(|a| format!("{} {}", a.first_name, a.last_name))
                .unwrap_or_else(|| c.0.clone())
        });
        ctx.injection.account_bar = Some(pages::account_bar(
            &s.display_name,
            role,
            child.as_deref(),
            accounts,
            children,
            &s.csrf,
        ));
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

    fn is_diary_logout(&self, req: &RequestHeader) -> bool {
        self.cfg
            .settings
            .upstream
            .logout_path
            .as_deref()
            .is_some_and(|p| diary_forms::is_logout(p, req.uri.path(), req.uri.query()))
    }

    fn strip_identity(&self, req: &mut RequestHeader) {
        let doomed: Vec<http::HeaderName> = req
            .headers
            .keys()
            .filter(|k| {
                // Header names arrive lower-cased; only `_` spellings need
                // rewriting (no allocation for the usual header).
                let name = k.as_str();
                if name.contains('_') {
                    self.identity_keys.contains(&header_key(name))
                } else {
                    self.identity_keys.contains(name)
                }
            })
            .cloned()
            .collect();
        for name in doomed {
            req.remove_header(&name);
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            started: Instant::now(),
            route: "diary".into(),
            session: None,
            session_id: String::new(),
            cookies: String::new(),
            password_session: None,
            password_attempt: None,
            login_form: false,
            login_path: String::new(),
            injection: enforce::Injection::default(),
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
        let path = session.req_header().uri.path();
        if path
            .strip_prefix(GATE_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            ctx.route = "gate".into();
            self.gate_route(session, ctx).await?;
            return Ok(true);
        }
        // Read once: the session look-up and the policy both need them.
        ctx.cookies = Self::cookies(session.req_header());
        if let Some(c) = self.current(&ctx.cookies, &ctx.request_id).await {
            ctx.session_id = c.id;
            ctx.session = Some(c.record);
        }
        if ctx.session.is_some() && self.is_diary_logout(session.req_header()) {
            // Passed on (the diary ends its own session), never blocked.
            self.end_session(&ctx.cookies, &ctx.request_id, "diary")
                .await;
            ctx.logging_out = true;
            return Ok(false);
        }
        let unfinished = match &ctx.session {
            Some(s) if s.active.is_none() => Some(self.next_step(s)),
            _ => None,
        };
        let req = session.req_header();
        let reply = if let Some(step) = unfinished.filter(|_| Self::is_navigation(req)) {
            // Logged in at ESIA, but no account chosen or linked yet.
            Reply::Redirect {
                location: step,
                cookies: Vec::new(),
            }
        } else if let Some(p) = self.policy.load_full() {
            match self.enforce(session, ctx, &p).await {
                None => {
                    self.set_account_bar(ctx);
                    return Ok(false);
                }
                Some(reply) => reply,
            }
        } else if ctx.session.as_ref().is_some_and(|s| s.active.is_some()) {
            self.set_account_bar(ctx);
            return Ok(false);
        } else if Self::is_navigation(req) {
            // Without a policy every diary route needs a gateway session.
            let target = req
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            Reply::Redirect {
                location: pages::login_href(&target),
                cookies: Vec::new(),
            }
        } else {
            Reply::Json {
                status: 401,
                body: serde_json::json!({
                    "error": "unauthorized",
                    "login": pages::login_href("/"),
                })
                .to_string(),
            }
        };
        let rid = ctx.request_id.clone();
        write_reply(session, reply, &rid).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(
            self.upstream_addr.as_str(),
            self.upstream_tls,
            self.upstream_host.clone(),
        );
        let u = &self.cfg.settings.upstream;
        peer.options.connection_timeout = Some(Duration::from_secs(u.connect_timeout_seconds));
        peer.options.read_timeout = Some(Duration::from_secs(u.read_timeout_seconds));
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Identity and client claims go first, in every spelling: the diary
        // learns the client as the gateway determined it, never as the
        // client claimed it.
        self.strip_identity(upstream);
        let client = self.client_of(session);
        upstream.insert_header("X-Real-IP", client.as_str())?;
        upstream.insert_header("X-Forwarded-For", client)?;
        upstream.insert_header("X-Forwarded-Host", self.public_host.as_str())?;
        upstream.insert_header("X-Forwarded-Proto", self.cfg.public_url.scheme())?;
        // The diary builds links (and password-reset mails) from `Host`:
        // it hears the public origin, never a client-chosen host.
        upstream.insert_header(http::header::HOST, self.public_host.as_str())?;
        let cookies = Self::cookies(upstream);
        upstream.remove_header(&http::header::COOKIE);
        let ours = [
            self.cfg.settings.session.cookie_name.as_str(),
            BINDING_COOKIE,
        ];
        if let Some(kept) = strip_cookies(&cookies, &ours) {
            upstream.insert_header(http::header::COOKIE, kept)?;
        }
        upstream.insert_header("X-Request-Id", ctx.request_id.as_str())?;
        if let Some(s) = &ctx.session
            && let (Some(login), Some(role)) = (&s.active, s.role)
        {
            let h = &self.cfg.settings.identity_headers;
            upstream.insert_header(h.user.clone(), login.0.as_str())?;
            upstream.insert_header(h.oid.clone(), s.oid.0.as_str())?;
            upstream.insert_header(h.method.clone(), "esia")?;
            upstream.insert_header(h.trusted.clone(), if s.trusted { "true" } else { "false" })?;
            upstream.insert_header(h.role.clone(), role.as_str())?;
            if let Some(child) = &s.child {
                upstream.insert_header(h.child.clone(), child.0.as_str())?;
            }
            let jwt = self.assertion.sign_cached(
                &ctx.session_id,
                (self.clock)().timestamp(),
                assertion::Subject {
                    login: &login.0,
                    oid: &s.oid.0,
                    trusted: s.trusted,
                    role: role.as_str(),
                    child: s.child.as_ref().map(|c| c.0.as_str()),
                },
            );
            upstream.insert_header(h.assertion.clone(), jwt)?;
        }
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
            for c in self.logout_cookies() {
                resp.append_header(http::header::SET_COOKIE, c)?;
            }
            if resp.status.is_redirection() {
                resp.insert_header(http::header::LOCATION, self.logout_location())?;
            }
        }
        if ctx.login_form {
            self.learn_password_session(resp, ctx).await;
        }
        let inj = &ctx.injection;
        if inj.any() && resp.status.as_u16() == 200 {
            let header = |n: http::HeaderName| {
                resp.headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_type = header(http::header::CONTENT_TYPE);
            let content_encoding = header(http::header::CONTENT_ENCODING);
            if content_type.is_some()
                && inject::wants_injection(content_type.as_deref(), content_encoding.as_deref())
            {
                // The new length is known only at the end: the answer goes
                // out chunked (HTTP/1.1) or framed (HTTP/2) instead.
                resp.remove_header(&http::header::CONTENT_LENGTH);
                resp.remove_header(&http::header::ETAG);
                ctx.body = Some(BodyEdit {
                    buf: Vec::new(),
                    content_type,
                    content_encoding,
                });
            }
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
        let Some(edit) = ctx.body.as_mut() else {
            return Ok(None);
        };
        if let Some(chunk) = body.take() {
            edit.buf.extend_from_slice(&chunk);
        }
        if edit.buf.len() > inject::MAX_DECODED_BODY {
            // Too large to change safely: let the rest through unchanged.
            let whole = std::mem::take(&mut edit.buf);
            ctx.body = None;
            *body = Some(Bytes::from(whole));
            return Ok(None);
        }
        if !end_of_stream {
            return Ok(None);
        }
        let Some(edit) = ctx.body.take() else {
            return Ok(None);
        };
        let inj = &ctx.injection;
        let mut out = edit.buf;
        let steps = [
            inj.account_bar.clone().map(|b| (b, None)),
            inj.banner
                .as_deref()
                .map(|b| (inject::banner_snippet(b), None)),
            inj.esia_button.then(|| {
                (
                    inject::esia_button_snippet(&pages::login_href("/")),
                    Some(inj.button_after.clone()),
                )
            }),
        ];
        for (snippet, after) in steps.into_iter().flatten() {
            let place = match &after {
                None => inject::Place::AfterBodyOpen,
                Some(Some(marker)) => inject::Place::After(marker),
                Some(None) => inject::Place::BeforeBodyClose,
            };
            match inject::inject_html(
                &out,
                edit.content_type.as_deref(),
                edit.content_encoding.as_deref(),
                &snippet,
                place,
            ) {
                Ok(inject::Injected::Changed { body }) => out = body,
                Ok(inject::Injected::Unchanged(why)) => {
                    tracing::debug!(request_id = %ctx.request_id, ?why, "page left unchanged");
                }
                Err(e) => {
                    tracing::warn!(request_id = %ctx.request_id, error = %e, "cannot insert into the diary's page; sent unchanged");
                }
            }
        }
        *body = Some(Bytes::from(out));
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
        let page = if kind == "upstream" {
            pages::diary_unavailable()
        } else {
            pages::internal_error()
        };
        let status = page.status;
        let rid = ctx.request_id.clone();
        let reply = Reply::Page {
            page,
            cookies: Vec::new(),
        };
        if let Err(we) = write_reply(session, reply, &rid).await {
            tracing::debug!(request_id = %rid, error = %we, "could not write the error page");
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
