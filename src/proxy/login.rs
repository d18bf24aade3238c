//! The login way: start (pending login, browser binding, redirect to ESIA)
//! and callback (state and binding, ESIA's answer, match, session). Each
//! step returns a [`Reply`]; the Pingora glue only writes it.

use std::time::{Duration, Instant};

use cookie::{Cookie, SameSite};

use super::Gateway;
use super::accounts::{Current, unmatched_text};
use super::headers::cookie_value;
use super::return_to::safe_return_path;
use crate::config::GATE_PREFIX;
use crate::esia::EsiaError;
use crate::esia::protocol::{self, codes};
use crate::identity::MatchOutcome;
use crate::pages::{self, Page};
use crate::store::{PendingLogin, SessionRecord, random_id};
use crate::telemetry::metrics;

/// The cookie binding a pending login to the browser that started it.
pub const BINDING_COOKIE: &str = "esia_gate_login";

/// What the gateway answers to one of its own routes.
pub enum Reply {
    Redirect {
        location: String,
        cookies: Vec<String>,
    },
    Page {
        page: Page,
        cookies: Vec<String>,
    },
    Json {
        status: u16,
        body: String,
    },
    /// A configured answer (the policy's `rewrite`).
    Raw {
        status: u16,
        content_type: String,
        body: bytes::Bytes,
    },
}

impl Reply {
    fn page(page: Page) -> Self {
        Reply::Page {
            page,
            cookies: Vec::new(),
        }
    }
}

/// Query parameters, decoded once.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Gateway {
    pub(crate) fn cookie(
        &self,
        name: &str,
        value: String,
        path: &str,
        max_age: Duration,
    ) -> String {
        Cookie::build((name.to_string(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.cfg.secure_cookies)
            .path(path.to_string())
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build()
            .to_string()
    }

    pub(crate) fn expired_cookie(&self, name: &str, path: &str) -> String {
        self.cookie(name, String::new(), path, Duration::ZERO)
    }

    fn audit(&self, event: &str, request_id: &str, outcome: &str) {
        tracing::info!(target: "audit", event, request_id, outcome);
    }

    /// `/esia-gate/login?return_to=/path`: remember where the user was going,
    /// bind the login to this browser, and send it to ESIA.
    pub async fn start_login(&self, query: Option<&str>, request_id: &str) -> Reply {
        let return_to = query_param(query, "return_to")
            .and_then(|r| safe_return_path(&r, &self.cfg.public_url))
            .unwrap_or_else(|| self.cfg.settings.gateway.default_return.clone());
        let state = uuid::Uuid::new_v4().to_string();
        let binding = random_id();
        let ttl = Duration::from_secs(self.cfg.settings.session.login_ttl_seconds);
        let pending = PendingLogin {
            return_to,
            binding: binding.clone(),
            created_at: (self.clock)().timestamp(),
        };
        if let Err(e) = self.store.put_pending(&state, &pending, ttl).await {
            tracing::error!(request_id, error = %e, "cannot store a pending login");
            metrics::get()
                .logins
                .with_label_values(&["store_error"])
                .inc();
            return Reply::page(pages::esia_unavailable());
        }
        let url = match self
            .esia
            .authorization_url(&state, (self.clock)().fixed_offset())
            .await
        {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(request_id, error = %e, "cannot build the ESIA authorization URL");
                metrics::get()
                    .esia_errors
                    .with_label_values(&[
                        e.endpoint(),
                        e.label(),
                        crate::esia::protocol::codes::label(e.code()),
                    ])
                    .inc();
                return Reply::page(pages::internal_error());
            }
        };
        metrics::get().logins.with_label_values(&["started"]).inc();
        self.audit("login_started", request_id, "redirected_to_esia");
        Reply::Redirect {
            location: url,
            cookies: vec![self.cookie(BINDING_COOKIE, binding, GATE_PREFIX, ttl)],
        }
    }

    fn fail(&self, request_id: &str, outcome: &'static str, page: Page) -> Reply {
        metrics::get().logins.with_label_values(&[outcome]).inc();
        self.audit("login_result", request_id, outcome);
        Reply::Page {
            page,
            cookies: vec![self.expired_cookie(BINDING_COOKIE, GATE_PREFIX)],
        }
    }

    /// `/esia-gate/callback`: ESIA sends the browser back here.
    pub async fn callback(&self, query: Option<&str>, cookies: &str, request_id: &str) -> Reply {
        let Some(state) = query_param(query, "state").filter(|s| !s.is_empty()) else {
            tracing::warn!(request_id, "callback without state");
            return self.fail(request_id, "bad_state", pages::login_expired());
        };
        let pending = match self.store.take_pending(&state).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::warn!(
                    request_id,
                    "callback with an unknown, used or expired state"
                );
                return self.fail(request_id, "bad_state", pages::login_expired());
            }
            Err(e) => {
                tracing::error!(request_id, error = %e, "store failed at callback");
                return self.fail(request_id, "store_error", pages::esia_unavailable());
            }
        };
        // The state alone could have been carried to another browser (login
        // CSRF): the binding cookie proves this browser started the login.
        if cookie_value(cookies, BINDING_COOKIE) != Some(pending.binding.as_str()) {
            tracing::warn!(
                request_id,
                "callback from a browser that did not start the login"
            );
            return self.fail(request_id, "bad_binding", pages::login_expired());
        }
        if let Some(error) = query_param(query, "error") {
            let desc = query_param(query, "error_description").unwrap_or_default();
            let code = protocol::error_code(&desc).unwrap_or("none").to_string();
            metrics::get()
                .esia_errors
                .with_label_values(&[
                    "ac",
                    "esia_error",
                    crate::esia::protocol::codes::label(&code),
                ])
                .inc();
            tracing::info!(request_id, error = %error, code = %code, "ESIA returned an error to the callback");
            return if code == codes::CONSENT_REFUSED {
                self.fail(request_id, "consent_refused", pages::consent_refused())
            } else {
                self.fail(request_id, "esia_error", pages::esia_refused(&code))
            };
        }
        let Some(code) = query_param(query, "code").filter(|c| !c.is_empty()) else {
            tracing::warn!(request_id, "callback without code or error");
            return self.fail(request_id, "bad_callback", pages::login_expired());
        };
        let started = Instant::now();
        let result = self
            .esia
            .complete_login(&code, (self.clock)().fixed_offset())
            .await;
        metrics::get()
            .esia_duration
            .with_label_values(&["te"])
            .observe(started.elapsed().as_secs_f64());
        let person = match result {
            Ok(r) => r.person,
            Err(e) => return self.esia_failed(request_id, e),
        };
        let found = match self.find_accounts(&person, request_id).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(request_id, error = %e, "store failed while finding accounts");
                return self.fail(request_id, "store_error", pages::esia_unavailable());
            }
        };
        metrics::get()
            .matches
            .with_label_values(&[found.outcome.label()])
            .inc();
        tracing::info!(target: "audit", event = "match", request_id, oid = %person.oid,
            outcome = found.outcome.label(), accounts = found.own.len());
        if found.own.is_empty() {
            self.remember_failure(&person, &found.outcome).await;
            tracing::info!(request_id, oid = %person.oid, outcome = found.outcome.label(), "no diary account for the ESIA person");
            if self.checker.is_none() {
                let page = match found.outcome {
                    MatchOutcome::NoSnilsFromEsia => pages::no_snils(),
                    _ => pages::no_match(unmatched_text(found.outcome.label())),
                };
                return self.fail(request_id, "no_match", page);
            }
        }
        let mut record = SessionRecord {
            oid: person.oid.clone(),
            trusted: person.trusted,
            accounts: found.own,
            children: found.children,
            display_name: format!("{} {}", person.first_name, person.last_name),
            created_at: (self.clock)().timestamp(),
            return_to: Some(pending.return_to),
            csrf: random_id(),
            ..SessionRecord::default()
        };
        if record.accounts.is_empty() {
            record.unmatched_reason = Some(found.outcome.label().to_string());
        }
        if let [only] = record.accounts.as_slice() {
            let only = only.clone();
            self.activate(&mut record, &only, request_id).await;
        }
        let current = Current {
            id: random_id(),
            record,
        };
        if let Err(e) = self.save(&current).await {
            tracing::error!(request_id, error = %e, "cannot store the new session");
            return self.fail(request_id, "store_error", pages::esia_unavailable());
        }
        let outcome = match (&current.record.active, current.record.accounts.len()) {
            (Some(_), _) => "success",
            (None, 0) => "needs_link",
            (None, _) => "needs_choice",
        };
        metrics::get().logins.with_label_values(&[outcome]).inc();
        tracing::info!(target: "audit", event = "login_result", request_id, outcome,
            oid = %person.oid, trusted = person.trusted,
            login = %current.record.active.as_ref().map(|l| l.0.as_str()).unwrap_or("-"));
        let ttl = Duration::from_secs(self.cfg.settings.session.ttl_seconds);
        Reply::Redirect {
            location: self.absolute(&self.next_step(&current.record)),
            cookies: vec![
                self.cookie(&self.cfg.settings.session.cookie_name, current.id, "/", ttl),
                self.expired_cookie(BINDING_COOKIE, GATE_PREFIX),
            ],
        }
    }

    fn esia_failed(&self, request_id: &str, e: EsiaError) -> Reply {
        metrics::get()
            .esia_errors
            .with_label_values(&[
                e.endpoint(),
                e.label(),
                crate::esia::protocol::codes::label(e.code()),
            ])
            .inc();
        tracing::warn!(request_id, error = %e, endpoint = e.endpoint(), "ESIA login could not be completed");
        match &e {
            EsiaError::Timeout { .. } | EsiaError::Unreachable { .. } => {
                self.fail(request_id, "esia_unavailable", pages::esia_unavailable())
            }
            EsiaError::Status { status, .. } if *status >= 500 => {
                self.fail(request_id, "esia_unavailable", pages::esia_unavailable())
            }
            EsiaError::Protocol { code, .. } if code == codes::BAD_CODE => {
                self.fail(request_id, "bad_code", pages::login_expired())
            }
            EsiaError::Protocol { code, .. } => {
                let code = code.clone();
                self.fail(request_id, "esia_error", pages::esia_refused(&code))
            }
            EsiaError::Token(_) | EsiaError::StateMismatch | EsiaError::BadAnswer { .. } => {
                self.fail(request_id, "bad_token", pages::login_not_verified())
            }
            EsiaError::Status { .. } => {
                self.fail(request_id, "esia_error", pages::esia_refused("HTTP"))
            }
            EsiaError::Signing(_) => {
                self.fail(request_id, "signing_error", pages::internal_error())
            }
        }
    }

    /// `/esia-gate/logout`: end the session here and at ESIA.
    pub async fn logout(&self, cookies: &str, request_id: &str) -> Reply {
        self.end_session(cookies, request_id, "gateway").await;
        Reply::Redirect {
            location: self.logout_location(),
            cookies: self.logout_cookies(),
        }
    }

    /// End the gateway session the cookies name (if any) and audit it;
    /// `via` says whose «Выйти» it was: the gateway's or the diary's.
    pub(crate) async fn end_session(&self, cookies: &str, request_id: &str, via: &str) {
        let name = &self.cfg.settings.session.cookie_name;
        let mut who = (String::from("-"), String::from("-"));
        if let Some(sid) = cookie_value(cookies, name) {
            if let Ok(Some(s)) = self.store.get_session(sid).await {
                who = (s.active.map(|l| l.0).unwrap_or_else(|| "-".into()), s.oid.0);
            }
            if let Err(e) = self.store.delete_session(sid).await {
                tracing::error!(request_id, error = %e, "cannot delete the session at logout");
            }
        }
        metrics::get().logins.with_label_values(&["logout"]).inc();
        tracing::info!(target: "audit", event = "logout", request_id, outcome = "ok",
            via, login = %who.0, oid = %who.1);
    }

    /// Through ESIA's logout (its single sign-on session ends too) back to
    /// the gateway's «Вы вышли» page.
    pub(crate) fn logout_location(&self) -> String {
        let back = self.absolute(&format!("{GATE_PREFIX}/logged-out"));
        self.esia.logout_url(&back)
    }

    /// The cookies a logout clears: the gateway's and the diary's own (or
    /// the next person at a shared computer would find the previous one's
    /// diary open).
    pub(crate) fn logout_cookies(&self) -> Vec<String> {
        let mut cookies = vec![self.expired_cookie(&self.cfg.settings.session.cookie_name, "/")];
        if let Some(diary) = &self.cfg.settings.upstream.session_cookie {
            cookies.push(self.expired_cookie(diary, "/"));
        }
        cookies
    }

    /// A path on our origin as an absolute URL (never anything else).
    pub(crate) fn absolute(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.cfg.public_url.as_str().trim_end_matches('/'),
            path
        )
    }
}
