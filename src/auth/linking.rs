//! Manual linking: a person ESIA data did not find in the diary proves a
//! diary account once with its login and password, checked at the diary's
//! own login form and never kept. Wrong passwords are limited per ESIA
//! person and per client address, atomically; a wrong password, a limit
//! reached and a diary that did not answer are three different answers.

use std::time::Duration;

use super::Auth;
use super::accounts::Form;
use super::diary_check::Checked;
use super::error::{BadInput, GateError};
use super::matching::{Unmatched, push_unique};
use super::reply::Reply;
use super::session::{Current, csrf_ok};
use crate::identity::LegacyLogin;
use crate::pages::accounts as account_pages;
use crate::store::{AccountLink, LinkKind, LinkSource, Reserved};
use crate::telemetry::metrics;

/// What the diary said of a login and password.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The diary let them in.
    Valid(LegacyLogin),
    /// The diary refused them (counted against the limits).
    Wrong,
    /// The form lacked one of them: nothing was asked, nothing counted.
    Empty,
}

pub const EMPTY_TEXT: &str = "Введите логин и пароль.";

impl Auth {
    /// GET `/link`.
    pub fn link_page(&self, current: &Current) -> Result<Reply, GateError> {
        if self.checker.is_none() {
            return Err(GateError::LinkingDisabled);
        }
        let reason = current
            .record
            .unmatched_reason
            .as_deref()
            .map(|r| Unmatched::parse(r).text());
        Ok(Reply::page(account_pages::link_form(
            reason,
            None,
            &current.record.csrf,
        )))
    }

    /// Check a diary login and password, counting failures per ESIA person
    /// and per client address.
    ///
    /// An attempt is reserved under both limits before the diary is asked,
    /// so requests sent all at once cannot all pass a check made before any
    /// of them is counted: at most `max_failures` of them reach the diary.
    /// Only a wrong password keeps its reservation; a right one, or a diary
    /// that did not answer, gives it back.
    pub async fn check_password(
        &self,
        current: &Current,
        form: &Form,
        client: &str,
        request_id: &str,
    ) -> Result<PasswordCheck, GateError> {
        let Some((checker, settings)) = self
            .checker
            .as_ref()
            .zip(self.cfg.settings.diary_login.as_ref())
        else {
            return Err(GateError::LinkingDisabled);
        };
        let login = form.get("login").map(|s| s.trim()).unwrap_or("");
        let password = form.get("password").map(String::as_str).unwrap_or("");
        if login.is_empty() || password.is_empty() {
            // Nothing goes to the diary, so nothing is counted.
            return Ok(PasswordCheck::Empty);
        }
        let keys = [
            format!("link-fail:oid:{}", current.record.oid),
            format!("link-fail:ip:{client}"),
        ];
        let window = Duration::from_secs(settings.window_seconds);
        let mut reserved: Vec<&str> = Vec::with_capacity(keys.len());
        for k in &keys {
            let granted = self
                .store
                .rate_reserve(k, settings.max_failures, window)
                .await;
            match granted {
                Ok(Reserved::Granted { .. }) => reserved.push(k),
                Ok(Reserved::Refused { seconds_left }) => {
                    self.release_attempts(&reserved, request_id).await;
                    return Err(GateError::RateLimited {
                        minutes: seconds_left.div_ceil(60).max(1),
                    });
                }
                Err(e) => {
                    self.release_attempts(&reserved, request_id).await;
                    return Err(e.into());
                }
            }
        }
        match checker.check(login, password).await {
            Ok(Checked::Valid) => {
                // A success is not a failure: the attempt does not count.
                self.release_attempts(&reserved, request_id).await;
                Ok(PasswordCheck::Valid(LegacyLogin(login.to_string())))
            }
            Ok(Checked::Invalid) => {
                // The reservation stays: it is the failure's count.
                metrics::get()
                    .links
                    .with_label_values(&["check", "wrong_password"])
                    .inc();
                tracing::info!(
                    request_id,
                    "diary login or password wrong at manual linking"
                );
                Ok(PasswordCheck::Wrong)
            }
            Err(e) => {
                // Not the person's fault: the attempt does not count.
                self.release_attempts(&reserved, request_id).await;
                Err(GateError::DiaryUnreachable(e.0))
            }
        }
    }

    /// Give back attempts reserved by [`Self::check_password`]. A failure
    /// only leaves the person counted once too often until the window ends,
    /// so it is logged, not shown.
    async fn release_attempts(&self, keys: &[&str], request_id: &str) {
        for k in keys {
            if let Err(e) = self.store.rate_release(k).await {
                tracing::error!(request_id, error = %e, "cannot give back a reserved attempt");
            }
        }
    }

    /// POST `/link`.
    pub async fn link_account(
        &self,
        mut current: Current,
        form: &Form,
        client: &str,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        if !csrf_ok(&current.record, form) {
            return Err(BadInput::FormExpired.into());
        }
        let again = |msg: &str| {
            Ok(Reply::page(account_pages::link_form(
                None,
                Some(msg),
                &current.record.csrf,
            )))
        };
        let login = match self
            .check_password(&current, form, client, request_id)
            .await?
        {
            PasswordCheck::Valid(l) => l,
            PasswordCheck::Empty => return again(EMPTY_TEXT),
            PasswordCheck::Wrong => {
                return again(
                    "Неверный логин или пароль дневника. Проверьте раскладку и регистр букв.",
                );
            }
        };
        if self.directory.load().by_login(&login.0).is_none() {
            return Err(GateError::NotInDirectory(login));
        }
        let link = AccountLink {
            oid: current.record.oid.clone(),
            login: login.clone(),
            kind: LinkKind::Own,
            source: LinkSource::Password,
            created_at: self.now().timestamp(),
        };
        self.store.put_link(&link).await?;
        metrics::get()
            .links
            .with_label_values(&["link", "ok"])
            .inc();
        tracing::info!(target: "audit", event = "link_made", request_id, login = %login, oid = %current.record.oid);
        push_unique(&mut current.record.accounts, login.clone());
        current.record.unmatched_reason = None;
        self.activate(&mut current.record, &login, request_id).await;
        self.save_and_go(&current).await
    }
}
