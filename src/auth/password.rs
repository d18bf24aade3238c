//! Password sessions: the diary's own session cookie, tied to a login when
//! the gateway saw that login succeed at the diary's form. A request's
//! diary cookie is known (the gateway saw its login), unknown (new to it,
//! sent twice with different values, or the store cannot say) or absent;
//! the diary's answer to a login form the gateway passed on teaches it a
//! new one. Only a hash of the cookie is kept.

use std::time::Duration;

use super::Auth;
use super::diary_check::login_succeeded;
use super::diary_forms::{DiaryCookie, cookie_name_key, diary_cookie};
use crate::identity::{LegacyLogin, Role};
use crate::store::{LoginMethod, LoginRecord};
use crate::telemetry::metrics;

/// The diary session a request carries, as far as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiarySession {
    None,
    /// A password session the gateway saw log in.
    Known(LegacyLogin),
    /// A diary cookie it cannot attribute (reason, for the metric).
    Unknown(&'static str),
}

/// A diary login form submission passed on to the diary: whose login it
/// names, and the path a relative `Location` of the answer is read against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub login: Option<LegacyLogin>,
    pub path: String,
}

/// The diary's answer to a login form, as plain values.
pub struct DiaryAnswer<'a> {
    pub status: u16,
    pub location: Option<&'a str>,
    pub set_cookies: &'a [String],
}

/// What the store keeps of a diary cookie: never the value itself.
pub fn cookie_hash(value: &str) -> String {
    hex::encode(openssl::sha::sha256(value.as_bytes()))
}

/// The diary session a successful login answer leaves the browser with:
/// the cookie `name` the answer sets, or else the one the browser already
/// had (diaries that keep the session they had before the login).
pub fn session_after_login<'a>(
    set_cookies: &'a [String],
    request_cookies: &'a str,
    name: &str,
) -> Option<&'a str> {
    let set = set_cookies.iter().find_map(|c| {
        let (k, v) = c.split(';').next()?.split_once('=')?;
        let v = v.trim().trim_matches('"');
        (cookie_name_key(k) == cookie_name_key(name) && !v.is_empty()).then_some(v)
    });
    match (set, diary_cookie(request_cookies, name)) {
        (Some(v), _) => Some(v),
        (None, DiaryCookie::One(v)) => Some(v),
        _ => None,
    }
}

impl Auth {
    /// The request's diary session: known when the gateway saw its login,
    /// unknown when the cookie is new to it, sent twice, or the store
    /// cannot say.
    pub async fn diary_session(&self, cookies: &str, request_id: &str) -> DiarySession {
        let Some(name) = self.cfg.settings.upstream.session_cookie.as_ref() else {
            return DiarySession::None;
        };
        let value = match diary_cookie(cookies, name) {
            DiaryCookie::Absent => return DiarySession::None,
            DiaryCookie::Ambiguous => return DiarySession::Unknown("ambiguous"),
            DiaryCookie::One(v) if v.len() > 4096 => return DiarySession::Unknown("unknown"),
            DiaryCookie::One(v) => v,
        };
        match self.store.cookie_login(&cookie_hash(value)).await {
            Ok(Some(login)) => DiarySession::Known(login),
            Ok(None) => DiarySession::Unknown("unknown"),
            Err(e) => {
                tracing::error!(request_id, error = %e, "password session look-up failed");
                DiarySession::Unknown("store_error")
            }
        }
    }

    /// The diary's answer to a login form the gateway passed on: when the
    /// diary's success rule says the login worked, tie the diary session
    /// to the login, durably, for the diary's session lifetime. Returns
    /// whether a session was learned.
    pub async fn learn_password_session(
        &self,
        attempt: &LoginAttempt,
        request_cookies: &str,
        answer: &DiaryAnswer<'_>,
        request_id: &str,
    ) -> bool {
        let (Some(name), Some(rule)) = (
            self.cfg.settings.upstream.session_cookie.as_ref(),
            self.cfg.login_rule.as_ref(),
        ) else {
            return false;
        };
        let m = metrics::get();
        if !login_succeeded(
            rule,
            answer.status,
            answer.location,
            &attempt.path,
            answer.set_cookies,
        ) {
            m.login_forms.with_label_values(&["failed"]).inc();
            return false;
        }
        m.login_forms.with_label_values(&["succeeded"]).inc();
        let Some(login) = attempt.login.as_ref() else {
            tracing::warn!(
                request_id,
                "a diary login without a login field succeeded; its session stays unattributed"
            );
            return false;
        };
        let Some(value) = session_after_login(answer.set_cookies, request_cookies, name) else {
            tracing::warn!(
                request_id,
                "the diary's login answer names no session cookie; the session stays unattributed"
            );
            return false;
        };
        let ttl = Duration::from_secs(self.cfg.settings.upstream.session_lifetime_seconds);
        if let Err(e) = self
            .store
            .put_cookie_login(&cookie_hash(value), login, ttl)
            .await
        {
            tracing::error!(request_id, error = %e, "cannot remember a password session");
            return false;
        }
        let r = LoginRecord {
            login: login.clone(),
            method: LoginMethod::Password,
            at: self.now().timestamp(),
        };
        if let Err(e) = self.store.record_login(&r).await {
            tracing::error!(request_id, error = %e, "cannot record the password login");
        }
        m.logins.with_label_values(&["password"]).inc();
        let role = self.directory.load().by_login(&login.0).map(|a| a.role);
        m.account_logins
            .with_label_values(&["password", Role::label(role)])
            .inc();
        tracing::info!(target: "audit", event = "password_login", request_id, login = %login);
        true
    }
}
