//! The login way: start (a pending login, the browser binding, the
//! redirect to ESIA), ESIA's callback (state and binding, ESIA's answer,
//! the match, the new session) and logout (here, at the diary and at
//! ESIA).

use std::time::{Duration, Instant};

use super::Auth;
use super::cookies::{BINDING_COOKIE, cookie_value};
use super::diary_forms;
use super::error::{BadInput, EsiaKind, GateError, Step};
use super::matching::Unmatched;
use super::reply::Reply;
use super::return_to::safe_return_path;
use super::session::Current;
use crate::config::GATE_PREFIX;
use crate::esia::protocol;
use crate::store::{PendingLogin, SessionRecord, random_id};
use crate::telemetry::metrics;

/// A query parameter, decoded once.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Auth {
    /// `/esia-gate/login?return_to=/path`: remember where the person was
    /// going, bind the login to this browser, and send it to ESIA.
    pub async fn start_login(&self, query: Option<&str>, request_id: &str) -> Reply {
        match self.try_start_login(query, request_id).await {
            Ok(reply) => reply,
            Err(e) => self.fail(Step::LoginStart, &e, request_id),
        }
    }

    async fn try_start_login(
        &self,
        query: Option<&str>,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let return_to = query_param(query, "return_to")
            .and_then(|r| safe_return_path(&r, &self.cfg.public_url))
            .unwrap_or_else(|| self.cfg.settings.gateway.default_return.clone());
        let state = uuid::Uuid::new_v4().to_string();
        let binding = random_id();
        let ttl = Duration::from_secs(self.cfg.settings.session.login_ttl_seconds);
        let auth = self
            .esia
            .authorization_url(&state, self.now().fixed_offset())
            .await
            .map_err(|e| match GateError::from(e) {
                // Building our own URL is not something ESIA did; a
                // broker's discovery is.
                e @ (GateError::Signer(_)
                | GateError::Esia {
                    kind: EsiaKind::Unreachable,
                    ..
                }) => e,
                e => GateError::Internal(format!("the ESIA authorization URL: {e}")),
            })?;
        let pending = PendingLogin {
            return_to,
            binding: binding.clone(),
            created_at: self.now().timestamp(),
            handshake: auth.handshake,
        };
        self.store.put_pending(&state, &pending, ttl).await?;
        let url = auth.url;
        metrics::get().logins.with_label_values(&["started"]).inc();
        tracing::info!(target: "audit", event = "login_started", request_id, outcome = "redirected_to_esia");
        Ok(Reply::Redirect {
            location: url,
            cookies: vec![self.cookie(BINDING_COOKIE, binding, GATE_PREFIX, ttl)],
        })
    }

    /// `/esia-gate/callback`: ESIA sends the browser back here.
    pub async fn callback(&self, query: Option<&str>, cookies: &str, request_id: &str) -> Reply {
        match self.try_callback(query, cookies, request_id).await {
            Ok(reply) => reply,
            Err(e) => self.fail(Step::Callback, &e, request_id),
        }
    }

    pub(crate) async fn try_callback(
        &self,
        query: Option<&str>,
        cookies: &str,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let state = query_param(query, "state")
            .filter(|s| !s.is_empty())
            .ok_or(BadInput::NoState)?;
        let pending = self
            .store
            .take_pending(&state)
            .await?
            .ok_or(BadInput::UnknownState)?;
        // The state alone could have been carried to another browser (login
        // CSRF): the binding cookie proves this browser started the login.
        if cookie_value(cookies, BINDING_COOKIE) != Some(pending.binding.as_str()) {
            return Err(BadInput::WrongBrowser.into());
        }
        if let Some(error) = query_param(query, "error") {
            let desc = query_param(query, "error_description").unwrap_or_default();
            let code = protocol::error_code(&desc).unwrap_or("none");
            return Err(GateError::esia_callback_error(&error, code));
        }
        let code = query_param(query, "code")
            .filter(|c| !c.is_empty())
            .ok_or(BadInput::NoCode)?;
        let started = Instant::now();
        let result = self
            .esia
            .complete_login(&code, &pending.handshake, self.now().fixed_offset())
            .await;
        metrics::get()
            .esia_duration
            .with_label_values(&["te"])
            .observe(started.elapsed().as_secs_f64());
        let person = result?.person;
        let found = self.find_accounts(&person, request_id).await?;
        metrics::get()
            .matches
            .with_label_values(&[found.outcome.label()])
            .inc();
        tracing::info!(target: "audit", event = "match", request_id, oid = %person.oid,
            outcome = found.outcome.label(), accounts = found.own.len());
        let level = person.level();
        let mut record = SessionRecord {
            oid: person.oid.clone(),
            trusted: person.trusted,
            level: Some(level),
            display_name: format!("{} {}", person.first_name, person.last_name),
            created_at: self.now().timestamp(),
            return_to: Some(pending.return_to),
            csrf: random_id(),
            ..SessionRecord::default()
        };
        // An account no role lets in today is told how to raise it (here,
        // or on the linking page), never asked for a diary password first.
        let mut confirm = if found.own.is_empty() {
            self.confirm_first(level)
        } else {
            None
        };
        if found.own.is_empty() {
            let why = Unmatched::of(&found.outcome);
            self.remember_failure(&person, &found.outcome).await;
            tracing::info!(request_id, oid = %person.oid, outcome = found.outcome.label(), "no diary account for the ESIA person");
            if self.checker.is_none() {
                if let Some(page) = confirm.take() {
                    metrics::get()
                        .logins
                        .with_label_values(&["below_trust"])
                        .inc();
                    tracing::info!(target: "audit", event = "login_result", request_id,
                        outcome = "below_trust", oid = %person.oid, level = level.as_str());
                    return Ok(Reply::Page {
                        page,
                        cookies: vec![self.expired_cookie(BINDING_COOKIE, GATE_PREFIX)],
                    });
                }
                return Err(GateError::NoMatch(why));
            }
            record.unmatched_reason = Some(why.as_str().to_string());
        }
        record.accounts = found.own;
        record.children = found.children;
        if let [only] = record.accounts.as_slice() {
            let only = only.clone();
            self.activate(&mut record, &only, request_id).await;
        }
        let current = Current {
            id: random_id(),
            record,
        };
        self.save(&current).await?;
        let outcome = match (&current.record.active, current.record.accounts.len()) {
            (Some(_), _) => "success",
            (None, 0) if confirm.is_some() => "below_trust",
            (None, 0) => "needs_link",
            (None, _) => "needs_choice",
        };
        metrics::get().logins.with_label_values(&[outcome]).inc();
        tracing::info!(target: "audit", event = "login_result", request_id, outcome,
            oid = %person.oid, trusted = person.trusted, level = level.as_str(),
            login = %current.record.active.as_ref().map(|l| l.0.as_str()).unwrap_or("-"));
        Ok(Reply::Redirect {
            location: self.absolute(&self.next_step(&current.record)),
            cookies: vec![
                self.session_cookie(current.id),
                self.expired_cookie(BINDING_COOKIE, GATE_PREFIX),
            ],
        })
    }

    /// `/esia-gate/logout` (a POST with the session's token): end the
    /// session here and at ESIA.
    pub async fn logout(&self, cookies: &str, request_id: &str) -> Reply {
        self.end_session(cookies, request_id, "gateway").await;
        Reply::Redirect {
            location: self.logout_location(),
            cookies: self.logout_cookies(),
        }
    }

    /// Whether a diary request is the diary's own «Выйти».
    pub fn is_diary_logout(&self, path: &str, query: Option<&str>) -> bool {
        self.cfg
            .settings
            .upstream
            .logout_path
            .as_deref()
            .is_some_and(|p| diary_forms::is_logout(p, path, query))
    }

    /// Through ESIA's logout (its single sign-on session ends too) back to
    /// the gateway's «Вы вышли» page.
    pub fn logout_location(&self) -> String {
        let back = self.absolute(&format!("{GATE_PREFIX}/logged-out"));
        self.esia.logout_url(&back)
    }

    /// The cookies a logout clears: the gateway's and the diary's own (or
    /// the next person at a shared computer would find the previous one's
    /// diary open).
    pub fn logout_cookies(&self) -> Vec<String> {
        let mut cookies = vec![self.expired_cookie(&self.cfg.settings.session.cookie_name, "/")];
        if let Some(diary) = &self.cfg.settings.upstream.session_cookie {
            cookies.push(self.expired_cookie(diary, "/"));
        }
        cookies
    }
}
