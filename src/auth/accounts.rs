//! The choice among a person's diary accounts (a teacher who is also a
//! parent), and unlinking an account linked earlier by password. The same
//! account views serve the children page.

use std::collections::HashMap;

use super::Auth;
use super::error::{BadInput, GateError};
use super::reply::Reply;
use super::session::{Current, csrf_ok};
use crate::config::GATE_PREFIX;
use crate::identity::LegacyLogin;
use crate::pages::accounts::{self as account_pages, AccountView};
use crate::store::{LinkKind, LinkSource};
use crate::telemetry::metrics;

/// The form fields of a gateway page's POST.
pub type Form = HashMap<String, String>;

/// An urlencoded form body, decoded.
pub fn parse_form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).into_owned().collect()
}

impl Auth {
    /// Accounts (or children) as the person sees them.
    pub(crate) fn views(
        &self,
        logins: &[LegacyLogin],
        removable: &[LegacyLogin],
        current: Option<&LegacyLogin>,
    ) -> Vec<AccountView> {
        let dir = self.directory.load();
        logins
            .iter()
            .map(|l| {
                let a = dir.by_login(&l.0);
                AccountView {
                    login: l.0.clone(),
                    name: a
                        .map(|a| format!("{} {} {}", a.last_name, a.first_name, a.middle_name))
                        .unwrap_or_else(|| l.0.clone())
                        .trim()
                        .to_string(),
                    role: a.map(|a| a.role.russian()).unwrap_or("учётная запись"),
                    school: a.map(|a| a.school.clone()).unwrap_or_default(),
                    class: a.map(|a| a.class.clone()).unwrap_or_default(),
                    removable: removable.contains(l),
                    current: current == Some(l),
                }
            })
            .collect()
    }

    /// The logins of `kind` this person linked by password (and so may
    /// remove). A store that cannot say offers none for removal.
    pub(crate) async fn password_links(
        &self,
        current: &Current,
        kind: LinkKind,
    ) -> Vec<LegacyLogin> {
        self.store
            .links_of(&current.record.oid)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.kind == kind && l.source == LinkSource::Password)
            .map(|l| l.login)
            .collect()
    }

    /// The login a form of the gateway's pages names, after its token is
    /// checked (`None`: the form names none).
    pub(crate) fn form_login(
        &self,
        current: &Current,
        form: &Form,
    ) -> Result<Option<LegacyLogin>, GateError> {
        if !csrf_ok(&current.record, form) {
            return Err(BadInput::FormExpired.into());
        }
        Ok(form.get("login").map(|l| LegacyLogin(l.clone())))
    }

    /// A redirect to a path of our origin.
    pub(crate) fn go(&self, path: &str) -> Reply {
        Reply::redirect(self.absolute(path))
    }

    /// Save the session and send the person on to their next step.
    pub(crate) async fn save_and_go(&self, current: &Current) -> Result<Reply, GateError> {
        self.save(current).await?;
        Ok(self.go(&self.next_step(&current.record)))
    }

    /// GET `/accounts`.
    pub async fn accounts_page(&self, current: &Current) -> Result<Reply, GateError> {
        if current.record.accounts.is_empty() {
            return Ok(self.go(&format!("{GATE_PREFIX}/link")));
        }
        let removable = self.password_links(current, LinkKind::Own).await;
        let views = self.views(
            &current.record.accounts,
            &removable,
            current.record.active.as_ref(),
        );
        Ok(Reply::page(account_pages::choose_account(
            &views,
            &current.record.csrf,
            self.checker.is_some(),
        )))
    }

    /// POST `/accounts/select`.
    pub async fn select_account(
        &self,
        mut current: Current,
        form: &Form,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let Some(login) = self.form_login(&current, form)? else {
            return Ok(self.go(&format!("{GATE_PREFIX}/accounts")));
        };
        // Only an account this person may use; anything else is a forgery.
        if !current.record.accounts.contains(&login) {
            tracing::warn!(request_id, "account choice outside the person's accounts");
            return Err(BadInput::FormExpired.into());
        }
        self.activate(&mut current.record, &login, request_id).await;
        self.save_and_go(&current).await
    }

    /// POST `/accounts/unlink`: only accounts linked by password can go.
    pub async fn unlink_account(
        &self,
        mut current: Current,
        form: &Form,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let Some(login) = self.form_login(&current, form)? else {
            return Ok(self.go(&format!("{GATE_PREFIX}/accounts")));
        };
        if !self
            .password_links(&current, LinkKind::Own)
            .await
            .contains(&login)
        {
            return Err(BadInput::FormExpired.into());
        }
        self.store
            .remove_link(&current.record.oid, &login, LinkKind::Own)
            .await?;
        metrics::get()
            .links
            .with_label_values(&["unlink", "ok"])
            .inc();
        tracing::info!(target: "audit", event = "link_removed", request_id, login = %login, oid = %current.record.oid);
        current.record.accounts.retain(|l| *l != login);
        if current.record.active.as_ref() == Some(&login) {
            current.record.active = None;
            current.record.child = None;
        }
        self.save_and_go(&current).await
    }
}
