//! The hot path's cache: `get_session` and `cookie_login` (the diary
//! cookie → login of a password session) are answered from this node's
//! memory for a short time (default 2 s) after the store was asked, so a
//! request costs at most one round trip and none while cached. Misses are
//! cached too (a diary cookie the gateway never saw is asked about on every
//! asset otherwise), for a quarter of that time: a password session learned
//! on another node is known here within it. `put_*` and `delete_session`
//! update the local copy at once; other nodes see a logout when their copy
//! ages out. While the store does not answer, a cached session or password
//! session is still served for a bounded time (`stale`), so people already
//! in keep working through a short outage. Everything else goes straight to
//! the store, among it rate-limit reservations (atomic only in the store).
//! Every failure of the store is counted in
//! `esia_gate_store_errors_total{backend, op}`.

mod memo;

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, PendingLogin,
    Reserved, SessionRecord, Store, StoreError,
};
use crate::identity::{EsiaOid, LegacyLogin};
use memo::{Lookup, Memo};

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

pub struct CachedStore<S> {
    inner: S,
    backend: &'static str,
    /// The label of the durable records' calls (`postgres` when they live
    /// there, else `backend`).
    durable: &'static str,
    settings: CacheSettings,
    sessions: Memo<SessionRecord>,
    /// Diary cookie hash → the login of its password session, or `None`
    /// for a cookie the store does not know.
    cookies: Memo<Option<LegacyLogin>>,
}

impl<S: Store> CachedStore<S> {
    /// `backend` labels the error counter (`embedded`, `redis`, `memory`).
    pub fn new(inner: S, backend: &'static str, settings: CacheSettings) -> Self {
        Self {
            inner,
            backend,
            durable: backend,
            settings,
            sessions: Memo::new(settings.capacity),
            cookies: Memo::new(settings.capacity),
        }
    }

    /// Count the durable records' failures under another backend label.
    pub fn with_durable_label(mut self, label: &'static str) -> Self {
        self.durable = label;
        self
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Until when a copy is served without asking, and until when at all,
    /// bounded by the record's own lifetime when it is known.
    fn lifetimes(&self, fresh: Duration, record_ttl: Option<Duration>) -> (Instant, Instant) {
        let now = Instant::now();
        let limit = record_ttl.map(|t| now + t);
        let fresh_until = limit.map_or(now + fresh, |l| l.min(now + fresh));
        let stale_limit = fresh_until + self.settings.stale;
        (
            fresh_until,
            limit.map_or(stale_limit, |l| l.min(stale_limit)),
        )
    }

    fn remember(&self, id: &str, record: SessionRecord, session_ttl: Option<Duration>) {
        if self.settings.ttl.is_zero() {
            return;
        }
        let (fresh, usable) = self.lifetimes(self.settings.ttl, session_ttl);
        self.sessions.put(id, record, fresh, usable);
    }

    fn remember_cookie(&self, hash: &str, login: Option<LegacyLogin>, ttl: Option<Duration>) {
        if self.settings.ttl.is_zero() {
            return;
        }
        // A miss is asked about again sooner, and never served past it.
        let fresh = if login.is_some() {
            self.settings.ttl
        } else {
            self.settings.ttl / 4
        };
        let (fresh_until, usable) = self.lifetimes(fresh, ttl);
        let usable = if login.is_some() { usable } else { fresh_until };
        self.cookies.put(hash, login, fresh_until, usable);
    }

    fn count<T>(&self, op: &'static str, r: Result<T, StoreError>) -> Result<T, StoreError> {
        self.count_as(self.backend, op, r)
    }

    fn count_durable<T>(
        &self,
        op: &'static str,
        r: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.count_as(self.durable, op, r)
    }

    fn count_as<T>(
        &self,
        backend: &'static str,
        op: &'static str,
        r: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(e) = &r
            && !matches!(e, StoreError::AlreadyLinked)
        {
            crate::telemetry::metrics::get()
                .store_errors
                .with_label_values(&[backend, op])
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
            Err(_) => self.sessions.remove(id),
        }
        self.count("put_session", r)
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let stale = match self.sessions.get(id) {
            Lookup::Fresh(rec) => return Ok(Some(rec)),
            Lookup::Stale(rec) => Some(rec),
            Lookup::Missing => None,
        };
        match self.inner.get_session(id).await {
            Ok(Some(rec)) => {
                self.remember(id, rec.clone(), None);
                Ok(Some(rec))
            }
            Ok(None) => {
                self.sessions.remove(id);
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
        self.sessions.remove(id);
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
        match &r {
            Ok(()) => self.remember_cookie(cookie_hash, Some(login.clone()), Some(ttl)),
            Err(_) => self.cookies.remove(cookie_hash),
        }
        self.count("put_cookie_login", r)
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        let stale = match self.cookies.get(cookie_hash) {
            Lookup::Fresh(login) => return Ok(login),
            Lookup::Stale(login) => login,
            Lookup::Missing => None,
        };
        match self.inner.cookie_login(cookie_hash).await {
            Ok(login) => {
                self.remember_cookie(cookie_hash, login.clone(), None);
                Ok(login)
            }
            Err(e) => {
                let r = self.count("cookie_login", Err(e));
                // A known password session keeps working through a short
                // outage; an unknown cookie stays unknown (strict).
                match stale {
                    Some(login) => Ok(Some(login)),
                    None => r,
                }
            }
        }
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let r = self.inner.put_link(link).await;
        self.count_durable("put_link", r)
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let r = self.inner.remove_link(oid, login, kind).await;
        self.count_durable("remove_link", r)
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let r = self.inner.links_of(oid).await;
        self.count_durable("links_of", r)
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let r = self.inner.owner_of(login).await;
        self.count_durable("owner_of", r)
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let res = self.inner.record_login(r).await;
        self.count_durable("record_login", res)
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        let r = self.inner.last_logins().await;
        self.count_durable("last_logins", r)
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let r = self.inner.has_logged_in(login).await;
        self.count_durable("has_logged_in", r)
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let r = self.inner.record_match_failure(f).await;
        self.count_durable("record_match_failure", r)
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        let r = self.inner.match_failures_since(at).await;
        self.count_durable("match_failures_since", r)
    }

    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        let r = self.inner.last_logins_of(logins).await;
        self.count_durable("last_logins_of", r)
    }

    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        let r = self.inner.prune_before(before, batch).await;
        self.count_durable("prune_before", r)
    }

    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        let r = self.inner.forget_person(oid).await;
        self.count_durable("forget_person", r)
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let r = self.inner.export_durable().await;
        self.count_durable("export_durable", r)
    }

    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let r = self.inner.import_durable(records).await;
        self.count_durable("import_durable", r)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let r = self.inner.ping().await;
        self.count("ping", r)
    }

    async fn ping_durable(&self) -> Result<(), StoreError> {
        let r = self.inner.ping_durable().await;
        self.count_durable("ping_durable", r)
    }
}

#[cfg(test)]
mod tests;
