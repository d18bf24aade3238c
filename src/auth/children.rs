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

#[cfg(test)]
mod tests {
    use super::super::Step;
    use super::super::testing::{Kit, Setup, form, session_with};
    use super::*;
    use crate::identity::{EsiaOid, LegacyLogin};
    use crate::store::SessionRecord;

    /// Иванова: a parent with two children found by SNILS.
    fn ivanova() -> SessionRecord {
        let mut s = session_with(&["ivanova.m"], Some("ivanova.m"));
        s.oid = EsiaOid("1000001".into());
        s.role = Some(Role::Parent);
        s.children = vec![
            LegacyLogin("ivanov.k".into()),
            LegacyLogin("ivanova.a".into()),
        ];
        s
    }

    #[tokio::test]
    async fn a_parent_with_two_children_picks_the_second() {
        let kit = Kit::new("");
        let s = ivanova();
        let token = s.csrf.clone();
        let current = kit.current(s.clone()).await;
        let Reply::Page { page, .. } = kit.auth.children_page(&current, None).await else {
            panic!("the children page");
        };
        let html = page.render("r");
        assert!(html.contains("value=\"ivanov.k\"") && html.contains("value=\"ivanova.a\""));
        let picked = kit
            .auth
            .select_child(
                current,
                &form(&[("csrf", &token), ("login", "ivanova.a")]),
                "r",
            )
            .await
            .expect("picked");
        assert_eq!(picked.location(), Some(kit.url("/grades").as_str()));
        assert_eq!(
            kit.stored_session().await.child,
            Some(LegacyLogin("ivanova.a".into()))
        );
        // Somebody else's child is not hers to pick.
        let current = kit.current(s).await;
        let e = kit
            .auth
            .select_child(
                current,
                &form(&[("csrf", &token), ("login", "petrov.t")]),
                "r",
            )
            .await
            .err()
            .expect("refused");
        assert_eq!(
            kit.auth.fail(Step::Children, &e, "r").title(),
            Some("Страница устарела")
        );
    }

    #[tokio::test]
    async fn a_child_found_by_snils_cannot_be_removed_by_the_parent() {
        let kit = Kit::new("");
        let s = ivanova();
        let token = s.csrf.clone();
        let current = kit.current(s).await;
        let e = kit
            .auth
            .remove_child(
                current,
                &form(&[("csrf", &token), ("login", "ivanov.k")]),
                "r",
            )
            .await
            .err()
            .expect("not removable");
        assert!(matches!(e, GateError::BadInput(BadInput::FormExpired)));
    }

    #[tokio::test]
    async fn a_third_child_is_attached_by_password_and_removed_again() {
        let kit = Kit::start(Setup {
            diary: true,
            ..Setup::default()
        })
        .await;
        let s = ivanova();
        let token = s.csrf.clone();
        let attach = |login: &'static str, password: &'static str| {
            form(&[("csrf", &token), ("login", login), ("password", password)])
        };
        let current = kit.current(s.clone()).await;
        let wrong = kit
            .auth
            .attach_child(current, &attach("kuznetsov.i", "nope"), "c", "r")
            .await
            .expect("the list again");
        assert_eq!(wrong.status(), 400);
        let current = kit.current(s.clone()).await;
        let Ok(Reply::Page { page, .. }) = kit
            .auth
            .attach_child(current, &attach("smirnov.d", "demo"), "c", "r")
            .await
        else {
            panic!("the list again");
        };
        assert!(page.render("r").contains("не учётная запись ученика"));
        let current = kit.current(s).await;
        let attached = kit
            .auth
            .attach_child(current, &attach("kuznetsov.i", "demo"), "c", "r")
            .await
            .expect("attached");
        assert_eq!(
            attached.location(),
            Some(kit.url("/esia-gate/children").as_str())
        );
        let record = kit.stored_session().await;
        assert_eq!(record.child, Some(LegacyLogin("kuznetsov.i".into())));
        let current = kit.current(record).await;
        let removed = kit
            .auth
            .remove_child(
                current,
                &form(&[("csrf", &token), ("login", "kuznetsov.i")]),
                "r",
            )
            .await
            .expect("removed");
        assert_eq!(removed.status(), 302);
        let record = kit.stored_session().await;
        assert_eq!(record.children.len(), 2);
        assert_eq!(record.child, None);
    }
}
