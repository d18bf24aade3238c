//! Writes inside one transaction, shared by the single calls and the
//! import: links (one owner per login), login history with the latest per
//! method, match failures, and password-session cookies with the pruning
//! of expired ones in bounded batches.

use redb::{ReadableTable, WriteTransaction};

use super::tables::{
    COOKIE_EXPIRY, COOKIES, FAILURES, HISTORY, LAST, LINKS, OWNERS, PRUNE_BATCH, db_error,
    from_json, kind_str, to_json,
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

pub(super) fn record_failure_in(
    txn: &WriteTransaction,
    f: &MatchFailure,
) -> Result<(), StoreError> {
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

/// At most `batch` login-history rows and match failures older than
/// `before` removed; returns how many.
pub(super) fn prune_in(
    txn: &WriteTransaction,
    before: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    let mut history = txn.open_table(HISTORY).map_err(db_error)?;
    let mut doomed = Vec::new();
    for row in history.iter().map_err(db_error)? {
        if doomed.len() >= batch {
            break;
        }
        let (k, v) = row.map_err(db_error)?;
        if from_json::<LoginRecord>(v.value())?.at < before {
            doomed.push(k.value());
        }
    }
    for k in &doomed {
        history.remove(*k).map_err(db_error)?;
    }
    let mut failures = txn.open_table(FAILURES).map_err(db_error)?;
    let mut old = Vec::new();
    for row in failures
        .range(..(before, 0))
        .map_err(db_error)?
        .take(batch - doomed.len())
    {
        let (k, _) = row.map_err(db_error)?;
        old.push(k.value());
    }
    for k in &old {
        failures.remove(*k).map_err(db_error)?;
    }
    Ok(doomed.len() + old.len())
}

/// Every durable record of `oid` removed; returns how many.
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
    let mut n = 0;
    let mut owners = txn.open_table(OWNERS).map_err(db_error)?;
    let mut own: Vec<String> = Vec::new();
    for (kind, login) in &keys {
        links
            .remove((oid, kind.as_str(), login.as_str()))
            .map_err(db_error)?;
        n += 1;
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
    if !own.is_empty() {
        let mut history = txn.open_table(HISTORY).map_err(db_error)?;
        let mut doomed = Vec::new();
        for row in history.iter().map_err(db_error)? {
            let (k, v) = row.map_err(db_error)?;
            let r: LoginRecord = from_json(v.value())?;
            if own.contains(&r.login.0) {
                doomed.push(k.value());
            }
        }
        for k in &doomed {
            history.remove(*k).map_err(db_error)?;
        }
        n += doomed.len();
        let mut last = txn.open_table(LAST).map_err(db_error)?;
        for login in &own {
            n += usize::from(last.remove(login.as_str()).map_err(db_error)?.is_some());
        }
    }
    let mut failures = txn.open_table(FAILURES).map_err(db_error)?;
    let mut doomed = Vec::new();
    for row in failures.iter().map_err(db_error)? {
        let (k, v) = row.map_err(db_error)?;
        let f: MatchFailure = from_json(v.value())?;
        if f.oid.0 == oid {
            doomed.push(k.value());
        }
    }
    for k in &doomed {
        failures.remove(*k).map_err(db_error)?;
    }
    Ok(n + doomed.len())
}
