//! The embedded store's file layout and how it is reached: the redb table
//! definitions (described in the parent module), the JSON encoding of the
//! values, redb failures as [`StoreError`]s, and one write transaction
//! committed with immediate durability.

use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, TableDefinition, WriteTransaction};

use crate::store::{LinkKind, StoreError};

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const LINKS: TableDefinition<(&str, &str, &str), &str> = TableDefinition::new("links");
pub(super) const OWNERS: TableDefinition<&str, &str> = TableDefinition::new("owners");
pub(super) const LAST: TableDefinition<&str, &str> = TableDefinition::new("last_logins");
/// Schema 1's login history (sequence → record), moved into [`HISTORY`]
/// when a schema 1 file is opened.
pub(super) const HISTORY_V1: TableDefinition<u64, &str> = TableDefinition::new("login_history");
/// (unix seconds, sequence within the second) → [`LoginRecord`](crate::store::LoginRecord).
pub(super) const HISTORY: TableDefinition<(i64, u64), &str> =
    TableDefinition::new("login_history_by_time");
/// (login, unix seconds, sequence) → (): the same rows by account.
pub(super) const HISTORY_BY_LOGIN: TableDefinition<(&str, i64, u64), ()> =
    TableDefinition::new("login_history_by_login");
pub(super) const FAILURES: TableDefinition<(i64, u64), &str> =
    TableDefinition::new("match_failures");
/// (oid, unix seconds, sequence) → (): the failures by person.
pub(super) const FAILURES_BY_OID: TableDefinition<(&str, i64, u64), ()> =
    TableDefinition::new("match_failures_by_oid");
// Milliseconds, not seconds: a TTL below a second must still mean what it
// says, as it does in memory and in Redis (`PX`).
pub(super) const COOKIES: TableDefinition<&str, (u64, &str)> =
    TableDefinition::new("cookie_logins");
pub(super) const COOKIE_EXPIRY: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("cookie_expiry");

/// Expired cookies removed at most per write: a write costs the same however
/// many expired while nobody logged in.
pub(super) const PRUNE_BATCH: usize = 256;

pub(super) const VERSION_KEY: &str = "schema_version";

pub(super) fn kind_str(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Own => "own",
        LinkKind::Child => "child",
    }
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("cannot decode: {e}")))
}

/// A redb failure as the store reports it (never with record contents).
pub(super) fn db_error(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(format!("embedded store: {m}")),
        e => StoreError::Unavailable(format!("embedded store: {e}")),
    }
}

pub(super) fn write_txn(db: &Database) -> Result<WriteTransaction, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| redb::Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(txn)
}

/// Run `f` in one write transaction; commit (fsync) when it succeeds.
pub(super) fn in_txn<T>(
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

/// Wall-clock unix milliseconds: cookie expiries must mean the same after a
/// restart, which an `Instant` would not.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
