//! Choosing among one's diary accounts, and unlinking one.

use super::kit::{Kit, form, session_with};
use crate::auth::error::{BadInput, GateError};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{AccountLink, LinkKind, LinkSource};

#[tokio::test]
async fn a_teacher_who_is_also_a_parent_chooses_the_parent_account() {
    let kit = Kit::new("");
    let current = kit
        .current(session_with(&["petrov.t", "petrov.parent"], None))
        .await;
    let page = kit.auth.accounts_page(&current).await.expect("the choice");
    assert_eq!(page.title(), Some("Выбор учётной записи"));
    let token = current.record.csrf.clone();
    let chosen = kit
        .auth
        .select_account(
            current,
            &form(&[("csrf", &token), ("login", "petrov.parent")]),
            "r",
        )
        .await
        .expect("chosen");
    assert_eq!(chosen.location(), Some(kit.url("/grades").as_str()));
    let record = kit.stored_session().await;
    assert_eq!(record.active, Some(LegacyLogin("petrov.parent".into())));
    assert_eq!(record.role, Some(crate::identity::Role::Parent));
}

#[tokio::test]
async fn an_account_outside_the_persons_own_or_without_the_token_is_refused() {
    let kit = Kit::new("");
    let session = session_with(&["petrov.t", "petrov.parent"], None);
    let token = session.csrf.clone();
    for (fields, why) in [
        (
            vec![("csrf", token.as_str()), ("login", "ivanova.m")],
            "not his",
        ),
        (vec![("login", "petrov.t")], "no token"),
        (
            vec![("csrf", "forged"), ("login", "petrov.t")],
            "wrong token",
        ),
    ] {
        let current = kit.current(session.clone()).await;
        let e = kit
            .auth
            .select_account(current, &form(&fields), "r")
            .await
            .err()
            .unwrap_or_else(|| panic!("{why}: accepted"));
        assert!(
            matches!(e, GateError::BadInput(BadInput::FormExpired)),
            "{why}: {e}"
        );
        assert_eq!(
            kit.auth.fail(crate::auth::Step::Accounts, &e, "r").status(),
            403
        );
    }
    assert_eq!(kit.stored_session().await.active, None);
}

#[tokio::test]
async fn only_an_account_linked_by_password_can_be_unlinked() {
    let kit = Kit::new("");
    let mut session = session_with(&["kuznetsova.o", "petrov.t"], Some("kuznetsova.o"));
    session.oid = EsiaOid("1000004".into());
    let token = session.csrf.clone();
    kit.auth
        .store()
        .put_link(&AccountLink {
            oid: session.oid.clone(),
            login: LegacyLogin("kuznetsova.o".into()),
            kind: LinkKind::Own,
            source: LinkSource::Password,
            created_at: 0,
        })
        .await
        .expect("link");
    let current = kit.current(session.clone()).await;
    let refused = kit
        .auth
        .unlink_account(
            current,
            &form(&[("csrf", &token), ("login", "petrov.t")]),
            "r",
        )
        .await;
    assert!(matches!(
        refused,
        Err(GateError::BadInput(BadInput::FormExpired))
    ));
    let current = kit.current(session).await;
    let done = kit
        .auth
        .unlink_account(
            current,
            &form(&[("csrf", &token), ("login", "kuznetsova.o")]),
            "r",
        )
        .await
        .expect("unlinked");
    // The account in use is gone: the person chooses again.
    assert_eq!(
        done.location(),
        Some(kit.url("/esia-gate/accounts").as_str())
    );
    let record = kit.stored_session().await;
    assert_eq!(record.accounts, vec![LegacyLogin("petrov.t".into())]);
    assert_eq!(record.active, None);
    assert!(
        kit.auth
            .store()
            .links_of(&record.oid)
            .await
            .expect("links")
            .is_empty()
    );
}

#[tokio::test]
async fn a_store_outage_while_choosing_names_the_gateway_not_esia() {
    let kit = Kit::new("");
    let session = session_with(&["petrov.t", "petrov.parent"], None);
    let token = session.csrf.clone();
    let current = kit.current(session).await;
    kit.store_down(true);
    let e = kit
        .auth
        .select_account(
            current,
            &form(&[("csrf", &token), ("login", "petrov.t")]),
            "r",
        )
        .await
        .err()
        .expect("the session cannot be saved");
    assert_eq!(e.label(), "store_error");
    let reply = kit.auth.fail(crate::auth::Step::Accounts, &e, "r");
    assert_eq!(reply.status(), 503);
    assert_ne!(reply.title(), Some("Госуслуги сейчас не отвечают"));
}
