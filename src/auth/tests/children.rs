//! A parent's children: choosing, attaching by password, removing.

use super::kit::{Kit, Setup, form, session_with};
use crate::auth::error::{BadInput, GateError};
use crate::auth::{Reply, Step};
use crate::identity::{EsiaOid, LegacyLogin, Role};
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
