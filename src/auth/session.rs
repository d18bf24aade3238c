//! The gateway session: finding it from the request's cookies, ending it
//! when idle or at logout, where its person goes next (choose, link, pick
//! a child, or on), the account in use, and the bar on the diary's pages
//! for people with several accounts or children.

use std::collections::HashMap;
use std::time::Duration;

use super::Auth;
use super::cookies::cookie_value;
use super::error::GateError;
use crate::config::GATE_PREFIX;
use crate::identity::{LegacyLogin, Role};
use crate::pages;
use crate::store::{Idle, LoginMethod, LoginRecord, SessionRecord};
use crate::telemetry::metrics;

/// The session cookie's id with its record.
pub struct Current {
    pub id: String,
    pub record: SessionRecord,
}

/// Whether a form of the gateway's pages carries its session's token
/// (compared in constant time).
pub fn csrf_ok(record: &SessionRecord, form: &HashMap<String, String>) -> bool {
    let given = form.get("csrf").map(String::as_bytes).unwrap_or(b"");
    let want = record.csrf.as_bytes();
    !want.is_empty()
        && given.len() == want.len()
        && given
            .iter()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Auth {
    /// The gateway session the request's cookies name, if it is alive. A
    /// store that cannot say is logged and read as "no session".
    pub async fn current(&self, cookies: &str, request_id: &str) -> Option<Current> {
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
        let now = self.now().timestamp();
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

    /// End the gateway session the cookies name (if any) and audit it;
    /// `via` says whose «Выйти» it was: the gateway's or the diary's.
    pub async fn end_session(&self, cookies: &str, request_id: &str, via: &str) {
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

    /// Make `login` the account in use, with its role; a parent with one
    /// child looks at that child at once. The login is recorded for the
    /// reports (a failure there is logged, not shown).
    pub async fn activate(
        &self,
        record: &mut SessionRecord,
        login: &LegacyLogin,
        request_id: &str,
    ) {
        let dir = self.directory.load();
        record.role = dir.by_login(&login.0).map(|a| a.role);
        record.active = Some(login.clone());
        record.child = None;
        if self.cfg.settings.children.choose_at_login
            && record.role == Some(Role::Parent)
            && record.children.len() == 1
        {
            record.child = record.children.first().cloned();
        }
        let r = LoginRecord {
            login: login.clone(),
            method: LoginMethod::Esia,
            at: self.now().timestamp(),
        };
        if let Err(e) = self.store.record_login(&r).await {
            tracing::error!(request_id, error = %e, "cannot record the login");
        }
        metrics::get()
            .account_logins
            .with_label_values(&["esia", Role::label(record.role)])
            .inc();
        tracing::info!(target: "audit", event = "account_active", request_id, login = %login, oid = %record.oid);
    }

    /// Where the person goes next: choose, link, pick a child, or on.
    pub fn next_step(&self, record: &SessionRecord) -> String {
        match &record.active {
            None if record.accounts.is_empty() => format!("{GATE_PREFIX}/link"),
            None => format!("{GATE_PREFIX}/accounts"),
            Some(_)
                if self.cfg.settings.children.choose_at_login
                    && record.role == Some(Role::Parent)
                    && record.children.len() > 1
                    && record.child.is_none() =>
            {
                format!("{GATE_PREFIX}/children")
            }
            Some(_) => record
                .return_to
                .clone()
                .unwrap_or_else(|| self.cfg.settings.gateway.default_return.clone()),
        }
    }

    /// Keep the session for its configured lifetime.
    pub async fn save(&self, current: &Current) -> Result<(), GateError> {
        let ttl = Duration::from_secs(self.cfg.settings.session.ttl_seconds);
        Ok(self
            .store
            .put_session(&current.id, &current.record, ttl)
            .await?)
    }

    /// Whether the diary's pages get the account bar: an ESIA session with
    /// an account chosen, and more than one account or children. Cheap:
    /// the bar itself is built only for an HTML page ([`Self::account_bar`]).
    pub fn has_account_bar(s: &SessionRecord) -> bool {
        s.active.is_some() && (s.accounts.len() > 1 || Self::shows_children(s))
    }

    /// Every parent finds the children page (to choose one, or attach one
    /// the ESIA account does not list).
    fn shows_children(s: &SessionRecord) -> bool {
        !s.children.is_empty() || s.role == Some(Role::Parent)
    }

    /// The bar inserted into the diary's pages for a person with several
    /// accounts or with children: who they are, and where to switch.
    pub fn account_bar(&self, s: &SessionRecord) -> Option<String> {
        if !Self::has_account_bar(s) {
            return None;
        }
        let accounts = s.accounts.len() > 1;
        let children = Self::shows_children(s);
        let role = s.role.map(|r| r.russian()).unwrap_or("учётная запись");
        let child = s.child.as_ref().map(|c| {
            self.directory
                .load()
                .by_login(&c.0)
                .map(|a| format!("{} {}", a.first_name, a.last_name))
                .unwrap_or_else(|| c.0.clone())
        });
        Some(pages::account_bar(
            &s.display_name,
            role,
            child.as_deref(),
            accounts,
            children,
            &s.csrf,
        ))
    }
}
