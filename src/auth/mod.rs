//! The login flows as plain code, knowing nothing of Pingora: the login way
//! (start, ESIA's callback, logout), the choice among a person's diary
//! accounts, manual linking by diary login and password (rate-limited),
//! a parent's children, and the diary's own password sessions (told from
//! the diary cookie, learned from the diary's answer to its login form).
//! Each flow takes what it needs as plain values (query string, cookies,
//! form fields, client address, request id; "now" comes from the injected
//! clock) and returns a [`Reply`] for the glue in `proxy` to write. Every
//! failure is a [`GateError`], turned into a Russian page, a log line and
//! a metric in one place ([`error`]).
//!
//! Files: `login` (start, callback, logout), `session` (the gateway
//! session: look-up, idle timeout, next step), `matching` (accounts and
//! children of an ESIA person, why nothing matched), `accounts` (choice,
//! unlinking), `linking` (the diary password check and its limits),
//! `children`, `password` (password sessions), `guard` (the policy on one
//! diary request), `region` (the policy's words on the gateway's pages,
//! and trust before linking), `routes` (the gateway's own routes), and the pure
//! readers beside them (`cookies`, `diary_forms`, `return_to`,
//! `diary_check`'s success rule, `login_page`'s form fields). `tests/`
//! drives the flows: without sockets where no network is needed, with the
//! ESIA emulator and the sample diary on loopback where it is.

pub mod accounts;
pub mod children;
pub mod cookies;
pub mod diary_check;
pub mod diary_forms;
pub mod error;
pub mod guard;
pub mod linking;
pub mod login;
pub mod login_page;
pub mod matching;
pub mod password;
pub mod region;
pub mod reply;
pub mod return_to;
pub mod routes;
pub mod session;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

pub use self::error::{GateError, Step};
pub use self::reply::Reply;
pub use self::session::Current;

use self::diary_check::DiaryChecker;
use crate::clock::{Clock, Rehearsal};
use crate::config::Resolved;
use crate::esia::EsiaClient;
use crate::identity::Directory;
use crate::policy::slot::PolicySlot;
use crate::store::Store;

/// What the flows need: settings, the store, the directory of diary
/// accounts, the ESIA client, the diary's login form checker and the clock.
pub struct Auth {
    cfg: Arc<Resolved>,
    esia: Arc<EsiaClient>,
    store: Arc<dyn Store>,
    directory: Arc<ArcSwap<Directory>>,
    /// Checks diary logins and passwords; `None` when linking is off.
    checker: Option<DiaryChecker>,
    /// Decide as if it were this date (staging rehearsals only; the admin
    /// listener can move it).
    rehearsal: Option<Rehearsal>,
    clock: Clock,
    /// The policy in force, for the region's words on the gateway's own
    /// pages ([`Auth::with_policy`]).
    policy: Option<PolicySlot>,
}

impl Auth {
    pub fn new(
        cfg: Arc<Resolved>,
        esia: Arc<EsiaClient>,
        store: Arc<dyn Store>,
        directory: Arc<ArcSwap<Directory>>,
        clock: Clock,
    ) -> Self {
        let checker = DiaryChecker::from_settings(&cfg);
        let rehearsal = cfg
            .settings
            .policy
            .as_ref()
            .and_then(|p| p.rehearse_date)
            .map(|d| Arc::new(ArcSwap::from_pointee(d)));
        Self {
            cfg,
            esia,
            store,
            directory,
            checker,
            rehearsal,
            clock,
            policy: None,
        }
    }

    pub fn settings(&self) -> &Resolved {
        &self.cfg
    }

    pub fn esia(&self) -> &Arc<EsiaClient> {
        &self.esia
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn directory(&self) -> &Arc<ArcSwap<Directory>> {
        &self.directory
    }

    pub fn rehearsal(&self) -> Option<&Rehearsal> {
        self.rehearsal.as_ref()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A `Set-Cookie` value for one of the gateway's cookies.
    fn cookie(&self, name: &str, value: String, path: &str, max_age: Duration) -> String {
        cookies::set_cookie(name, value, path, Some(max_age), self.cfg.secure_cookies)
    }

    /// The session cookie: a browser-session cookie unless
    /// `session.persistent` keeps it for the session's lifetime.
    fn session_cookie(&self, id: String) -> String {
        let s = &self.cfg.settings.session;
        let keep = s.persistent.then(|| Duration::from_secs(s.ttl_seconds));
        cookies::set_cookie(&s.cookie_name, id, "/", keep, self.cfg.secure_cookies)
    }

    /// A `Set-Cookie` value that removes a cookie.
    fn expired_cookie(&self, name: &str, path: &str) -> String {
        self.cookie(name, String::new(), path, Duration::ZERO)
    }

    /// A path on our origin as an absolute URL (never anything else).
    fn absolute(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.cfg.public_url.as_str().trim_end_matches('/'),
            path
        )
    }
}
