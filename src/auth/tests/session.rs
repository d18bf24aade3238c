//! The gateway session: its token, its idle timeout, the next step.

use std::collections::HashMap;

use super::kit::{Kit, session_with};
use crate::auth::session::*;
use crate::identity::{LegacyLogin, Role};
use crate::store::SessionRecord;

#[test]
fn a_form_needs_its_pages_token() {
    let record = SessionRecord {
        csrf: "token-1".into(),
        ..SessionRecord::default()
    };
    let form = |v: &str| HashMap::from([("csrf".to_string(), v.to_string())]);
    assert!(csrf_ok(&record, &form("token-1")));
    assert!(!csrf_ok(&record, &form("token-2")));
    assert!(!csrf_ok(&record, &form("token-")));
    assert!(!csrf_ok(&record, &HashMap::new()));
    // A session without a token accepts no form at all.
    assert!(!csrf_ok(&SessionRecord::default(), &form("")));
}

#[tokio::test]
async fn a_session_unused_past_the_idle_timeout_is_gone() {
    let kit = Kit::new("[session]\nidle_seconds = 1800\n");
    let cookies = kit
        .login_session(session_with(&["ivanova.m"], Some("ivanova.m")))
        .await;
    assert!(kit.auth.current(&cookies, "r1").await.is_some());
    kit.advance(1801);
    assert!(kit.auth.current(&cookies, "r2").await.is_none());
    // And it stays gone: the store forgot it.
    kit.advance(-1801);
    assert!(kit.auth.current(&cookies, "r3").await.is_none());
}

#[tokio::test]
async fn a_person_goes_on_to_choose_link_or_pick_a_child() {
    let kit = Kit::new("");
    let mut s = session_with(&[], None);
    assert_eq!(kit.auth.next_step(&s), "/esia-gate/link");
    s.accounts = vec![
        LegacyLogin("petrov.t".into()),
        LegacyLogin("petrov.parent".into()),
    ];
    assert_eq!(kit.auth.next_step(&s), "/esia-gate/accounts");
    kit.auth
        .activate(&mut s, &LegacyLogin("petrov.parent".into()), "r")
        .await;
    assert_eq!(s.role, Some(Role::Parent));
    s.children = vec![
        LegacyLogin("ivanov.k".into()),
        LegacyLogin("ivanova.a".into()),
    ];
    assert_eq!(kit.auth.next_step(&s), "/esia-gate/children");
    s.child = Some(LegacyLogin("ivanova.a".into()));
    s.return_to = Some("/grades".into());
    assert_eq!(kit.auth.next_step(&s), "/grades");
    let bar = kit.auth.account_bar(&s).expect("a bar for two accounts");
    assert!(bar.contains("Сменить учётную запись") && bar.contains(">Дети<"));
}
