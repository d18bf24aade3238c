//! [`Store`] for [`EmbeddedStore`]: ephemeral records go to the in-memory
//! store, the rest are read from or written to the file.

use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::EmbeddedStore;
use super::retention::{forget_in, prune_in};
use super::tables::{
    COOKIES, FAILURES, HISTORY, LAST, LINKS, META, OWNERS, db_error, from_json, in_txn, kind_str,
    now_ms,
};
use super::writes::{put_cookie_in, put_link_in, record_failure_in, record_login_in};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, PendingLogin,
    Reserved, SessionRecord, Store, StoreError,
};

#[async_trait]
impl Store for EmbeddedStore {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.memory.put_session(id, s, ttl).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.memory.get_session(id).await
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.memory.delete_session(id).await
    }

    async fn session_count(&self) -> Result<usize, StoreError> {
        self.memory.session_count().await
    }

    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.memory.put_pending(state, p, ttl).await
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        self.memory.take_pending(state).await
    }

    // Rate limits stay in memory, ephemeral by design: a restart hands a
    // guesser at most one fresh window and loses nothing a user was promised.
    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        self.memory.rate_reserve(key, limit, window).await
    }

    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        self.memory.rate_release(key).await
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (hash, login) = (cookie_hash.to_string(), login.0.clone());
        let now = now_ms();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let expires = now.saturating_add(ttl_ms);
        self.write(move |db| in_txn(db, |txn| put_cookie_in(txn, &hash, &login, expires, now)))
            .await
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        // Read only: an expired row is skipped here and removed by a later
        // write, so the hot path never waits for an fsync.
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(COOKIES).map_err(db_error)?;
        let now = now_ms();
        let row = t.get(cookie_hash).map_err(db_error)?;
        Ok(row.and_then(|g| {
            let (expires, login) = g.value();
            (expires > now).then(|| LegacyLogin(login.to_string()))
        }))
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let link = link.clone();
        self.write(move |db| in_txn(db, |txn| put_link_in(txn, &link)))
            .await
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let (oid, login) = (oid.0.clone(), login.0.clone());
        self.write(move |db| {
            in_txn(db, |txn| {
                let mut links = txn.open_table(LINKS).map_err(db_error)?;
                let removed = links
                    .remove((oid.as_str(), kind_str(kind), login.as_str()))
                    .map_err(db_error)?
                    .is_some();
                if removed && kind == LinkKind::Own {
                    let mut owners = txn.open_table(OWNERS).map_err(db_error)?;
                    let owner = owners
                        .get(login.as_str())
                        .map_err(db_error)?
                        .map(|g| g.value() == oid);
                    if owner == Some(true) {
                        owners.remove(login.as_str()).map_err(db_error)?;
                    }
                }
                Ok(removed)
            })
        })
        .await
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(LINKS).map_err(db_error)?;
        let o = oid.0.as_str();
        let mut out = Vec::new();
        for row in t.range((o, "", "")..).map_err(db_error)? {
            let (k, v) = row.map_err(db_error)?;
            if k.value().0 != o {
                break;
            }
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(OWNERS).map_err(db_error)?;
        Ok(t.get(login.0.as_str())
            .map_err(db_error)?
            .map(|g| EsiaOid(g.value().to_string())))
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.write(move |db| in_txn(db, |txn| record_login_in(txn, &r)))
            .await
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(LAST).map_err(db_error)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(db_error)? {
            let (_, v) = row.map_err(db_error)?;
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(LAST).map_err(db_error)?;
        Ok(t.get(login.0.as_str()).map_err(db_error)?.is_some())
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let f = f.clone();
        self.write(move |db| in_txn(db, |txn| record_failure_in(txn, &f)))
            .await
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(FAILURES).map_err(db_error)?;
        let mut out = Vec::new();
        for row in t.range((at, 0)..).map_err(db_error)? {
            let (_, v) = row.map_err(db_error)?;
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(LAST).map_err(db_error)?;
        let mut out = Vec::new();
        for l in logins {
            if let Some(v) = t.get(l.0.as_str()).map_err(db_error)? {
                out.push(from_json(v.value())?);
            }
        }
        Ok(out)
    }

    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        self.write(move |db| in_txn(db, |txn| prune_in(txn, before, batch)))
            .await
    }

    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        let oid = oid.0.clone();
        self.write(move |db| in_txn(db, |txn| forget_in(txn, &oid)))
            .await
    }

    /// Links, logins and failures only. The password-session cookies are
    /// not exported, though kept in the same file: they are short-lived
    /// keys derived from the diary's session secrets, worthless after their
    /// TTL and harmful in a backup or a JSON file passed around.
    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let mut out = Vec::new();
        let links = txn.open_table(LINKS).map_err(db_error)?;
        for row in links.iter().map_err(db_error)? {
            let (_, v) = row.map_err(db_error)?;
            out.push(DurableRecord::Link(from_json(v.value())?));
        }
        let history = txn.open_table(HISTORY).map_err(db_error)?;
        for row in history.iter().map_err(db_error)? {
            let (_, v) = row.map_err(db_error)?;
            out.push(DurableRecord::Login(from_json(v.value())?));
        }
        let failures = txn.open_table(FAILURES).map_err(db_error)?;
        for row in failures.iter().map_err(db_error)? {
            let (_, v) = row.map_err(db_error)?;
            out.push(DurableRecord::MatchFailure(from_json(v.value())?));
        }
        Ok(out)
    }

    /// All records in one transaction: either all are on disk or none.
    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.write(move |db| {
            in_txn(db, |txn| {
                for r in &records {
                    match r {
                        DurableRecord::Link(l) => put_link_in(txn, l)?,
                        DurableRecord::Login(l) => record_login_in(txn, l)?,
                        DurableRecord::MatchFailure(f) => record_failure_in(txn, f)?,
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        txn.open_table(META).map_err(db_error)?;
        Ok(())
    }
}
