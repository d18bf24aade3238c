//! In-process store. Expired records are dropped when read and swept every
//! so often when written, so memory stays bounded by the live records. Its
//! "durable" records live only as long as the process: the embedded store
//! puts them on disk; this one serves tests and the ephemeral half of the
//! embedded store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure,
    PendingLogin, Reserved, SessionRecord, Store, StoreError,
};
use crate::identity::{EsiaOid, LegacyLogin};

#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Table<SessionRecord>>,
    pending: Mutex<Table<PendingLogin>>,
    rates: Mutex<Table<u64>>,
    cookies: Mutex<Table<LegacyLogin>>,
    durable: Mutex<Durable>,
}

#[derive(Default)]
struct Durable {
    links: Vec<AccountLink>,
    logins: HashMap<LegacyLogin, LastLogins>,
    history: Vec<LoginRecord>,
    failures: Vec<MatchFailure>,
}

impl Durable {
    fn put_link(&mut self, link: &AccountLink) -> Result<(), StoreError> {
        if link.kind == LinkKind::Own
            && self
                .links
                .iter()
                .any(|l| l.kind == LinkKind::Own && l.login == link.login && l.oid != link.oid)
        {
            return Err(StoreError::AlreadyLinked);
        }
        let same =
            |l: &AccountLink| l.oid == link.oid && l.login == link.login && l.kind == link.kind;
        if !self.links.iter().any(same) {
            self.links.push(link.clone());
        }
        Ok(())
    }

    fn record_login(&mut self, r: &LoginRecord) {
        self.history.push(r.clone());
        let e = self
            .logins
            .entry(r.login.clone())
            .or_insert_with(|| LastLogins {
                login: r.login.clone(),
                last_esia: None,
                last_password: None,
            });
        let slot = match r.method {
            LoginMethod::Esia => &mut e.last_esia,
            LoginMethod::Password => &mut e.last_password,
        };
        *slot = Some(slot.map_or(r.at, |t| t.max(r.at)));
    }
}

impl Durable {
    /// At most `batch` rows older than `before`, history first.
    fn prune_before(&mut self, before: i64, batch: usize) -> usize {
        let mut left = batch;
        let mut keep = |at: i64| {
            let go = at < before && left > 0;
            if go {
                left -= 1;
            }
            !go
        };
        self.history.retain(|r| keep(r.at));
        self.failures.retain(|f| keep(f.at));
        batch - left
    }

    fn forget_person(&mut self, oid: &EsiaOid) -> usize {
        let own: Vec<LegacyLogin> = self
            .links
            .iter()
            .filter(|l| l.oid == *oid && l.kind == LinkKind::Own)
            .map(|l| l.login.clone())
            .collect();
        let before = self.links.len() + self.history.len() + self.failures.len();
        self.links.retain(|l| l.oid != *oid);
        self.history.retain(|r| !own.contains(&r.login));
        self.failures.retain(|f| f.oid != *oid);
        let after = self.links.len() + self.history.len() + self.failures.len();
        let last = own
            .iter()
            .filter(|l| self.logins.remove(*l).is_some())
            .count();
        before - after + last
    }
}

struct Table<T> {
    rows: HashMap<String, (Instant, T)>,
    writes: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
            writes: 0,
        }
    }
}

impl<T: Clone> Table<T> {
    fn put(&mut self, k: &str, v: T, ttl: Duration) {
        self.writes += 1;
        if self.writes.is_multiple_of(1024) {
            let now = Instant::now();
            self.rows.retain(|_, (exp, _)| *exp > now);
        }
        self.rows.insert(k.to_string(), (Instant::now() + ttl, v));
    }

    fn get(&mut self, k: &str) -> Option<T> {
        match self.rows.get(k) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                self.rows.remove(k);
                None
            }
            None => None,
        }
    }

    fn take(&mut self, k: &str) -> Option<T> {
        let (exp, v) = self.rows.remove(k)?;
        (exp > Instant::now()).then_some(v)
    }

    fn live(&self) -> usize {
        let now = Instant::now();
        self.rows.values().filter(|(e, _)| *e > now).count()
    }
}

impl Table<u64> {
    /// [`Store::rate_reserve`] on one table, whose lock the caller holds.
    /// One `now` for the look and the count, so a window cannot end
    /// between them.
    fn reserve(&mut self, key: &str, limit: u64, window: Duration) -> Reserved {
        let now = Instant::now();
        if let Some((end, count)) = self.rows.get_mut(key).filter(|(end, _)| *end > now) {
            if *count >= limit {
                return Reserved::Refused {
                    seconds_left: seconds_up(*end - now),
                };
            }
            *count += 1;
            return Reserved::Granted { count: *count };
        }
        if limit == 0 {
            // Grants nothing, so starts no window.
            return Reserved::Refused {
                seconds_left: seconds_up(window),
            };
        }
        self.put(key, 1, window);
        Reserved::Granted { count: 1 }
    }

    /// [`Store::rate_release`] on one table, whose lock the caller holds.
    fn release(&mut self, key: &str) {
        let now = Instant::now();
        if let Some((_, count)) = self.rows.get_mut(key).filter(|(end, _)| *end > now) {
            *count = count.saturating_sub(1);
        }
    }
}

/// Whole seconds, rounded up and at least 1: "try again in 0 s" helps nobody.
fn seconds_up(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a table half-written
    // (every operation is a single map call), so a poisoned lock is usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        lock(&self.sessions).put(id, s.clone(), ttl);
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(lock(&self.sessions).get(id))
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.sessions).rows.remove(id);
        Ok(())
    }

    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        lock(&self.pending).put(state, p.clone(), ttl);
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        Ok(lock(&self.pending).take(state))
    }

    async fn session_count(&self) -> Result<usize, StoreError> {
        Ok(lock(&self.sessions).live())
    }

    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        // One lock around the look and the count: that is the atomicity.
        Ok(lock(&self.rates).reserve(key, limit, window))
    }

    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.rates).release(key);
        Ok(())
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        lock(&self.cookies).put(cookie_hash, login.clone(), ttl);
        Ok(())
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        Ok(lock(&self.cookies).get(cookie_hash))
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        lock(&self.durable).put_link(link)
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let mut d = lock(&self.durable);
        let before = d.links.len();
        d.links
            .retain(|l| !(l.oid == *oid && l.login == *login && l.kind == kind));
        Ok(d.links.len() != before)
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        Ok(lock(&self.durable)
            .links
            .iter()
            .filter(|l| l.oid == *oid)
            .cloned()
            .collect())
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        Ok(lock(&self.durable)
            .links
            .iter()
            .find(|l| l.kind == LinkKind::Own && l.login == *login)
            .map(|l| l.oid.clone()))
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        lock(&self.durable).record_login(r);
        Ok(())
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        Ok(lock(&self.durable).logins.values().cloned().collect())
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        Ok(lock(&self.durable).logins.contains_key(login))
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        lock(&self.durable).failures.push(f.clone());
        Ok(())
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        Ok(lock(&self.durable)
            .failures
            .iter()
            .filter(|f| f.at >= at)
            .cloned()
            .collect())
    }

    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        let d = lock(&self.durable);
        Ok(logins
            .iter()
            .filter_map(|l| d.logins.get(l).cloned())
            .collect())
    }

    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        Ok(lock(&self.durable).prune_before(before, batch))
    }

    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        Ok(lock(&self.durable).forget_person(oid))
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let d = lock(&self.durable);
        let mut out: Vec<DurableRecord> =
            d.links.iter().cloned().map(DurableRecord::Link).collect();
        out.extend(d.history.iter().cloned().map(DurableRecord::Login));
        out.extend(d.failures.iter().cloned().map(DurableRecord::MatchFailure));
        Ok(out)
    }

    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let mut d = lock(&self.durable);
        for r in records {
            match r {
                DurableRecord::Link(l) => d.put_link(l)?,
                DurableRecord::Login(l) => d.record_login(l),
                DurableRecord::MatchFailure(f) => d.failures.push(f.clone()),
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
