//! The login way: start (a pending login, the browser binding, the
//! redirect to ESIA), ESIA's callback (state and binding, ESIA's answer,
//! the match, the new session) and logout (here, at the diary and at
//! ESIA).

use std::time::{Duration, Instant};

use super::Auth;
use super::cookies::{BINDING_COOKIE, cookie_value};
use super::diary_forms;
use super::error::{BadInput, GateError, Step};
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
        let pending = PendingLogin {
            return_to,
            binding: binding.clone(),
            created_at: self.now().timestamp(),
        };
        self.store.put_pending(&state, &pending, ttl).await?;
        let url = self
            .esia
            .authorization_url(&state, self.now().fixed_offset())
            .map_err(|e| match GateError::from(e) {
                // Building our own URL is not something ESIA did.
                e @ GateError::Signer(_) => e,
                e => GateError::Internal(format!("the ESIA authorization URL: {e}")),
            })?;
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

    async fn try_callback(
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
            .complete_login(&code, self.now().fixed_offset())
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
        let mut record = SessionRecord {
            oid: person.oid.clone(),
            trusted: person.trusted,
            display_name: format!("{} {}", person.first_name, person.last_name),
            created_at: self.now().timestamp(),
            return_to: Some(pending.return_to),
            csrf: random_id(),
            ..SessionRecord::default()
        };
        if found.own.is_empty() {
            let why = Unmatched::of(&found.outcome);
            self.remember_failure(&person, &found.outcome).await;
            tracing::info!(request_id, oid = %person.oid, outcome = found.outcome.label(), "no diary account for the ESIA person");
            if self.checker.is_none() {
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
            (None, 0) => "needs_link",
            (None, _) => "needs_choice",
        };
        metrics::get().logins.with_label_values(&[outcome]).inc();
        tracing::info!(target: "audit", event = "login_result", request_id, outcome,
            oid = %person.oid, trusted = person.trusted,
            login = %current.record.active.as_ref().map(|l| l.0.as_str()).unwrap_or("-"));
        let ttl = Duration::from_secs(self.cfg.settings.session.ttl_seconds);
        Ok(Reply::Redirect {
            location: self.absolute(&self.next_step(&current.record)),
            cookies: vec![
                self.cookie(&self.cfg.settings.session.cookie_name, current.id, "/", ttl),
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

#[cfg(test)]
mod tests {
    use super::super::testing::{Kit, Setup, cookies_after};
    use super::*;
    use crate::identity::LegacyLogin;

    const IVANOVA: &str = "1000001";
    const KUZNETSOVA: &str = "1000004";

    /// Start a login; the ESIA URL, the state and the browser's cookies.
    async fn started(kit: &Kit, return_to: &str) -> (String, String, String) {
        let reply = kit
            .auth
            .start_login(Some(&format!("return_to={return_to}")), "r-start")
            .await;
        let url = reply.location().expect("to ESIA").to_string();
        let state = query_param(url.split_once('?').map(|(_, q)| q), "state").expect("state");
        (url, state, cookies_after(reply.cookies()))
    }

    #[tokio::test]
    async fn a_parent_comes_back_from_esia_and_goes_on_to_choose_a_child() {
        let kit = Kit::start(Setup {
            esia: true,
            ..Setup::default()
        })
        .await;
        let (url, _, cookies) = started(&kit, "/grades").await;
        assert!(url.starts_with(&kit.esia_url), "{url}");
        assert!(cookies.starts_with("esia_gate_login="), "{cookies}");
        let back = kit.through_esia(&url, IVANOVA, "allow").await;
        let query = back.split_once('?').map(|(_, q)| q);
        let reply = kit.auth.callback(query, &cookies, "r-back").await;
        assert_eq!(
            reply.location(),
            Some(kit.url("/esia-gate/children").as_str())
        );
        let set = reply.cookies();
        assert!(set[0].starts_with("esia_gate_session=") && !set[0].contains("Max-Age=0"));
        assert!(set[1].starts_with("esia_gate_login=;") && set[1].contains("Max-Age=0"));
        let current = kit
            .auth
            .current(&cookies_after(set), "r")
            .await
            .expect("the new session");
        assert_eq!(current.record.active, Some(LegacyLogin("ivanova.m".into())));
        assert_eq!(current.record.children.len(), 2);
        assert_eq!(current.record.return_to.as_deref(), Some("/grades"));
    }

    #[tokio::test]
    async fn a_code_is_good_for_one_login_only() {
        let kit = Kit::start(Setup {
            esia: true,
            ..Setup::default()
        })
        .await;
        let (url, _, cookies) = started(&kit, "/").await;
        let back = kit.through_esia(&url, IVANOVA, "allow").await;
        let query = back.split_once('?').map(|(_, q)| q).expect("query");
        assert_eq!(
            kit.auth
                .callback(Some(query), &cookies, "r1")
                .await
                .status(),
            302
        );
        // The same callback again: its state is used up.
        let again = kit.auth.try_callback(Some(query), &cookies, "r2").await;
        assert!(matches!(
            again,
            Err(GateError::BadInput(BadInput::UnknownState))
        ));
        // The same code under a new login: ESIA refuses it as used.
        let (_, state, cookies) = started(&kit, "/").await;
        let code = query_param(Some(query), "code").expect("code");
        let replay = format!("state={state}&code={code}");
        let e = kit
            .auth
            .try_callback(Some(&replay), &cookies, "r3")
            .await
            .err()
            .expect("a used code");
        assert_eq!(e.label(), "bad_code", "{e}");
        assert_eq!(
            kit.auth.fail(Step::Callback, &e, "r3").title(),
            Some("Вход не завершён")
        );
    }

    #[tokio::test]
    async fn without_linking_a_person_without_snils_is_told_so() {
        let kit = Kit::start(Setup {
            esia: true,
            replace: vec![(
                "[diary_login]\nurl = \"/login\"\nlogin_field = \"login\"\npassword_field = \"password\"\nsuccess = \"redirect:/grades\"\n",
                "",
            )],
            ..Setup::default()
        })
        .await;
        let (url, _, cookies) = started(&kit, "/").await;
        let back = kit.through_esia(&url, KUZNETSOVA, "allow").await;
        let query = back.split_once('?').map(|(_, q)| q);
        let e = kit
            .auth
            .try_callback(query, &cookies, "r")
            .await
            .err()
            .expect("no account");
        assert!(
            matches!(e, GateError::NoMatch(Unmatched::NoSnilsFromEsia)),
            "{e}"
        );
        let reply = kit.auth.fail(Step::Callback, &e, "r");
        assert_eq!(
            reply.title(),
            Some("В Госуслугах нет подтверждённого СНИЛС")
        );
        // The school's report has it.
        let failures = kit
            .auth
            .store()
            .match_failures_since(0)
            .await
            .expect("report");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].reason, "no_snils_from_esia");
    }

    #[tokio::test]
    async fn every_callback_failure_names_its_cause() {
        // Nothing is served: ESIA is unreachable for the code exchange.
        let kit = Kit::new("");
        let mut cases = Vec::new();
        let none = kit.auth.try_callback(None, "", "r").await;
        cases.push(("no state", none.err(), 400));
        let unknown = kit
            .auth
            .try_callback(Some("state=made-up&code=x"), "", "r")
            .await;
        cases.push(("unknown state", unknown.err(), 400));
        let (_, state, _) = started(&kit, "/").await;
        let elsewhere = kit
            .auth
            .try_callback(
                Some(&format!("state={state}&code=x")),
                "esia_gate_login=other",
                "r",
            )
            .await;
        cases.push(("another browser", elsewhere.err(), 400));
        let (_, state, cookies) = started(&kit, "/").await;
        let refused =
            format!("state={state}&error=access_denied&error_description=ESIA-007004%3A+refused");
        let refused = kit.auth.try_callback(Some(&refused), &cookies, "r").await;
        cases.push(("consent refused", refused.err(), 403));
        let (_, state, cookies) = started(&kit, "/").await;
        let other = format!("state={state}&error=invalid_request&error_description=ESIA-007053");
        let other = kit.auth.try_callback(Some(&other), &cookies, "r").await;
        cases.push(("ESIA's error", other.err(), 502));
        let (_, state, cookies) = started(&kit, "/").await;
        let no_code = kit
            .auth
            .try_callback(Some(&format!("state={state}")), &cookies, "r")
            .await;
        cases.push(("no code", no_code.err(), 400));
        let (_, state, cookies) = started(&kit, "/").await;
        let silent = kit
            .auth
            .try_callback(Some(&format!("state={state}&code=abc")), &cookies, "r")
            .await;
        cases.push(("ESIA unreachable", silent.err(), 503));
        let (_, state, cookies) = started(&kit, "/").await;
        kit.store_down(true);
        let outage = kit
            .auth
            .try_callback(Some(&format!("state={state}&code=abc")), &cookies, "r")
            .await;
        cases.push(("store down", outage.err(), 503));
        kit.store_down(false);

        let labels: Vec<&str> = cases
            .iter()
            .map(|(what, e, status)| {
                let e = e.as_ref().unwrap_or_else(|| panic!("{what}: no error"));
                let reply = kit.auth.fail(Step::Callback, e, "r");
                assert_eq!(reply.status(), *status, "{what}: {e}");
                // Whatever happened, the login's binding cookie goes.
                assert!(
                    reply
                        .cookies()
                        .iter()
                        .any(|c| c.starts_with("esia_gate_login=;")),
                    "{what}"
                );
                e.label()
            })
            .collect();
        assert_eq!(
            labels,
            [
                "bad_state",
                "bad_state",
                "bad_binding",
                "consent_refused",
                "esia_error",
                "bad_callback",
                "esia_unavailable",
                "store_error",
            ]
        );
        let outage = cases[7].1.as_ref().expect("outage");
        assert_eq!(
            kit.auth.fail(Step::Callback, outage, "r").title(),
            Some("Сервис входа временно не работает")
        );
    }

    #[tokio::test]
    async fn a_store_outage_at_the_start_is_the_gateways_own() {
        let kit = Kit::new("");
        kit.store_down(true);
        let reply = kit.auth.start_login(Some("return_to=/grades"), "r").await;
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.title(), Some("Сервис входа временно не работает"));
        assert!(reply.cookies().is_empty());
    }

    #[tokio::test]
    async fn only_a_path_on_our_origin_is_kept_to_return_to() {
        let kit = Kit::new("");
        for (asked, kept) in [
            ("%2Fgrades%3Fweek%3D2", "/grades?week=2"),
            ("https%3A%2F%2Fevil.example%2F", "/"),
        ] {
            let reply = kit
                .auth
                .start_login(Some(&format!("return_to={asked}")), "r")
                .await;
            let state = query_param(
                reply
                    .location()
                    .and_then(|u| u.split_once('?'))
                    .map(|(_, q)| q),
                "state",
            )
            .expect("state");
            let pending = kit
                .auth
                .store()
                .take_pending(&state)
                .await
                .expect("store")
                .expect("pending");
            assert_eq!(pending.return_to, kept, "{asked}");
        }
    }
}
