//! The embedded store, the default for one node: ephemeral records
//! (sessions, pending logins, rate limits, password-session cookies) in
//! memory, durable records (links, login history, match failures) in a redb
//! file. A durable write returns only after its transaction committed with
//! immediate durability (fsync), so whatever was acknowledged to a user
//! survives `kill -9` and power loss.
//!
//! Tables (values are serde_json of the record types):
//! - `meta`: `schema_version` → u64;
//! - `links`: (oid, kind, login) → [`AccountLink`];
//! - `owners`: login → oid, for `Own` links (one owner per login);
//! - `last_logins`: login → [`LastLogins`];
//! - `login_history`: sequence → [`LoginRecord`], appended;
//! - `match_failures`: (at, sequence) → [`MatchFailure`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure,
    MemoryStore, PendingLogin, SessionRecord, Store, StoreError,
};
use crate::identity::{EsiaOid, LegacyLogin};

/// The layout written by this version. A file with a higher number was
/// written by a newer esia-gate and is refused.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const LINKS: TableDefinition<(&str, &str, &str), &str> = TableDefinition::new("links");
const OWNERS: TableDefinition<&str, &str> = TableDefinition::new("owners");
const LAST: TableDefinition<&str, &str> = TableDefinition::new("last_logins");
const HISTORY: TableDefinition<u64, &str> = TableDefinition::new("login_history");
const FAILURES: TableDefinition<(i64, u64), &str> = TableDefinition::new("match_failures");

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
        Self::prepare(&db).map_err(|e| match e {
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
        txn.commit().map_err(db_error)
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

    async fn rate_hit(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        self.memory.rate_hit(key, window).await
    }

    async fn rate_peek(&self, key: &str) -> Result<(u64, Option<u64>), StoreError> {
        self.memory.rate_peek(key).await
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.memory.put_cookie_login(cookie_hash, login, ttl).await
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        self.memory.cookie_login(cookie_hash).await
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
