//! A parent's children: the list (found by the children's SNILS from ESIA,
//! or attached by the child's diary login and password), choosing whose
//! diary to open, attaching another child and removing one attached by
//! password.

use super::Auth;
use super::accounts::Form;
use super::error::{BadInput, GateError};
use super::linking::{EMPTY_TEXT, PasswordCheck};
use super::matching::push_unique;
use super::reply::Reply;
use super::session::{Current, csrf_ok};
use crate::config::GATE_PREFIX;
use crate::identity::Role;
use crate::pages::accounts as account_pages;
use crate::store::{AccountLink, LinkKind, LinkSource};
use crate::telemetry::metrics;

impl Auth {
    /// GET `/children`, or the list again with what went wrong.
    pub async fn children_page(&self, current: &Current, error: Option<&str>) -> Reply {
        let removable = self.password_links(current, LinkKind::Child).await;
        let views = self.views(
            &current.record.children,
            &removable,
            current.record.child.as_ref(),
        );
        Reply::page(account_pages::children(
            &views,
            &current.record.csrf,
            error,
            self.checker.is_some(),
        ))
    }

    /// POST `/children/select`.
    pub async fn select_child(
        &self,
        mut current: Current,
        form: &Form,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let Some(login) = self.form_login(&current, form)? else {
            return Ok(self.go(&format!("{GATE_PREFIX}/children")));
        };
        if !current.record.children.contains(&login) {
            return Err(BadInput::FormExpired.into());
        }
        tracing::info!(target: "audit", event = "child_chosen", request_id, child = %login, oid = %current.record.oid);
        current.record.child = Some(login);
        self.save_and_go(&current).await
    }

    /// POST `/children/attach`: a child's diary login and password.
    pub async fn attach_child(
        &self,
        mut current: Current,
        form: &Form,
        client: &str,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        if !csrf_ok(&current.record, form) {
            return Err(BadInput::FormExpired.into());
        }
        // The linking form is the wrong page here: the list shows why.
        let login = match self
            .check_password(&current, form, client, request_id)
            .await?
        {
            PasswordCheck::Valid(l) => l,
            PasswordCheck::Empty => {
                return Ok(self.children_page(&current, Some(EMPTY_TEXT)).await);
            }
            PasswordCheck::Wrong => {
                return Ok(self
                    .children_page(
                        &current,
                        Some("Неверный логин или пароль ребёнка. Проверьте раскладку и регистр букв."),
                    )
                    .await);
            }
        };
        let is_student = self
            .directory
            .load()
            .by_login(&login.0)
            .is_some_and(|a| a.role == Role::Student);
        if !is_student {
            metrics::get()
                .links
                .with_label_values(&["child", "not_a_student"])
                .inc();
            return Ok(self
                .children_page(
                    &current,
                    Some("Это не учётная запись ученика. Введите логин и пароль, которые школа выдала ребёнку."),
                )
                .await);
        }
        let link = AccountLink {
            oid: current.record.oid.clone(),
            login: login.clone(),
            kind: LinkKind::Child,
            source: LinkSource::Password,
            created_at: self.now().timestamp(),
        };
        self.store.put_link(&link).await?;
        metrics::get()
            .links
            .with_label_values(&["child", "ok"])
            .inc();
        tracing::info!(target: "audit", event = "child_linked", request_id, child = %login, oid = %current.record.oid);
        push_unique(&mut current.record.children, login.clone());
        current.record.child = Some(login);
        if let Err(e) = self.save(&current).await {
            // The link is kept; the next login shows the child.
            tracing::error!(request_id, error = %e, "cannot save the session");
        }
        Ok(self.go(&format!("{GATE_PREFIX}/children")))
    }

    /// POST `/children/remove`: only children attached by password.
    pub async fn remove_child(
        &self,
        mut current: Current,
        form: &Form,
        request_id: &str,
    ) -> Result<Reply, GateError> {
        let Some(login) = self.form_login(&current, form)? else {
            return Ok(self.go(&format!("{GATE_PREFIX}/children")));
        };
        if !self
            .password_links(&current, LinkKind::Child)
            .await
            .contains(&login)
        {
            return Err(BadInput::FormExpired.into());
        }
        self.store
            .remove_link(&current.record.oid, &login, LinkKind::Child)
            .await?;
        tracing::info!(target: "audit", event = "child_unlinked", request_id, child = %login, oid = %current.record.oid);
        current.record.children.retain(|l| *l != login);
        if current.record.child.as_ref() == Some(&login) {
            current.record.child = None;
        }
        if let Err(e) = self.save(&current).await {
            tracing::error!(request_id, error = %e, "cannot save the session");
        }
        Ok(self.go(&format!("{GATE_PREFIX}/children")))
    }
}
