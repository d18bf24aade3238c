//! [`WithPostgres`]: one [`Store`] made of two. Sessions, pending logins,
//! rate limits and password-session cookies go to the ephemeral store
//! (Redis, or memory and the embedded file on one node); links, login
//! history and match failures go to PostgreSQL.
//!
//! Readiness (`ping`) is the ephemeral store's alone: with PostgreSQL down,
//! people already in keep the diary (their sessions are elsewhere), so an
//! instance must not be drained for it; `ping_durable` tells PostgreSQL's
//! state apart. A login seen to have logged in is remembered on this node
//! (a bounded set), so that `has_logged_in` — asked when a password form is
//! sent — needs no round trip for it again and still answers during an
//! outage.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, PendingLogin,
    Reserved, SessionRecord, Store, StoreError,
};

/// Logins remembered as having logged in; the set starts over when full.
const KNOWN_CAPACITY: usize = 200_000;

pub struct WithPostgres<E> {
    ephemeral: E,
    durable: PostgresStore,
    known: Mutex<HashSet<String>>,
}

impl<E: Store> WithPostgres<E> {
    pub fn new(ephemeral: E, durable: PostgresStore) -> Self {
        Self {
            ephemeral,
            durable,
            known: Mutex::new(HashSet::new()),
        }
    }

    pub fn durable(&self) -> &PostgresStore {
        &self.durable
    }

    fn knows(&self, login: &LegacyLogin) -> bool {
        self.known
            .lock()
            .map(|k| k.contains(&login.0))
            .unwrap_or(false)
    }

    fn remember(&self, login: &LegacyLogin) {
        if let Ok(mut k) = self.known.lock() {
            if k.len() >= KNOWN_CAPACITY {
                k.clear();
            }
            k.insert(login.0.clone());
        }
    }
}

#[async_trait]
impl<E: Store> Store for WithPostgres<E> {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.ephemeral.put_session(id, s, ttl).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.ephemeral.get_session(id).await
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.ephemeral.delete_session(id).await
    }

    async fn session_count(&self) -> Result<usize, StoreError> {
        self.ephemeral.session_count().await
    }

    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.ephemeral.put_pending(state, p, ttl).await
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        self.ephemeral.take_pending(state).await
    }

    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        self.ephemeral.rate_reserve(key, limit, window).await
    }

    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        self.ephemeral.rate_release(key).await
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.ephemeral
            .put_cookie_login(cookie_hash, login, ttl)
            .await
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        self.ephemeral.cookie_login(cookie_hash).await
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        self.durable.put_link(link).await
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        self.durable.remove_link(oid, login, kind).await
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        self.durable.links_of(oid).await
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        self.durable.owner_of(login).await
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        self.durable.record_login(r).await?;
        self.remember(&r.login);
        Ok(())
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        self.durable.last_logins().await
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        if self.knows(login) {
            return Ok(true);
        }
        let yes = self.durable.has_logged_in(login).await?;
        if yes {
            self.remember(login);
        }
        Ok(yes)
    }

    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        self.durable.last_logins_of(logins).await
    }

    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        self.durable.prune_before(before, batch).await
    }

    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        let n = self.durable.forget_person(oid).await?;
        // Which logins were the person's is gone with them: start over.
        if let Ok(mut k) = self.known.lock() {
            k.clear();
        }
        Ok(n)
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        self.durable.record_match_failure(f).await
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        self.durable.match_failures_since(at).await
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        self.durable.export_durable().await
    }

    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        self.durable.import_durable(records).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ephemeral.ping().await
    }

    async fn ping_durable(&self) -> Result<(), StoreError> {
        self.durable.ping().await
    }
}
