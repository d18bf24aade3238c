//! Retention and one person's records in the embedded file: pruning by time
//! through the time-ordered tables, forgetting one person through the
//! by-login and by-oid indexes, and moving a schema 1 file's login history
//! into the schema 2 tables.

use redb::{Database, ReadableTable, WriteTransaction};

use super::tables::{
    FAILURES, FAILURES_BY_OID, HISTORY, HISTORY_BY_LOGIN, HISTORY_V1, LAST, LINKS, OWNERS,
    db_error, from_json, in_txn, kind_str,
};
use super::writes::insert_history;
use crate::store::{LinkKind, LoginRecord, MatchFailure, StoreError};

/// At most `batch` login-history rows and match failures older than
/// `before` removed, oldest first; returns how many.
pub(super) fn prune_in(
    txn: &WriteTransaction,
    before: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    let mut history = txn.open_table(HISTORY).map_err(db_error)?;
    let mut old: Vec<((i64, u64), String)> = Vec::new();
    for row in history.range(..(before, 0)).map_err(db_error)?.take(batch) {
        let (k, v) = row.map_err(db_error)?;
        let r: LoginRecord = from_json(v.value())?;
        old.push((k.value(), r.login.0));
    }
    let mut by_login = txn.open_table(HISTORY_BY_LOGIN).map_err(db_error)?;
    for ((at, seq), login) in &old {
        history.remove((*at, *seq)).map_err(db_error)?;
        by_login
            .remove((login.as_str(), *at, *seq))
            .map_err(db_error)?;
    }
    let mut failures = txn.open_table(FAILURES).map_err(db_error)?;
    let mut gone: Vec<((i64, u64), String)> = Vec::new();
    for row in failures
        .range(..(before, 0))
        .map_err(db_error)?
        .take(batch - old.len())
    {
        let (k, v) = row.map_err(db_error)?;
        let f: MatchFailure = from_json(v.value())?;
        gone.push((k.value(), f.oid.0));
    }
    let mut by_oid = txn.open_table(FAILURES_BY_OID).map_err(db_error)?;
    for ((at, seq), oid) in &gone {
        failures.remove((*at, *seq)).map_err(db_error)?;
        by_oid.remove((oid.as_str(), *at, *seq)).map_err(db_error)?;
    }
    Ok(old.len() + gone.len())
}

/// Every durable record of `oid` removed (see
/// [`Store::forget_person`](crate::store::Store::forget_person)); returns
/// how many.
pub(super) fn forget_in(txn: &WriteTransaction, oid: &str) -> Result<usize, StoreError> {
    let mut links = txn.open_table(LINKS).map_err(db_error)?;
    let mut keys: Vec<(String, String)> = Vec::new();
    for row in links.range((oid, "", "")..).map_err(db_error)? {
        let (k, _) = row.map_err(db_error)?;
        let (o, kind, login) = k.value();
        if o != oid {
            break;
        }
        keys.push((kind.to_string(), login.to_string()));
    }
    let mut n = keys.len();
    let mut owners = txn.open_table(OWNERS).map_err(db_error)?;
    let mut own: Vec<String> = Vec::new();
    for (kind, login) in &keys {
        links
            .remove((oid, kind.as_str(), login.as_str()))
            .map_err(db_error)?;
        if kind == kind_str(LinkKind::Own) {
            let mine = owners
                .get(login.as_str())
                .map_err(db_error)?
                .is_some_and(|g| g.value() == oid);
            if mine {
                owners.remove(login.as_str()).map_err(db_error)?;
            }
            own.push(login.clone());
        }
    }
    let mut history = txn.open_table(HISTORY).map_err(db_error)?;
    let mut by_login = txn.open_table(HISTORY_BY_LOGIN).map_err(db_error)?;
    let mut last = txn.open_table(LAST).map_err(db_error)?;
    for login in &own {
        let mut rows: Vec<(i64, u64)> = Vec::new();
        for row in by_login
            .range((login.as_str(), i64::MIN, 0)..=(login.as_str(), i64::MAX, u64::MAX))
            .map_err(db_error)?
        {
            let (k, _) = row.map_err(db_error)?;
            let (_, at, seq) = k.value();
            rows.push((at, seq));
        }
        for (at, seq) in &rows {
            history.remove((*at, *seq)).map_err(db_error)?;
            by_login
                .remove((login.as_str(), *at, *seq))
                .map_err(db_error)?;
        }
        n += rows.len();
        n += usize::from(last.remove(login.as_str()).map_err(db_error)?.is_some());
    }
    let mut failures = txn.open_table(FAILURES).map_err(db_error)?;
    let mut by_oid = txn.open_table(FAILURES_BY_OID).map_err(db_error)?;
    let mut rows: Vec<(i64, u64)> = Vec::new();
    for row in by_oid
        .range((oid, i64::MIN, 0)..=(oid, i64::MAX, u64::MAX))
        .map_err(db_error)?
    {
        let (k, _) = row.map_err(db_error)?;
        let (_, at, seq) = k.value();
        rows.push((at, seq));
    }
    for (at, seq) in &rows {
        failures.remove((*at, *seq)).map_err(db_error)?;
        by_oid.remove((oid, *at, *seq)).map_err(db_error)?;
    }
    Ok(n + rows.len())
}

/// Rows moved per transaction when a schema 1 file is upgraded.
const UPGRADE_BATCH: usize = 10_000;

/// Schema 1 → 2: the login history moves from its sequence-keyed table into
/// the time-ordered one with its by-login index, and the match failures get
/// their by-oid index. Batch by batch, each its own transaction: a crash
/// half-way leaves every row in exactly one table, and the next open goes
/// on (the failure index rows are inserted idempotently).
pub(super) fn upgrade_from_v1(db: &Database) -> Result<(), StoreError> {
    loop {
        let moved = in_txn(db, |txn| {
            let mut old = txn.open_table(HISTORY_V1).map_err(db_error)?;
            let mut rows: Vec<(u64, String)> = Vec::new();
            for row in old.iter().map_err(db_error)?.take(UPGRADE_BATCH) {
                let (k, v) = row.map_err(db_error)?;
                rows.push((k.value(), v.value().to_string()));
            }
            for (k, v) in &rows {
                let r: LoginRecord = from_json(v)?;
                insert_history(txn, &r, v)?;
                old.remove(*k).map_err(db_error)?;
            }
            Ok(rows.len())
        })?;
        if moved < UPGRADE_BATCH {
            break;
        }
    }
    let mut from: Option<(i64, u64)> = None;
    loop {
        let (n, last) = in_txn(db, |txn| {
            let failures = txn.open_table(FAILURES).map_err(db_error)?;
            let mut by_oid = txn.open_table(FAILURES_BY_OID).map_err(db_error)?;
            let range = match from {
                Some((at, seq)) => failures.range((at, seq.saturating_add(1))..),
                None => failures.range::<(i64, u64)>(..),
            }
            .map_err(db_error)?;
            let mut n = 0;
            let mut last = from;
            for row in range.take(UPGRADE_BATCH) {
                let (k, v) = row.map_err(db_error)?;
                let (at, seq) = k.value();
                let f: MatchFailure = from_json(v.value())?;
                by_oid
                    .insert((f.oid.0.as_str(), at, seq), ())
                    .map_err(db_error)?;
                n += 1;
                last = Some((at, seq));
            }
            Ok((n, last))
        })?;
        from = last;
        if n < UPGRADE_BATCH {
            break;
        }
    }
    in_txn(db, |txn| {
        txn.delete_table(HISTORY_V1).map_err(db_error)?;
        Ok(())
    })
}
