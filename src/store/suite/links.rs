//! Account links: idempotent, an own link exclusive to one person, and
//! removing a link frees the account.

use super::{join_boxed, link, login, oid};
use crate::store::{AccountLink, LinkKind, Store, StoreError};

pub async fn links_are_idempotent_and_own_links_exclusive(store: &dyn Store) {
    let own = link("2000001", "ivanova.m", LinkKind::Own);
    store.put_link(&own).await.expect("put");
    store
        .put_link(&own)
        .await
        .expect("the same link again is fine");
    assert_eq!(
        store.links_of(&oid("2000001")).await.expect("links"),
        vec![own.clone()]
    );
    assert_eq!(
        store.owner_of(&login("ivanova.m")).await.expect("owner"),
        Some(oid("2000001"))
    );
    // Another person cannot take the same account as their own.
    let thief = link("2000002", "ivanova.m", LinkKind::Own);
    assert!(matches!(
        store.put_link(&thief).await,
        Err(StoreError::AlreadyLinked)
    ));
    assert_eq!(
        store.links_of(&oid("2000002")).await.expect("links"),
        Vec::new()
    );
    // A child account may be attached to both parents.
    let child_a = link("2000001", "ivanov.p", LinkKind::Child);
    let child_b = link("2000002", "ivanov.p", LinkKind::Child);
    store.put_link(&child_a).await.expect("child a");
    store.put_link(&child_b).await.expect("child b");
    assert_eq!(
        store.owner_of(&login("ivanov.p")).await.expect("owner"),
        None,
        "a child link does not make an owner"
    );
    let mut of_a = store.links_of(&oid("2000001")).await.expect("links");
    of_a.sort_by(|a, b| a.login.0.cmp(&b.login.0));
    assert_eq!(of_a, vec![child_a.clone(), own.clone()]);
    // A child's own account can still be owned by the child.
    store
        .put_link(&link("2000003", "ivanov.p", LinkKind::Own))
        .await
        .expect("child's own link");
    assert_eq!(
        store.owner_of(&login("ivanov.p")).await.expect("owner"),
        Some(oid("2000003"))
    );

    // Many people racing for one free account: exactly one wins.
    let contenders: Vec<AccountLink> = (0..8)
        .map(|i| link(&format!("30000{i}"), "contested", LinkKind::Own))
        .collect();
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>> =
        contenders.iter().map(|l| store.put_link(l)).collect();
    let results = join_boxed(futs).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyLinked)))
    );
}

pub async fn removing_a_link_frees_the_account(store: &dyn Store) {
    let own = link("4000001", "sidorov", LinkKind::Own);
    store.put_link(&own).await.expect("put");
    assert!(
        !store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Child)
            .await
            .expect("remove other kind")
    );
    assert!(
        !store
            .remove_link(&oid("4000009"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove other oid")
    );
    assert!(
        store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove twice")
    );
    assert_eq!(
        store.owner_of(&login("sidorov")).await.expect("owner"),
        None
    );
    assert!(
        store
            .links_of(&oid("4000001"))
            .await
            .expect("links")
            .is_empty()
    );
    store
        .put_link(&link("4000002", "sidorov", LinkKind::Own))
        .await
        .expect("another person may link it now");
    assert_eq!(
        store.owner_of(&login("sidorov")).await.expect("owner"),
        Some(oid("4000002"))
    );
}
