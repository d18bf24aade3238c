//! In-process store for a single node. Expired records are dropped when
//! read and swept every so often when written, so memory stays bounded by
//! the live records.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{PendingLogin, SessionRecord, Store, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Table<SessionRecord>>,
    pending: Mutex<Table<PendingLogin>>,
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
}

#[cfg(test)]
mod tests {
    use super::super::suite;
    use super::*;

    #[tokio::test]
    async fn shared_suite() {
        let s = MemoryStore::default();
        suite::sessions_round_trip(&s).await;
        suite::pending_logins_are_single_use(&s).await;
        suite::records_expire(&s).await;
    }
}
