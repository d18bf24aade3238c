//! Login history and match failures: every row kept, the latest login per
//! method, failures read back by time.

use super::{login, oid};
use crate::identity::LegacyLogin;
use crate::store::{
    DurableRecord, LastLogins, LoginMethod, LoginRecord, MatchFailure, Store, random_id,
};

pub async fn login_history_keeps_the_latest_per_method(store: &dyn Store) {
    let a = login(&format!("hist-{}", random_id()));
    let b = login(&format!("hist-{}", random_id()));
    assert!(!store.has_logged_in(&a).await.expect("has"));
    for (l, method, at) in [
        (&a, LoginMethod::Esia, 100),
        (&a, LoginMethod::Esia, 300),
        (&a, LoginMethod::Esia, 200),
        (&a, LoginMethod::Password, 50),
        (&b, LoginMethod::Password, 10),
    ] {
        store
            .record_login(&LoginRecord {
                login: l.clone(),
                method,
                at,
            })
            .await
            .expect("record");
    }
    assert!(store.has_logged_in(&a).await.expect("has"));
    assert!(store.has_logged_in(&b).await.expect("has"));
    let last = store.last_logins().await.expect("last");
    let of = |l: &LegacyLogin| last.iter().find(|x| x.login == *l).cloned();
    assert_eq!(
        of(&a),
        Some(LastLogins {
            login: a.clone(),
            last_esia: Some(300),
            last_password: Some(50),
        })
    );
    assert_eq!(
        of(&b),
        Some(LastLogins {
            login: b.clone(),
            last_esia: None,
            last_password: Some(10),
        })
    );
    let history: Vec<_> = store
        .export_durable()
        .await
        .expect("export")
        .into_iter()
        .filter(|r| matches!(r, DurableRecord::Login(l) if l.login == a))
        .collect();
    assert_eq!(history.len(), 4, "every login is kept in the history");
}

pub async fn match_failures_are_kept_by_time(store: &dyn Store) {
    let f = |at: i64, reason: &str| MatchFailure {
        at,
        reason: reason.into(),
        oid: oid("5000001"),
        logins: vec![login("smirnov.d")],
        display_name: Some("Смирнов Дмитрий Сергеевич".into()),
    };
    for x in [
        f(1000, "fio_differs"),
        f(2000, "snils_not_in_diary"),
        f(2000, "snils_not_in_diary"),
        f(3000, "no_snils"),
    ] {
        store.record_match_failure(&x).await.expect("record");
    }
    let since = store.match_failures_since(2000).await.expect("since");
    assert_eq!(since.len(), 3, "{since:?}");
    assert!(since.iter().all(|x| x.at >= 2000));
    assert!(
        since
            .iter()
            .all(|x| x.display_name.as_deref() == Some("Смирнов Дмитрий Сергеевич")),
        "the name ESIA gave is kept: {since:?}"
    );
    assert_eq!(
        store.match_failures_since(3001).await.expect("since"),
        Vec::new()
    );
    assert_eq!(store.match_failures_since(0).await.expect("all").len(), 4);
}
