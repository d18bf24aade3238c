//! The cache: round trips saved, logouts seen, outages bridged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::store::{MemoryStore, suite};

/// A memory store that counts session and cookie reads and can be made to
/// fail.
#[derive(Default)]
struct Probe {
    inner: MemoryStore,
    reads: AtomicUsize,
    cookie_reads: AtomicUsize,
    down: AtomicBool,
}

impl Probe {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("down".into()))
        } else {
            Ok(())
        }
    }
}

macro_rules! pass {
    ($self:ident . $m:ident ( $($a:expr),* )) => {{
        $self.check()?;
        $self.inner.$m($($a),*).await
    }};
}

#[async_trait]
impl Store for Arc<Probe> {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        pass!(self.put_session(id, s, ttl))
    }
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        pass!(self.get_session(id))
    }
    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        pass!(self.delete_session(id))
    }
    async fn session_count(&self) -> Result<usize, StoreError> {
        pass!(self.session_count())
    }
    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        pass!(self.put_pending(state, p, ttl))
    }
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        pass!(self.take_pending(state))
    }
    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        pass!(self.rate_reserve(key, limit, window))
    }
    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        pass!(self.rate_release(key))
    }
    async fn put_cookie_login(
        &self,
        h: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        pass!(self.put_cookie_login(h, login, ttl))
    }
    async fn cookie_login(&self, h: &str) -> Result<Option<LegacyLogin>, StoreError> {
        self.cookie_reads.fetch_add(1, Ordering::SeqCst);
        pass!(self.cookie_login(h))
    }
    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        pass!(self.put_link(link))
    }
    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        pass!(self.remove_link(oid, login, kind))
    }
    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        pass!(self.links_of(oid))
    }
    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        pass!(self.owner_of(login))
    }
    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        pass!(self.record_login(r))
    }
    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        pass!(self.last_logins())
    }
    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        pass!(self.has_logged_in(login))
    }
    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        pass!(self.record_match_failure(f))
    }
    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        pass!(self.match_failures_since(at))
    }
    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        pass!(self.last_logins_of(logins))
    }
    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        pass!(self.prune_before(before, batch))
    }
    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        pass!(self.forget_person(oid))
    }
    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        pass!(self.export_durable())
    }
    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        pass!(self.import_durable(records))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        pass!(self.ping())
    }
}

fn cached(ttl_ms: u64, stale_ms: u64) -> (Arc<Probe>, CachedStore<Arc<Probe>>) {
    let probe = Arc::new(Probe::default());
    let c = CachedStore::new(
        probe.clone(),
        "memory",
        CacheSettings {
            ttl: Duration::from_millis(ttl_ms),
            stale: Duration::from_millis(stale_ms),
            capacity: 64,
        },
    );
    (probe, c)
}

#[tokio::test]
async fn a_cached_session_costs_no_round_trip() {
    let (probe, c) = cached(60_000, 0);
    // Another node made the session: the first read asks, then none.
    probe
        .inner
        .put_session("s1", &suite::record(), Duration::from_secs(60))
        .await
        .expect("put");
    for _ in 0..10 {
        assert_eq!(
            c.get_session("s1").await.expect("get"),
            Some(suite::record())
        );
    }
    assert_eq!(probe.reads.load(Ordering::SeqCst), 1);
    // Made here: no read at all.
    c.put_session("s2", &suite::record(), Duration::from_secs(60))
        .await
        .expect("put");
    c.get_session("s2").await.expect("get");
    assert_eq!(probe.reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_logout_elsewhere_is_seen_after_the_ttl() {
    let (probe, c) = cached(1000, 0);
    c.put_session("s", &suite::record(), Duration::from_secs(60))
        .await
        .expect("put");
    probe.inner.delete_session("s").await.expect("delete");
    assert!(c.get_session("s").await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.get_session("s").await.expect("get"), None);
    // A local logout is seen at once.
    c.put_session("t", &suite::record(), Duration::from_secs(60))
        .await
        .expect("put");
    c.delete_session("t").await.expect("delete");
    assert_eq!(c.get_session("t").await.expect("get"), None);
}

#[tokio::test]
async fn an_outage_serves_cached_sessions_for_a_while_and_counts_errors() {
    // Margins wide enough for a loaded machine: a copy 40 ms old is stale
    // (past 20 ms) but usable (within 20 + 2000 ms).
    let (probe, c) = cached(20, 2000);
    c.put_session("s", &suite::record(), Duration::from_secs(60))
        .await
        .expect("put");
    let before = crate::telemetry::metrics::get()
        .store_errors
        .with_label_values(&["memory", "get_session"])
        .get();
    probe.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(c.get_session("s").await.expect("stale copy").is_some());
    assert!(c.get_session("unknown").await.is_err());
    let after = crate::telemetry::metrics::get()
        .store_errors
        .with_label_values(&["memory", "get_session"])
        .get();
    assert!(after >= before + 2, "{before} -> {after}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(c.get_session("s").await.is_err(), "stale limit passed");
}

#[tokio::test]
async fn the_cache_stays_bounded() {
    let (_probe, c) = cached(60_000, 0);
    for i in 0..1000 {
        c.put_session(&format!("s{i}"), &suite::record(), Duration::from_secs(60))
            .await
            .expect("put");
    }
    let total = c.sessions.len();
    assert!(total <= 64 + 16, "{total}");
}

#[tokio::test]
async fn a_session_expiring_sooner_than_the_ttl_is_not_served_longer() {
    let (_probe, c) = cached(60_000, 60_000);
    c.put_session("s", &suite::record(), Duration::from_millis(30))
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(c.get_session("s").await.expect("get"), None);
}

#[tokio::test]
async fn a_diary_cookie_is_asked_about_once_while_cached_known_or_not() {
    let (probe, c) = cached(60_000, 60_000);
    let ada = LegacyLogin("ada".into());
    // Unknown: asked once, then the miss is served from memory.
    assert_eq!(c.cookie_login("h-unknown").await.expect("look-up"), None);
    assert_eq!(c.cookie_login("h-unknown").await.expect("look-up"), None);
    assert_eq!(probe.cookie_reads.load(Ordering::SeqCst), 1);
    // Learned here: known at once, without a round trip.
    c.put_cookie_login("h-known", &ada, Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        c.cookie_login("h-known").await.expect("look-up"),
        Some(ada.clone())
    );
    assert_eq!(probe.cookie_reads.load(Ordering::SeqCst), 1);
    // Learned elsewhere (straight into the store): known here once the
    // miss ages out (a quarter of the cache TTL).
    let (probe, c) = cached(2000, 60_000);
    assert_eq!(c.cookie_login("h").await.expect("look-up"), None);
    probe
        .inner
        .put_cookie_login("h", &ada, Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        c.cookie_login("h").await.expect("look-up"),
        None,
        "miss cached"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        c.cookie_login("h").await.expect("look-up"),
        Some(ada.clone())
    );
    // Through an outage a known password session is served (past its
    // fresh time, within its stale time), an unknown cookie stays an
    // error (the caller treats it strictly).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    probe.down.store(true, Ordering::SeqCst);
    assert_eq!(c.cookie_login("h").await.expect("stale"), Some(ada));
    assert!(c.cookie_login("h-never-seen").await.is_err());
}
