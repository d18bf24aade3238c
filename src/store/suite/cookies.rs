//! Password-session cookies: a hashed cookie maps to a diary login, the
//! later put wins, and a live one survives a restart of the gateway.

use std::time::Duration;

use super::Harness;
use super::login;
use crate::store::{Store, random_id};

pub async fn cookie_logins_map_a_hashed_cookie_to_a_login(store: &dyn Store) {
    let h = random_id();
    assert_eq!(store.cookie_login(&h).await.expect("get"), None);
    store
        .put_cookie_login(&h, &login("petrov.a"), Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.a"))
    );
    // The same cookie seen again: the later login and TTL win.
    store
        .put_cookie_login(&h, &login("petrov.b"), Duration::from_millis(40))
        .await
        .expect("put again");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.b"))
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        None,
        "the shorter TTL of the later put holds"
    );
    // And remembered again after it expired.
    store
        .put_cookie_login(&h, &login("petrov.c"), Duration::from_secs(60))
        .await
        .expect("put after expiry");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.c"))
    );
}

/// A gateway restart: a new store object on the same data (the same file,
/// the same Redis and prefix) still knows a live password session and
/// still forgets an expired one. Backends with nothing to reopen (memory)
/// have nothing to show here.
pub async fn cookie_logins_survive_a_restart(h: &Harness) {
    let Some(n) = h.reopenable() else {
        return;
    };
    let (live, short) = (random_id(), random_id());
    {
        let store = h.open(n).await;
        store
            .put_cookie_login(&live, &login("ivanova.m"), Duration::from_secs(600))
            .await
            .expect("put");
        store
            .put_cookie_login(&short, &login("petrov.a"), Duration::from_millis(40))
            .await
            .expect("put");
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    let store = h.open(n).await;
    assert_eq!(
        store.cookie_login(&live).await.expect("get"),
        Some(login("ivanova.m")),
        "a remembered password session survives the restart"
    );
    assert_eq!(store.cookie_login(&short).await.expect("get"), None);
    // Not part of the export: they are not durable records.
    let exported =
        serde_json::to_string(&store.export_durable().await.expect("export")).expect("json");
    assert!(!exported.contains(&live) && !exported.contains("ivanova.m"));
}
