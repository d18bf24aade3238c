//! Writes inside one transaction, shared by the single calls and the
//! import: links (one owner per login), login history with the latest per
//! method, match failures, and password-session cookies with the pruning
//! of expired ones in bounded batches.

use redb::{ReadableTable, WriteTransaction};

use super::tables::{
    COOKIE_EXPIRY, COOKIES, FAILURES, FAILURES_BY_OID, HISTORY, HISTORY_BY_LOGIN, LAST, LINKS,
    OWNERS, PRUNE_BATCH, db_error, from_json, kind_str, to_json,
};
use crate::store::{
    AccountLink, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure, StoreError,
};

pub(super) fn put_link_in(txn: &WriteTransaction, link: &AccountLink) -> Result<(), StoreError> {
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

pub(super) fn record_login_in(txn: &WriteTransaction, r: &LoginRecord) -> Result<(), StoreError> {
    insert_history(txn, r, &to_json(r)?)?;
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

/// One history row (JSON `v` of `r`) at the next sequence number of its
/// second, indexed by login.
pub(super) fn insert_history(
    txn: &WriteTransaction,
    r: &LoginRecord,
    v: &str,
) -> Result<(), StoreError> {
    let mut history = txn.open_table(HISTORY).map_err(db_error)?;
    let seq = next_seq(&history, r.at)?;
    history.insert((r.at, seq), v).map_err(db_error)?;
    let mut by_login = txn.open_table(HISTORY_BY_LOGIN).map_err(db_error)?;
    by_login
        .insert((r.login.0.as_str(), r.at, seq), ())
        .map_err(db_error)?;
    Ok(())
}

/// The next free sequence number within second `at` of a table keyed by
/// (second, sequence).
fn next_seq(t: &impl ReadableTable<(i64, u64), &'static str>, at: i64) -> Result<u64, StoreError> {
    Ok(t.range((at, 0)..=(at, u64::MAX))
        .map_err(db_error)?
        .next_back()
        .transpose()
        .map_err(db_error)?
        .map_or(0, |(k, _)| k.value().1 + 1))
}

pub(super) fn record_failure_in(
    txn: &WriteTransaction,
    f: &MatchFailure,
) -> Result<(), StoreError> {
    let mut t = txn.open_table(FAILURES).map_err(db_error)?;
    let seq = next_seq(&t, f.at)?;
    let v = to_json(f)?;
    t.insert((f.at, seq), v.as_str()).map_err(db_error)?;
    let mut by_oid = txn.open_table(FAILURES_BY_OID).map_err(db_error)?;
    by_oid
        .insert((f.oid.0.as_str(), f.at, seq), ())
        .map_err(db_error)?;
    Ok(())
}

/// Remember `hash` → `login` until `expires_ms`, replacing an earlier row
/// for the same hash, and prune one batch of expired rows on the way.
pub(super) fn put_cookie_in(
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
pub(super) fn prune_cookies_in(txn: &WriteTransaction, now: u64) -> Result<usize, StoreError> {
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
