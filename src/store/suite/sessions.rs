//! Sessions and pending logins: a round trip, single use under a race, and
//! the TTL every ephemeral record carries (cookie logins included).

use std::time::Duration;

use super::{join_boxed, login, record};
use crate::store::{PendingLogin, Store, random_id};

pub async fn sessions_round_trip(store: &dyn Store) {
    let id = random_id();
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    store
        .put_session(&id, &record(), Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(store.get_session(&id).await.expect("get"), Some(record()));
    let mut changed = record();
    changed.active = None;
    store
        .put_session(&id, &changed, Duration::from_secs(60))
        .await
        .expect("put again");
    assert_eq!(store.get_session(&id).await.expect("get"), Some(changed));
    assert!(store.session_count().await.expect("count") >= 1);
    store.delete_session(&id).await.expect("delete");
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    // Deleting what is not there is fine.
    store.delete_session(&id).await.expect("delete again");
}

pub async fn records_expire(store: &dyn Store) {
    let id = random_id();
    let short = Duration::from_millis(30);
    store.put_session(&id, &record(), short).await.expect("put");
    let p = PendingLogin {
        return_to: "/".into(),
        binding: random_id(),
        created_at: 1,
        handshake: String::new(),
    };
    store.put_pending("expiring", &p, short).await.expect("put");
    store
        .put_cookie_login("expiring-cookie", &login("a"), short)
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    assert_eq!(store.take_pending("expiring").await.expect("take"), None);
    assert_eq!(
        store.cookie_login("expiring-cookie").await.expect("get"),
        None
    );
}

pub async fn pending_logins_are_single_use(store: &dyn Store) {
    let p = PendingLogin {
        return_to: "/grades".into(),
        binding: random_id(),
        created_at: 1,
        handshake: String::new(),
    };
    store
        .put_pending("st", &p, Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        store.take_pending("st").await.expect("take"),
        Some(p.clone())
    );
    assert_eq!(store.take_pending("st").await.expect("take"), None);
    assert_eq!(store.take_pending("never-put").await.expect("take"), None);

    // Many takers at once: exactly one gets it.
    store
        .put_pending("raced", &p, Duration::from_secs(60))
        .await
        .expect("put");
    let takes = futures_join_all(store, "raced", 8).await;
    assert_eq!(takes, 1, "exactly one concurrent take wins");
}

async fn futures_join_all(store: &dyn Store, state: &str, n: usize) -> usize {
    let futs = (0..n).map(|_| store.take_pending(state)).collect();
    join_boxed(futs)
        .await
        .into_iter()
        .filter(|r| r.as_ref().expect("take").is_some())
        .count()
}
