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

#[cfg(test)]
mod tests {
    use super::super::testing::Kit;
    use super::*;

    fn attempt(login: &str) -> LoginAttempt {
        LoginAttempt {
            login: Some(LegacyLogin(login.into())),
            path: "/login".into(),
        }
    }

    #[test]
    fn the_session_after_a_login_is_the_one_set_or_the_one_kept() {
        let set = ["DIARYSESSID=new; Path=/; HttpOnly".to_string()];
        assert_eq!(
            session_after_login(&set, "DIARYSESSID=old", "DIARYSESSID"),
            Some("new")
        );
        assert_eq!(
            session_after_login(&[], "a=1; DIARYSESSID=old", "DIARYSESSID"),
            Some("old")
        );
        assert_eq!(
            session_after_login(&[], "DIARYSESSID=a; diarysessid=b", "DIARYSESSID"),
            None
        );
        let cleared = ["DIARYSESSID=; Max-Age=0".to_string()];
        assert_eq!(session_after_login(&cleared, "", "DIARYSESSID"), None);
    }

    #[tokio::test]
    async fn a_login_the_diary_accepted_makes_its_cookie_a_known_session() {
        let kit = Kit::new("");
        let cookie = "DIARYSESSID=s3ss10n";
        assert_eq!(kit.auth.diary_session("", "r").await, DiarySession::None);
        assert_eq!(
            kit.auth.diary_session(cookie, "r").await,
            DiarySession::Unknown("unknown")
        );
        // The diary sent the browser back to its form: a wrong password.
        let refused = DiaryAnswer {
            status: 302,
            location: Some("/login?error=1"),
            set_cookies: &[],
        };
        assert!(
            !kit.auth
                .learn_password_session(&attempt("ivanova.m"), cookie, &refused, "r")
                .await
        );
        assert_eq!(
            kit.auth.diary_session(cookie, "r").await,
            DiarySession::Unknown("unknown")
        );
        let set = ["DIARYSESSID=s3ss10n; Path=/".to_string()];
        let accepted = DiaryAnswer {
            status: 302,
            location: Some("/grades"),
            set_cookies: &set,
        };
        assert!(
            kit.auth
                .learn_password_session(&attempt("ivanova.m"), "", &accepted, "r")
                .await
        );
        assert_eq!(
            kit.auth.diary_session(cookie, "r").await,
            DiarySession::Known(LegacyLogin("ivanova.m".into()))
        );
        assert!(
            kit.auth
                .store()
                .has_logged_in(&LegacyLogin("ivanova.m".into()))
                .await
                .expect("history")
        );
        // The same cookie twice with different values is nobody's.
        assert_eq!(
            kit.auth
                .diary_session("DIARYSESSID=s3ss10n; diarysessid=other", "r")
                .await,
            DiarySession::Unknown("ambiguous")
        );
        // A store that cannot say: unattributed, never a guess.
        kit.store_down(true);
        assert_eq!(
            kit.auth.diary_session(cookie, "r").await,
            DiarySession::Unknown("store_error")
        );
    }

    #[tokio::test]
    async fn a_login_form_without_a_login_teaches_nothing() {
        let kit = Kit::new("");
        let set = ["DIARYSESSID=x; Path=/".to_string()];
        let accepted = DiaryAnswer {
            status: 302,
            location: Some("/grades"),
            set_cookies: &set,
        };
        let nobody = LoginAttempt {
            login: None,
            path: "/login".into(),
        };
        assert!(
            !kit.auth
                .learn_password_session(&nobody, "", &accepted, "r")
                .await
        );
        assert_eq!(
            kit.auth.diary_session("DIARYSESSID=x", "r").await,
            DiarySession::Unknown("unknown")
        );
    }
}
