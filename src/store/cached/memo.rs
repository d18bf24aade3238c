//! A bounded, sharded map of copies with two deadlines each: until when a
//! copy is served without asking the store (`fresh_until`), and until when
//! it may be served at all while the store does not answer
//! (`usable_until`). Only copies: dropping one costs a round trip, never
//! correctness.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 16;

struct Entry<V> {
    value: V,
    fresh_until: Instant,
    usable_until: Instant,
}

/// What a look-up finds.
pub enum Lookup<V> {
    /// Serve it without asking.
    Fresh(V),
    /// Ask the store; serve this only if the store fails.
    Stale(V),
    Missing,
}

pub struct Memo<V> {
    shards: Vec<Mutex<HashMap<String, Entry<V>>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<V: Clone> Memo<V> {
    /// At most about `capacity` copies over all shards.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
            hasher: Default::default(),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, Entry<V>>> {
        let m = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        // Each operation is one map call; a poisoned lock holds no half-write.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Lookup<V> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(e) if e.fresh_until > now => Lookup::Fresh(e.value.clone()),
            Some(e) if e.usable_until > now => Lookup::Stale(e.value.clone()),
            Some(_) => {
                shard.remove(key);
                Lookup::Missing
            }
            None => Lookup::Missing,
        }
    }

    pub fn put(&self, key: &str, value: V, fresh_until: Instant, usable_until: Instant) {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            shard.retain(|_, e| e.usable_until > now && e.fresh_until > now);
            if shard.len() >= self.per_shard {
                // Still full of live copies: drop some; they are only copies.
                let doomed: Vec<String> =
                    shard.keys().take(self.per_shard / 8 + 1).cloned().collect();
                for k in doomed {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            key.to_string(),
            Entry {
                value,
                fresh_until,
                usable_until,
            },
        );
    }

    pub fn remove(&self, key: &str) {
        self.shard(key).remove(key);
    }

    /// Copies held (for tests of the bound).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}
