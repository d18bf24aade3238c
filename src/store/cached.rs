//! The hot path's cache: `get_session` is answered from this node's memory
//! for a short time (default 2 s) after the store was asked, so a request
//! with a valid session costs at most one round trip and none while cached.
//! `put_session` and `delete_session` update the local copy at once; other
//! nodes see a logout when their copy ages out. While the store does not
//! answer, a cached session is still served for a bounded time (`stale`), so
//! people already in keep working through a short outage. Everything else
//! goes straight to the store, among it password-session cookies (so no copy
//! here can outlive their TTL or their removal) and rate-limit reservations
//! (atomic only in the store). Every failure of the store is counted in
//! `esia_gate_store_errors_total{backend, op}`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, PendingLogin,
    Reserved, SessionRecord, Store, StoreError,
};
use crate::identity::{EsiaOid, LegacyLogin};

#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long a copy is served without asking the store.
    pub ttl: Duration,
    /// How long past `ttl` a copy may still be served when the store fails.
    pub stale: Duration,
    /// Most sessions kept (over all shards).
    pub capacity: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(2),
            stale: Duration::from_secs(300),
            capacity: 100_000,
        }
    }
}

const SHARDS: usize = 16;

struct Entry {
    record: SessionRecord,
    /// When the copy must be checked with the store again.
    fresh_until: Instant,
    /// When the copy may no longer be served at all (the session's own
    /// expiry when known, or `fresh_until + stale`).
    usable_until: Instant,
}

pub struct CachedStore<S> {
    inner: S,
    backend: &'static str,
    settings: CacheSettings,
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl<S: Store> CachedStore<S> {
    /// `backend` labels the error counter (`embedded`, `redis`, `memory`).
    pub fn new(inner: S, backend: &'static str, settings: CacheSettings) -> Self {
        Self {
            inner,
            backend,
            settings,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let m = &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS];
        // Each operation is one map call; a poisoned lock holds no half-write.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, id: &str, record: SessionRecord, session_ttl: Option<Duration>) {
        if self.settings.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let limit = session_ttl.map(|t| now + t);
        let fresh_until = limit.map_or(now + self.settings.ttl, |l| l.min(now + self.settings.ttl));
        let stale_limit = fresh_until + self.settings.stale;
        let usable_until = limit.map_or(stale_limit, |l| l.min(stale_limit));
        let per_shard = (self.settings.capacity / SHARDS).max(1);
        let mut shard = self.shard(id);
        if shard.len() >= per_shard && !shard.contains_key(id) {
            shard.retain(|_, e| e.usable_until > now && e.fresh_until > now);
            if shard.len() >= per_shard {
                // Still full of live copies: drop some; they are only copies.
                let doomed: Vec<String> = shard.keys().take(per_shard / 8 + 1).cloned().collect();
                for k in doomed {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            id.to_string(),
            Entry {
                record,
                fresh_until,
                usable_until,
            },
        );
    }

    fn count<T>(&self, op: &'static str, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r
            && !matches!(e, StoreError::AlreadyLinked)
        {
            crate::telemetry::metrics::get()
                .store_errors
                .with_label_values(&[self.backend, op])
                .inc();
        }
        r
    }
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let r = self.inner.put_session(id, s, ttl).await;
        match &r {
            Ok(()) => self.remember(id, s.clone(), Some(ttl)),
            Err(_) => {
                self.shard(id).remove(id);
            }
        }
        self.count("put_session", r)
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = Instant::now();
        let stale = {
            let mut shard = self.shard(id);
            match shard.get(id) {
                Some(e) if e.fresh_until > now => return Ok(Some(e.record.clone())),
                Some(e) if e.usable_until > now => Some(e.record.clone()),
                Some(_) => {
                    shard.remove(id);
                    None
                }
                None => None,
            }
        };
        match self.inner.get_session(id).await {
            Ok(Some(rec)) => {
                self.remember(id, rec.clone(), None);
                Ok(Some(rec))
            }
            Ok(None) => {
                self.shard(id).remove(id);
                Ok(None)
            }
            Err(e) => {
                let r = self.count("get_session", Err(e));
                match stale {
                    Some(rec) => Ok(Some(rec)),
                    None => r,
                }
            }
        }
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.shard(id).remove(id);
        let r = self.inner.delete_session(id).await;
        self.count("delete_session", r)
    }

    async fn session_count(&self) -> Result<usize, StoreError> {
        let r = self.inner.session_count().await;
        self.count("session_count", r)
    }

    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let r = self.inner.put_pending(state, p, ttl).await;
        self.count("put_pending", r)
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let r = self.inner.take_pending(state).await;
        self.count("take_pending", r)
    }

    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        let r = self.inner.rate_reserve(key, limit, window).await;
        self.count("rate_reserve", r)
    }

    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        let r = self.inner.rate_release(key).await;
        self.count("rate_release", r)
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let r = self.inner.put_cookie_login(cookie_hash, login, ttl).await;
        self.count("put_cookie_login", r)
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        let r = self.inner.cookie_login(cookie_hash).await;
        self.count("cookie_login", r)
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let r = self.inner.put_link(link).await;
        self.count("put_link", r)
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let r = self.inner.remove_link(oid, login, kind).await;
        self.count("remove_link", r)
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let r = self.inner.links_of(oid).await;
        self.count("links_of", r)
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let r = self.inner.owner_of(login).await;
        self.count("owner_of", r)
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let res = self.inner.record_login(r).await;
        self.count("record_login", res)
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        let r = self.inner.last_logins().await;
        self.count("last_logins", r)
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let r = self.inner.has_logged_in(login).await;
        self.count("has_logged_in", r)
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let r = self.inner.record_match_failure(f).await;
        self.count("record_match_failure", r)
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        let r = self.inner.match_failures_since(at).await;
        self.count("match_failures_since", r)
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let r = self.inner.export_durable().await;
        self.count("export_durable", r)
    }

    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let r = self.inner.import_durable(records).await;
        self.count("import_durable", r)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let r = self.inner.ping().await;
        self.count("ping", r)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::store::{MemoryStore, suite};

    /// A memory store that counts session reads and can be made to fail.
    #[derive(Default)]
    struct Probe {
        inner: MemoryStore,
        reads: AtomicUsize,
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
        let (probe, c) = cached(50, 0);
        c.put_session("s", &suite::record(), Duration::from_secs(60))
            .await
            .expect("put");
        probe.inner.delete_session("s").await.expect("delete");
        assert!(c.get_session("s").await.expect("get").is_some());
        tokio::time::sleep(Duration::from_millis(80)).await;
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
        let (probe, c) = cached(20, 200);
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
        tokio::time::sleep(Duration::from_millis(250)).await;
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
        let total: usize = c
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total <= 64 + SHARDS, "{total}");
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
}
