//! Exporting and importing the durable records (for moving between
//! backends): every record kept, duplicates included; a conflicting own
//! link is refused.

use super::{link, login, oid};
use crate::store::{
    AccountLink, DurableRecord, LinkKind, LinkSource, LoginMethod, LoginRecord, MatchFailure,
    Store, StoreError,
};

fn sample_records() -> Vec<DurableRecord> {
    vec![
        DurableRecord::Link(link("6000001", "a.own", LinkKind::Own)),
        DurableRecord::Link(AccountLink {
            source: LinkSource::Password,
            ..link("6000001", "a.child", LinkKind::Child)
        }),
        DurableRecord::Link(link("6000002", "b.own", LinkKind::Own)),
        DurableRecord::Login(LoginRecord {
            login: login("a.own"),
            method: LoginMethod::Esia,
            at: 10,
        }),
        DurableRecord::Login(LoginRecord {
            login: login("a.own"),
            method: LoginMethod::Esia,
            at: 10,
        }),
        DurableRecord::Login(LoginRecord {
            login: login("b.own"),
            method: LoginMethod::Password,
            at: 20,
        }),
        DurableRecord::MatchFailure(MatchFailure {
            at: 30,
            reason: "fio_differs".into(),
            oid: oid("6000003"),
            logins: vec![login("c")],
            display_name: Some("Орлова Анна".into()),
        }),
    ]
}

/// Records in a comparable order (backends need not keep insertion order
/// across kinds, but must keep every record, duplicates included).
pub fn sorted(mut v: Vec<DurableRecord>) -> Vec<String> {
    let mut out: Vec<String> = v
        .drain(..)
        .map(|r| serde_json::to_string(&r).unwrap_or_default())
        .collect();
    out.sort();
    out
}

/// `a` and `b` are empty stores of the same backend.
pub async fn export_import_round_trip(a: &dyn Store, b: &dyn Store) {
    a.import_durable(&sample_records()).await.expect("import");
    let exported = a.export_durable().await.expect("export");
    assert_eq!(sorted(exported.clone()), sorted(sample_records()));
    b.import_durable(&exported).await.expect("import into b");
    assert_eq!(
        sorted(b.export_durable().await.expect("export b")),
        sorted(sample_records())
    );
    assert_eq!(
        b.owner_of(&login("a.own")).await.expect("owner"),
        Some(oid("6000001"))
    );
    assert!(b.has_logged_in(&login("b.own")).await.expect("has"));
    // An import that conflicts with an existing own link is refused.
    let conflict = [DurableRecord::Link(link("6000009", "a.own", LinkKind::Own))];
    assert!(matches!(
        b.import_durable(&conflict).await,
        Err(StoreError::AlreadyLinked)
    ));
}
