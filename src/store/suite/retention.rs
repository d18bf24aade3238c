//! Retention and one person's records: pruning removes history and match
//! failures older than the limit (newer ones and links stay), forgetting a
//! person removes exactly their records, and the last logins of a few
//! accounts are read without the rest.

use super::{link, login, oid};
use crate::identity::LegacyLogin;
use crate::store::{
    DurableRecord, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure, Store, random_id,
};

const DAY: i64 = 86_400;

fn rec(l: &LegacyLogin, method: LoginMethod, at: i64) -> LoginRecord {
    LoginRecord {
        login: l.clone(),
        method,
        at,
    }
}

fn failure(o: &str, at: i64) -> MatchFailure {
    MatchFailure {
        at,
        reason: "fio_differs".into(),
        oid: oid(o),
        logins: vec![login("someone")],
        display_name: Some("Петров Пётр".into()),
    }
}

fn logins_in(records: &[DurableRecord], l: &LegacyLogin) -> Vec<i64> {
    let mut v: Vec<i64> = records
        .iter()
        .filter_map(|r| match r {
            DurableRecord::Login(x) if x.login == *l => Some(x.at),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v
}

/// Records of day 10 and 20 (UTC days since the epoch) and the limit at the
/// start of day 15: the old ones go batch by batch, the newer ones and the
/// links stay, the last logins are kept.
pub async fn pruning_removes_only_what_is_older_than_the_limit(store: &dyn Store) {
    let (a, b) = (
        login(&format!("ret-{}", random_id())),
        login(&format!("ret-{}", random_id())),
    );
    let who = format!("77{}", &random_id()[..6]);
    store
        .put_link(&link(&who, &a.0, LinkKind::Own))
        .await
        .expect("link");
    let old = 10 * DAY;
    let new = 20 * DAY;
    for i in 0..7 {
        store
            .record_login(&rec(&a, LoginMethod::Esia, old + i * 60))
            .await
            .expect("old login");
        store
            .record_login(&rec(&b, LoginMethod::Password, old + i))
            .await
            .expect("old login b");
    }
    store
        .record_login(&rec(&a, LoginMethod::Esia, new))
        .await
        .expect("new login");
    for at in [old, old + 5, new] {
        store
            .record_match_failure(&failure(&who, at))
            .await
            .expect("failure");
    }
    let before = 15 * DAY;
    let mut removed = 0;
    let mut calls = 0;
    loop {
        let n = store.prune_before(before, 4).await.expect("prune");
        if n == 0 {
            break;
        }
        assert!(n <= 4 + 7, "a batch stays bounded: {n}");
        removed += n;
        calls += 1;
        assert!(calls < 50, "pruning ends");
    }
    assert!(calls >= 2, "more than one batch of 4 for 16 records");
    assert_eq!(removed, 16, "7 + 7 old logins and 2 old failures");
    let all = store.export_durable().await.expect("export");
    assert_eq!(logins_in(&all, &a), vec![new]);
    assert_eq!(logins_in(&all, &b), Vec::<i64>::new());
    let failures = store.match_failures_since(0).await.expect("failures");
    let mine: Vec<i64> = failures
        .iter()
        .filter(|f| f.oid.0 == who)
        .map(|f| f.at)
        .collect();
    assert_eq!(mine, vec![new]);
    assert_eq!(
        store.links_of(&oid(&who)).await.expect("links").len(),
        1,
        "links stay until unlinked"
    );
    assert!(
        store.has_logged_in(&b).await.expect("has"),
        "last logins are kept"
    );
    assert_eq!(store.prune_before(before, 100).await.expect("again"), 0);
}

/// One person forgotten: their links, their own accounts' history and last
/// logins, their failures; another person's records, and the child account's
/// own history, stay.
pub async fn forgetting_a_person_removes_their_records_only(store: &dyn Store) {
    let tag = &random_id()[..8];
    let (me, other) = (format!("81{tag}"), format!("82{tag}"));
    let (mine, child, theirs) = (
        login(&format!("own-{tag}")),
        login(&format!("child-{tag}")),
        login(&format!("theirs-{tag}")),
    );
    store
        .put_link(&link(&me, &mine.0, LinkKind::Own))
        .await
        .expect("own");
    store
        .put_link(&link(&me, &child.0, LinkKind::Child))
        .await
        .expect("child");
    store
        .put_link(&link(&other, &theirs.0, LinkKind::Own))
        .await
        .expect("other's own");
    store
        .put_link(&link(&other, &child.0, LinkKind::Child))
        .await
        .expect("other's child");
    for (l, m, at) in [
        (&mine, LoginMethod::Esia, 100),
        (&mine, LoginMethod::Password, 200),
        (&mine, LoginMethod::Esia, 300),
        (&child, LoginMethod::Esia, 400),
        (&theirs, LoginMethod::Esia, 500),
    ] {
        store.record_login(&rec(l, m, at)).await.expect("login");
    }
    store
        .record_match_failure(&failure(&me, 600))
        .await
        .expect("failure");
    store
        .record_match_failure(&failure(&other, 700))
        .await
        .expect("failure");
    // 2 links, 3 history rows and 1 last-login row of `mine`, 1 failure.
    assert_eq!(store.forget_person(&oid(&me)).await.expect("forget"), 7);
    assert_eq!(store.links_of(&oid(&me)).await.expect("links"), Vec::new());
    assert_eq!(store.owner_of(&mine).await.expect("owner"), None);
    assert!(!store.has_logged_in(&mine).await.expect("has"));
    assert!(store.has_logged_in(&child).await.expect("child's own"));
    let all = store.export_durable().await.expect("export");
    assert_eq!(logins_in(&all, &mine), Vec::<i64>::new());
    assert_eq!(logins_in(&all, &child), vec![400]);
    assert_eq!(logins_in(&all, &theirs), vec![500]);
    let failures = store.match_failures_since(0).await.expect("failures");
    assert!(failures.iter().all(|f| f.oid.0 != me));
    assert!(failures.iter().any(|f| f.oid.0 == other));
    assert_eq!(store.links_of(&oid(&other)).await.expect("links").len(), 2);
    assert_eq!(
        store.owner_of(&theirs).await.expect("owner"),
        Some(oid(&other))
    );
    // The account is free again.
    store
        .put_link(&link(&format!("83{tag}"), &mine.0, LinkKind::Own))
        .await
        .expect("a freed account can be linked");
    assert_eq!(store.forget_person(&oid(&me)).await.expect("again"), 0);
}

pub async fn last_logins_of_reads_the_accounts_asked_for(store: &dyn Store) {
    let tag = &random_id()[..8];
    let ls: Vec<LegacyLogin> = (0..5).map(|i| login(&format!("lo{i}-{tag}"))).collect();
    for (i, l) in ls.iter().enumerate().take(4) {
        let at = 1000 + i64::try_from(i).unwrap_or(0);
        store
            .record_login(&rec(l, LoginMethod::Esia, at))
            .await
            .expect("login");
    }
    store
        .record_login(&rec(&ls[1], LoginMethod::Password, 900))
        .await
        .expect("password");
    let asked = [ls[1].clone(), ls[3].clone(), ls[4].clone()];
    let mut got = store.last_logins_of(&asked).await.expect("of");
    got.sort_by(|x, y| x.login.0.cmp(&y.login.0));
    assert_eq!(
        got,
        vec![
            LastLogins {
                login: ls[1].clone(),
                last_esia: Some(1001),
                last_password: Some(900),
            },
            LastLogins {
                login: ls[3].clone(),
                last_esia: Some(1003),
                last_password: None,
            },
        ],
        "never logged in: absent; not asked: absent"
    );
    assert_eq!(store.last_logins_of(&[]).await.expect("none"), Vec::new());
}
