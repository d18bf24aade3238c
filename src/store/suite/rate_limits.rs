//! Rate-limit reservations: fixed windows, releases that never go below
//! zero, and exactly the limit granted to many callers at once.

use std::time::Duration;

use super::join_boxed;
use crate::store::{Reserved, Store, StoreError, random_id};

fn granted(r: Result<Reserved, StoreError>) -> u64 {
    match r.expect("reserve") {
        Reserved::Granted { count } => count,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn refused(r: Result<Reserved, StoreError>) -> u64 {
    match r.expect("reserve") {
        Reserved::Refused { seconds_left } => seconds_left,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn rate_reservations_count_in_fixed_windows(store: &dyn Store) {
    let key = format!("link:{}", random_id());
    let window = Duration::from_millis(400);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 1);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 2);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 3);
    // Full: refused, with the (rounded up) seconds left, and not counted.
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    // Given back: room for exactly one more.
    store.rate_release(&key).await.expect("release");
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 3);
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    // Another key counts on its own.
    let other = format!("{key}:other");
    assert_eq!(granted(store.rate_reserve(&other, 3, window).await), 1);
    // The window started at the first grant; later ones did not extend it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 1);
    // A long window reports its seconds left.
    let long = format!("{key}:long");
    let ten_minutes = Duration::from_secs(600);
    assert_eq!(granted(store.rate_reserve(&long, 1, ten_minutes).await), 1);
    let left = refused(store.rate_reserve(&long, 1, ten_minutes).await);
    assert!((595..=600).contains(&left), "{left}");
}

pub async fn releasing_never_goes_below_zero(store: &dyn Store) {
    let key = format!("link:{}", random_id());
    let window = Duration::from_secs(60);
    // Nothing reserved: nothing to give back, and no window starts.
    store.rate_release(&key).await.expect("release unknown");
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 1);
    for _ in 0..3 {
        store.rate_release(&key).await.expect("release");
    }
    // Three releases of one grant leave room for the limit, not more.
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 1);
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 2);
    refused(store.rate_reserve(&key, 2, window).await);
    // An expired window is not revived by a release.
    let short = format!("{key}:short");
    let tiny = Duration::from_millis(50);
    assert_eq!(granted(store.rate_reserve(&short, 1, tiny).await), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    store.rate_release(&short).await.expect("release expired");
    assert_eq!(granted(store.rate_reserve(&short, 1, tiny).await), 1);
}

/// Sixty wrong passwords sent at once: only the limit reaches the diary.
pub async fn sixty_concurrent_reservations_grant_exactly_the_limit(store: &dyn Store) {
    let key = format!("link-fail:oid:{}", random_id());
    let window = Duration::from_secs(60);
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>> = (0..60)
        .map(|_| store.rate_reserve(&key, 5, window))
        .collect();
    let mut counts: Vec<u64> = Vec::new();
    for r in join_boxed(futs).await {
        match r.expect("reserve") {
            Reserved::Granted { count } => counts.push(count),
            Reserved::Refused { seconds_left } => {
                assert!((1..=60).contains(&seconds_left), "{seconds_left}")
            }
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3, 4, 5], "each grant saw its own count");
}
