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
//! - `login_history_by_time`: (at, sequence within the second) →
//!   [`LoginRecord`]; `login_history_by_login`: (login, at, sequence) → (),
//!   the same rows by account (schema 1 had `login_history`: sequence →
//!   record, moved into these when the file is opened);
//! - `match_failures`: (at, sequence) → [`MatchFailure`];
//!   `match_failures_by_oid`: (oid, at, sequence) → (), the same by person;
//! - `cookie_logins`: cookie hash → (expiry in unix milliseconds, login);
//! - `cookie_expiry`: (expiry in unix milliseconds, cookie hash) → (), the
//!   same rows by expiry, so pruning reads only what it removes.
//!
//! Here: opening the file and its schema version; `tables` holds the table
//! definitions and the transaction helpers, `writes` the writes shared by
//! the calls and the import, `retention` pruning, forgetting a person and
//! the schema upgrade, `store_impl` the [`Store`] calls.

mod retention;
mod store_impl;
mod tables;
#[cfg(test)]
mod tests;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable};

use super::{MemoryStore, StoreError};
use tables::{
    COOKIE_EXPIRY, COOKIES, FAILURES, FAILURES_BY_OID, HISTORY, HISTORY_BY_LOGIN, LAST, LINKS,
    META, OWNERS, PRUNE_BATCH, VERSION_KEY, db_error, in_txn, now_ms, write_txn,
};
use writes::prune_cookies_in;

/// The layout written by this version. A file with a higher number was
/// written by a newer esia-gate and is refused. (The cookie tables came
/// without a new number: they are only added, an older version ignores
/// them, and this one creates them in an older file.) Version 2 keeps the
/// login history by time with an index by login, and the match failures
/// with an index by person, for retention and `links forget`; a version 1
/// file is upgraded when opened.
pub const SCHEMA_VERSION: u64 = 2;

pub struct EmbeddedStore {
    memory: MemoryStore,
    db: Arc<Database>,
    path: PathBuf,
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

    /// Check the schema version, create every table (so that readers never
    /// meet a missing one) and upgrade a schema 1 file.
    fn prepare(db: &Database) -> Result<(), StoreError> {
        let txn = write_txn(db).map_err(db_error)?;
        let found = {
            let meta = txn.open_table(META).map_err(db_error)?;
            meta.get(VERSION_KEY).map_err(db_error)?.map(|v| v.value())
        };
        if let Some(v) = found.filter(|v| *v > SCHEMA_VERSION) {
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
        txn.open_table(HISTORY_BY_LOGIN).map_err(db_error)?;
        txn.open_table(FAILURES).map_err(db_error)?;
        txn.open_table(FAILURES_BY_OID).map_err(db_error)?;
        txn.open_table(COOKIES).map_err(db_error)?;
        txn.open_table(COOKIE_EXPIRY).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        if found == Some(1) {
            retention::upgrade_from_v1(db)?;
        }
        if found != Some(SCHEMA_VERSION) {
            in_txn(db, |txn| {
                let mut meta = txn.open_table(META).map_err(db_error)?;
                meta.insert(VERSION_KEY, SCHEMA_VERSION).map_err(db_error)?;
                Ok(())
            })?;
        }
        Ok(())
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
