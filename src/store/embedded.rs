//! The embedded store, the default for one node: ephemeral records
//! (sessions, pending logins, rate limits) in memory, durable records
//! (links, login history, match failures) and password-session cookies in
//! a redb file. A write to the file returns only after its transaction
//! committed with immediate durability (fsync), so whatever was
//! acknowledged to a user survives `kill -9` and power loss.
//!
//! Password-session cookies expire, yet live in the file: a restart must
//! not forget whose diary cookie is whose, or every password session would
//! turn unattributed at once. An expired one is never returned; expired rows
//! are pruned in bounded batches with each new one, and at open.
//!
//! Tables (values are serde_json of the record types unless said):
//! - `meta`: `schema_version` → u64;
//! - `links`: (oid, kind, login) → [`AccountLink`];
//! - `owners`: login → oid, for `Own` links (one owner per login);
//! - `last_logins`: login → [`LastLogins`];
//! - `login_history`: sequence → [`LoginRecord`], appended;
//! - `match_failures`: (at, sequence) → [`MatchFailure`];
//! - `cookie_logins`: cookie hash → (expiry in unix milliseconds, login);
//! - `cookie_expiry`: (expiry in unix milliseconds, cookie hash) → (), the
//!   same rows by expiry, so pruning reads only what it removes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure,
    MemoryStore, PendingLogin, Reserved, SessionRecord, Store, StoreError,
};
use crate::identity::{EsiaOid, LegacyLogin};

/// The layout written by this version. A file with a higher number was
/// written by a newer esia-gate and is refused. (The cookie tables came
/// without a new number: they are only added, an older version ignores
/// them, and this one creates them in an older file.)
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const LINKS: TableDefinition<(&str, &str, &str), &str> = TableDefinition::new("links");
const OWNERS: TableDefinition<&str, &str> = TableDefinition::new("owners");
const LAST: TableDefinition<&str, &str> = TableDefinition::new("last_logins");
const HISTORY: TableDefinition<u64, &str> = TableDefinition::new("login_history");
const FAILURES: TableDefinition<(i64, u64), &str> = TableDefinition::new("match_failures");
// Milliseconds, not seconds: a TTL below a second must still mean what it
// says, as it does in memory and in Redis (`PX`).
const COOKIES: TableDefinition<&str, (u64, &str)> = TableDefinition::new("cookie_logins");
const COOKIE_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("cookie_expiry");

/// Expired cookies removed at most per write: a write costs the same however
/// many expired while nobody logged in.
const PRUNE_BATCH: usize = 256;

const VERSION_KEY: &str = "schema_version";

pub struct EmbeddedStore {
    memory: MemoryStore,
    db: Arc<Database>,
    path: PathBuf,
}

fn kind_str(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Own => "own",
        LinkKind::Child => "child",
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("cannot decode: {e}")))
}

/// A redb failure as the store reports it (never with record contents).
fn db_error(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(format!("embedded store: {m}")),
        e => StoreError::Unavailable(format!("embedded store: {e}")),
    }
}

fn write_txn(db: &Database) -> Result<WriteTransaction, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| redb::Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(txn)
}

impl EmbeddedStore {
    /// Open (or create) the file. Fails with a clear message when another
    /// process holds it or when a newer esia-gate wrote it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory of the embedded store {}: {e}",
                    path.display()
                ))
            })?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(format!(
                "the embedded store {} is already open (another esia-gate process uses it)",
                path.display()
            )),
            e => StoreError::Unavailable(format!(
                "cannot open the embedded store {}: {e}",
                path.display()
            )),
        })?;
        Self::prepare(&db)
            .and_then(|()| Self::prune_all_cookies(&db))
            .map_err(|e| match e {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("{}: {m}", path.display()))
                }
                StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
                e => e,
            })?;
        Ok(Self {
            memory: MemoryStore::default(),
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Check the schema version and create every table, so that readers
    /// never meet a missing one.
    fn prepare(db: &Database) -> Result<(), StoreError> {
        let txn = write_txn(db).map_err(db_error)?;
        let found = {
            let mut meta = txn.open_table(META).map_err(db_error)?;
            let found = meta.get(VERSION_KEY).map_err(db_error)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => Some(v),
                Some(_) => None,
                None => {
                    meta.insert(VERSION_KEY, SCHEMA_VERSION).map_err(db_error)?;
                    None
                }
            }
        };
        if let Some(v) = found {
            let _ = txn.abort();
            return Err(StoreError::Unavailable(format!(
                "the file was written by a newer esia-gate (store schema version {v}; this \
                 version knows up to {SCHEMA_VERSION}): run the newer version, or export with it \
                 (`esia-gate links export`) and import here"
            )));
        }
        txn.open_table(LINKS).map_err(db_error)?;
        txn.open_table(OWNERS).map_err(db_error)?;
        txn.open_table(LAST).map_err(db_error)?;
        txn.open_table(HISTORY).map_err(db_error)?;
        txn.open_table(FAILURES).map_err(db_error)?;
        txn.open_table(COOKIES).map_err(db_error)?;
        txn.open_table(COOKIE_EXPIRY).map_err(db_error)?;
        txn.commit().map_err(db_error)
    }

    /// Remove every expired password-session cookie, batch by batch (each
    /// its own transaction), as the file is opened.
    fn prune_all_cookies(db: &Database) -> Result<(), StoreError> {
        loop {
            let removed = in_txn(db, |txn| prune_cookies_in(txn, now_ms()))?;
            if removed < PRUNE_BATCH {
                return Ok(());
            }
        }
    }

    /// Run a write on the blocking pool (it waits for fsync), or here when
    /// no runtime is running.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        if tokio::runtime::Handle::try_current().is_err() {
            return f(&db);
        }
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("embedded store write task: {e}")))?
    }
}

fn put_link_in(txn: &WriteTransaction, link: &AccountLink) -> Result<(), StoreError> {
    let oid = link.oid.0.as_str();
    let login = link.login.0.as_str();
    let mut owners = txn.open_table(OWNERS).map_err(db_error)?;
    if link.kind == LinkKind::Own {
        let owner = owners
            .get(login)
            .map_err(db_error)?
            .map(|g| g.value().to_string());
        match owner {
            Some(o) if o != oid => return Err(StoreError::AlreadyLinked),
            Some(_) => {}
            None => {
                owners.insert(login, oid).map_err(db_error)?;
            }
        }
    }
    let mut links = txn.open_table(LINKS).map_err(db_error)?;
    let key = (oid, kind_str(link.kind), login);
    if links.get(key).map_err(db_error)?.is_none() {
        let v = to_json(link)?;
        links.insert(key, v.as_str()).map_err(db_error)?;
    }
    Ok(())
}

fn record_login_in(txn: &WriteTransaction, r: &LoginRecord) -> Result<(), StoreError> {
    let mut history = txn.open_table(HISTORY).map_err(db_error)?;
    let next = history
        .last()
        .map_err(db_error)?
        .map_or(0, |(k, _)| k.value() + 1);
    let v = to_json(r)?;
    history.insert(next, v.as_str()).map_err(db_error)?;
    let mut last = txn.open_table(LAST).map_err(db_error)?;
    let login = r.login.0.as_str();
    let current = last
        .get(login)
        .map_err(db_error)?
        .map(|g| g.value().to_string());
    let mut e = match current {
        Some(s) => from_json::<LastLogins>(&s)?,
        None => LastLogins {
            login: r.login.clone(),
            last_esia: None,
            last_password: None,
        },
    };
    let slot = match r.method {
        LoginMethod::Esia => &mut e.last_esia,
        LoginMethod::Password => &mut e.last_password,
    };
    *slot = Some(slot.map_or(r.at, |t| t.max(r.at)));
    let v = to_json(&e)?;
    last.insert(login, v.as_str()).map_err(db_error)?;
    Ok(())
}

fn record_failure_in(txn: &WriteTransaction, f: &MatchFailure) -> Result<(), StoreError> {
    let mut t = txn.open_table(FAILURES).map_err(db_error)?;
    // Same second: the next sequence number after the last one of that second.
    let next = t
        .range((f.at, 0)..=(f.at, u64::MAX))
        .map_err(db_error)?
        .next_back()
        .transpose()
        .map_err(db_error)?
        .map_or(0, |(k, _)| k.value().1 + 1);
    let v = to_json(f)?;
    t.insert((f.at, next), v.as_str()).map_err(db_error)?;
    Ok(())
}

/// Wall-clock unix milliseconds: cookie expiries must mean the same after a
/// restart, which an `Instant` would not.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Remember `hash` → `login` until `expires_ms`, replacing an earlier row
/// for the same hash, and prune one batch of expired rows on the way.
fn put_cookie_in(
    txn: &WriteTransaction,
    hash: &str,
    login: &str,
    expires_ms: u64,
    now: u64,
) -> Result<(), StoreError> {
    prune_cookies_in(txn, now)?;
    let mut cookies = txn.open_table(COOKIES).map_err(db_error)?;
    let mut expiry = txn.open_table(COOKIE_EXPIRY).map_err(db_error)?;
    let before = cookies
        .insert(hash, (expires_ms, login))
        .map_err(db_error)?
        .map(|g| g.value().0);
    if let Some(old) = before {
        expiry.remove((old, hash)).map_err(db_error)?;
    }
    expiry.insert((expires_ms, hash), ()).map_err(db_error)?;
    Ok(())
}

/// Remove at most [`PRUNE_BATCH`] cookies that expired by `now`, oldest
/// first; returns how many went.
fn prune_cookies_in(txn: &WriteTransaction, now: u64) -> Result<usize, StoreError> {
    let mut expiry = txn.open_table(COOKIE_EXPIRY).map_err(db_error)?;
    let mut doomed: Vec<(u64, String)> = Vec::new();
    // Live means `expires > now`, so everything up to `now` inclusive goes.
    for row in expiry
        .range(..(now.saturating_add(1), ""))
        .map_err(db_error)?
        .take(PRUNE_BATCH)
    {
        let (k, _) = row.map_err(db_error)?;
        let (at, hash) = k.value();
        doomed.push((at, hash.to_string()));
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let mut cookies = txn.open_table(COOKIES).map_err(db_error)?;
    for (at, hash) in &doomed {
        expiry.remove((*at, hash.as_str())).map_err(db_error)?;
        // The row may already carry a later expiry (the cookie was
        // remembered again); then only its old index entry goes.
        let same = cookies
            .get(hash.as_str())
            .map_err(db_error)?
            .is_some_and(|g| g.value().0 == *at);
        if same {
            cookies.remove(hash.as_str()).map_err(db_error)?;
        }
    }
    Ok(doomed.len())
}

/// Run `f` in one write transaction; commit (fsync) when it succeeds.
fn in_txn<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let txn = write_txn(db).map_err(db_error)?;
    match f(&txn) {
        Ok(v) => {
            txn.commit().map_err(db_error)?;
            Ok(v)
        }
        Err(e) => {
            let _ = txn.abort();
            Err(e)
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::io::BufRead as _;

    use super::*;
    use crate::store::LinkSource;

    fn link(i: usize) -> AccountLink {
        AccountLink {
            oid: EsiaOid(format!("{}", 1_000_000 + i)),
            login: LegacyLogin(format!("login{i}")),
            kind: LinkKind::Own,
            source: LinkSource::Password,
            created_at: 1_700_000_000,
        }
    }

    #[tokio::test]
    async fn links_are_there_after_reopening_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("nested").join("store.redb");
        {
            let s = EmbeddedStore::open(&path).expect("open");
            for i in 0..3 {
                s.put_link(&link(i)).await.expect("link");
            }
            s.record_login(&LoginRecord {
                login: LegacyLogin("login0".into()),
                method: LoginMethod::Esia,
                at: 5,
            })
            .await
            .expect("login");
            s.put_session(
                "sid",
                &crate::store::suite::record(),
                Duration::from_secs(60),
            )
            .await
            .expect("session");
        }
        let s = EmbeddedStore::open(&path).expect("reopen");
        for i in 0..3 {
            assert_eq!(
                s.links_of(&link(i).oid).await.expect("links"),
                vec![link(i)]
            );
            assert_eq!(
                s.owner_of(&link(i).login).await.expect("owner"),
                Some(link(i).oid)
            );
        }
        assert!(
            s.has_logged_in(&LegacyLogin("login0".into()))
                .await
                .expect("has")
        );
        // Sessions are ephemeral: a restart ends them.
        assert_eq!(s.get_session("sid").await.expect("get"), None);
    }

    fn cookie_rows(s: &EmbeddedStore) -> (u64, u64) {
        use redb::ReadableTableMetadata as _;
        let txn = s.db.begin_read().expect("read");
        let cookies = txn
            .open_table(COOKIES)
            .expect("cookies")
            .len()
            .expect("len");
        let expiry = txn
            .open_table(COOKIE_EXPIRY)
            .expect("expiry")
            .len()
            .expect("len");
        (cookies, expiry)
    }

    #[tokio::test]
    async fn expired_password_sessions_are_pruned_in_bounded_batches() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("store.redb");
        let s = EmbeddedStore::open(&path).expect("open");
        // 600 sessions that expired a minute ago, written in one go.
        let past = now_ms() - 60_000;
        in_txn(&s.db, |txn| {
            for i in 0..600 {
                put_cookie_in(txn, &format!("old{i}"), "ivanova.m", past, past - 1)?;
            }
            Ok(())
        })
        .expect("old rows");
        assert_eq!(cookie_rows(&s), (600, 600));
        assert_eq!(s.cookie_login("old1").await.expect("get"), None);
        // Each new password session takes one batch of the expired along.
        s.put_cookie_login(
            "new",
            &LegacyLogin("petrov.a".into()),
            Duration::from_secs(60),
        )
        .await
        .expect("put");
        let left = 600 - PRUNE_BATCH as u64;
        assert_eq!(cookie_rows(&s), (left + 1, left + 1));
        // Opening the file clears the rest.
        drop(s);
        let s = EmbeddedStore::open(&path).expect("reopen");
        assert_eq!(cookie_rows(&s), (1, 1));
        assert_eq!(
            s.cookie_login("new").await.expect("get"),
            Some(LegacyLogin("petrov.a".into()))
        );
    }

    #[test]
    fn a_second_opener_and_a_newer_file_are_refused_clearly() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("store.redb");
        let first = EmbeddedStore::open(&path).expect("open");
        let e = EmbeddedStore::open(&path).err().expect("already open");
        assert!(e.to_string().contains("already open"), "{e}");
        drop(first);
        {
            let db = Database::create(&path).expect("db");
            let txn = db.begin_write().expect("txn");
            txn.open_table(META)
                .expect("meta")
                .insert(VERSION_KEY, SCHEMA_VERSION + 1)
                .expect("insert");
            txn.commit().expect("commit");
        }
        let e = EmbeddedStore::open(&path).err().expect("newer");
        let m = e.to_string();
        assert!(
            m.contains("newer esia-gate") && m.contains("version 2"),
            "{m}"
        );
    }

    const CHILD_ENV: &str = "ESIA_GATE_EMBEDDED_CRASH_CHILD";

    /// The child half of the crash test: link accounts one by one, saying
    /// each one that was acknowledged, until killed.
    #[tokio::test]
    async fn crash_child_writes_links_until_killed() {
        let Ok(path) = std::env::var(CHILD_ENV) else {
            return;
        };
        let s = EmbeddedStore::open(Path::new(&path)).expect("open");
        for i in 0..100_000 {
            s.put_link(&link(i)).await.expect("link");
            println!("acked {i}");
        }
    }

    #[test]
    fn acknowledged_links_survive_kill_9() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("store.redb");
        let exe = std::env::current_exe().expect("test binary");
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "store::embedded::tests::crash_child_writes_links_until_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("child");
        let out = child.stdout.take().expect("stdout");
        let mut last = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for line in std::io::BufReader::new(out).lines() {
            let line = line.expect("line");
            if let Some(n) = line.strip_prefix("acked ") {
                last = n.trim().parse::<usize>().ok();
            }
            if last.is_some_and(|n| n >= 50) || std::time::Instant::now() > deadline {
                break;
            }
        }
        // SIGKILL: no destructor, no flush, mid-write.
        child.kill().expect("kill -9");
        let _ = child.wait();
        let last = last.expect("the child acknowledged links");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let s = EmbeddedStore::open(&path).expect("reopen after the crash");
        for i in 0..=last {
            let links = rt.block_on(s.links_of(&link(i).oid)).expect("links");
            assert_eq!(links, vec![link(i)], "acknowledged link {i} of {last} lost");
        }
    }
}
