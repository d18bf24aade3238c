//! Fresh stores of one backend for the suite: a temp directory, a
//! `redis-server`, a Redis Cluster or Sentinel, a PostgreSQL server as the
//! backend needs. `redis_postgres` and `embedded_postgres` keep the
//! durable records in PostgreSQL (a schema per store) and the rest in
//! Redis or the embedded store, as `[store] durable = "postgres"` does.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{EmbeddedStore, MemoryStore, Store};

/// What each backend's tests need: a way to make fresh, empty stores that
/// share whatever server or directory the backend uses.
pub struct Harness {
    pub kind: &'static str,
    dir: tempfile::TempDir,
    pub redis: Option<esia_gate_dev::redis::RedisServer>,
    cluster: Option<esia_gate_dev::redis::RedisCluster>,
    sentinel: Option<esia_gate_dev::redis::RedisSentinel>,
    pub postgres: Option<esia_gate_dev::postgres::PostgresServer>,
    n: std::sync::atomic::AtomicUsize,
}

impl Harness {
    pub async fn new(kind: &'static str) -> Harness {
        let cluster = (kind == "cluster").then(|| {
            esia_gate_dev::redis::RedisCluster::start()
                .unwrap_or_else(|e| panic!("cannot start a Redis Cluster for the tests: {e}"))
        });
        let sentinel = (kind == "sentinel").then(|| {
            esia_gate_dev::redis::RedisSentinel::start()
                .unwrap_or_else(|e| panic!("cannot start Redis Sentinel for the tests: {e}"))
        });
        let redis = if kind.contains("redis") {
            Some(
                esia_gate_dev::redis::RedisServer::start()
                    .unwrap_or_else(|e| panic!("cannot start redis-server for the tests: {e}")),
            )
        } else {
            None
        };
        let postgres = kind.contains("postgres").then(|| {
            esia_gate_dev::postgres::PostgresServer::start_with(&["fsync=off"])
                .unwrap_or_else(|e| panic!("cannot start PostgreSQL for the tests: {e}"))
        });
        Harness {
            kind,
            dir: tempfile::tempdir().expect("tempdir"),
            redis,
            cluster,
            sentinel,
            postgres,
            n: 0.into(),
        }
    }

    /// A fresh, empty store of this harness's kind.
    pub async fn store(&self) -> Arc<dyn Store> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.open(n).await
    }

    /// A number for [`Self::open`] naming a fresh store that can be opened
    /// again on the same data, or `None` for backends that keep nothing
    /// past the store object (memory).
    pub fn reopenable(&self) -> Option<usize> {
        (!self.kind.contains("memory"))
            .then(|| self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }

    /// Store number `n` of this harness: the same file or key prefix each
    /// time, so opening it again is a restart. (An embedded store must be
    /// dropped before it is opened again: the file takes one opener.)
    pub async fn open(&self, n: usize) -> Arc<dyn Store> {
        let cache = crate::store::cached::CacheSettings {
            ttl: Duration::from_secs(2),
            stale: Duration::from_secs(60),
            capacity: 1000,
        };
        match self.kind {
            "memory" => Arc::new(MemoryStore::default()),
            "cached_memory" => Arc::new(crate::store::CachedStore::new(
                MemoryStore::default(),
                "memory",
                cache,
            )),
            "embedded" => Arc::new(
                EmbeddedStore::open(&self.dir.path().join(format!("store-{n}.redb")))
                    .expect("open embedded"),
            ),
            "redis" | "cached_redis" | "cluster" | "sentinel" => {
                let url = match (&self.redis, &self.cluster, &self.sentinel) {
                    (Some(r), _, _) => r.url(),
                    (_, Some(c), _) => c.url(),
                    (_, _, Some(s)) => s.url(),
                    _ => String::new(),
                };
                let settings = crate::config::store::StoreSettings {
                    backend: crate::config::store::StoreBackend::Redis,
                    url: Some(url),
                    key_prefix: format!("test{n}:v1:"),
                    ..Default::default()
                };
                let store = crate::store::RedisStore::open(&settings, self.dir.path())
                    .await
                    .expect("open redis");
                if self.kind == "redis" {
                    Arc::new(store)
                } else {
                    Arc::new(crate::store::CachedStore::new(store, "redis", cache))
                }
            }
            "redis_postgres" | "embedded_postgres" => {
                let pg = self.postgres.as_ref().expect("a PostgreSQL server");
                let settings = crate::config::store::StoreSettings {
                    backend: crate::config::store::StoreBackend::Redis,
                    url: self.redis.as_ref().map(|r| r.url()),
                    key_prefix: format!("test{n}:v1:"),
                    durable: crate::config::store::DurableBackend::Postgres,
                    postgres: Some(crate::config::store::StorePostgres {
                        url: Some(pg.url()),
                        url_file: None,
                        ca_file: None,
                        schema: format!("test{n}"),
                        connections: 4,
                        timeout_ms: 5000,
                    }),
                    ..Default::default()
                };
                let durable = crate::store::PostgresStore::new(&settings, self.dir.path(), true)
                    .expect("open postgres");
                durable.start().await.expect("postgres answers");
                if self.kind == "redis_postgres" {
                    let ephemeral = crate::store::RedisStore::open(&settings, self.dir.path())
                        .await
                        .expect("open redis");
                    Arc::new(
                        crate::store::CachedStore::new(
                            crate::store::WithPostgres::new(ephemeral, durable),
                            "redis",
                            cache,
                        )
                        .with_durable_label("postgres"),
                    )
                } else {
                    let ephemeral =
                        EmbeddedStore::open(&self.dir.path().join(format!("store-{n}.redb")))
                            .expect("open embedded");
                    Arc::new(crate::store::WithPostgres::new(ephemeral, durable))
                }
            }
            other => panic!("unknown backend {other}"),
        }
    }
}
