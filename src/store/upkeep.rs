//! The store's upkeep in a running gateway, on a thread of its own:
//!
//! - Redis: at start and then every [`MIGRATE_EVERY`], records still in the
//!   version 1 key layout are moved to version 2 (one node at a time, under
//!   a lock; a node that finds the lock taken lets the other finish). A
//!   node of an older version still writing version 1 keys during a rolling
//!   upgrade is thereby caught up within a minute.
//! - Every store: at start and then every [`PRUNE_EVERY`], login history and
//!   match failures older than `store.retention_days` are removed,
//!   [`BATCH`] records a call, with a short pause between calls, so the
//!   store keeps serving logins meanwhile. Removed records are counted in
//!   `esia_gate_store_pruned_total{backend}`.
//!
//! Nothing here is on a request's path; a failure is logged (and counted
//! in `esia_gate_store_errors_total` by the store) and tried again later.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{RedisStore, Store};
use crate::clock::Clock;
use crate::config::store::{DurableBackend, StoreBackend, StoreSettings};

pub const MIGRATE_EVERY: Duration = Duration::from_secs(60);
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Records removed per store call.
pub const BATCH: usize = 500;
const PAUSE: Duration = Duration::from_millis(20);

/// Start the upkeep thread for the gateway's `store`.
pub fn start(
    store: Arc<dyn Store>,
    settings: &StoreSettings,
    base_dir: &Path,
    clock: Clock,
) -> std::io::Result<()> {
    let settings = settings.clone();
    let base_dir = base_dir.to_path_buf();
    std::thread::Builder::new()
        .name("esia-gate-upkeep".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "store upkeep: cannot start its runtime; records are not pruned");
                    return;
                }
            };
            rt.block_on(run(store, settings, base_dir, clock));
        })
        .map(|_| ())
}

async fn run(
    store: Arc<dyn Store>,
    settings: StoreSettings,
    base_dir: std::path::PathBuf,
    clock: Clock,
) {
    let backend = match settings.durable {
        DurableBackend::Backend => settings.backend.label(),
        DurableBackend::Postgres => "postgres",
    };
    // The migration talks to Redis through a connection of its own; with
    // the durable records in PostgreSQL, Redis has no layout to migrate.
    let migrator = match settings.backend {
        StoreBackend::Redis if settings.durable == DurableBackend::Backend => {
            match RedisStore::open(&settings, &base_dir).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "store upkeep: cannot open Redis for the layout migration");
                    None
                }
            }
        }
        StoreBackend::Redis | StoreBackend::Embedded => None,
    };
    let keep = i64::from(settings.retention_days) * 86_400;
    let mut pruned_at: Option<Instant> = None;
    let mut conflicts_told = 0;
    loop {
        if let Some(m) = &migrator {
            match m.migrate_v1(Duration::ZERO).await {
                Ok(r) if r.conflicts > 0 && r.conflicts != conflicts_told => {
                    conflicts_told = r.conflicts;
                    tracing::warn!(
                        conflicts = r.conflicts,
                        "redis store: own links of the version 1 layout whose account another \
                         person owns in version 2 stay in version 1; see docs/store.md (migration)"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "redis store: layout migration failed; tried again in a minute")
                }
            }
        }
        if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            let before = clock().timestamp() - keep;
            let n = prune_all(store.as_ref(), before, BATCH, backend).await;
            if n > 0 {
                tracing::info!(
                    removed = n,
                    retention_days = settings.retention_days,
                    "store: old login history and match failures removed"
                );
            }
            pruned_at = Some(Instant::now());
        }
        tokio::time::sleep(MIGRATE_EVERY).await;
    }
}

/// Remove everything older than `before`, `batch` records a call, counting
/// them in the metric; stops at the first failure (logged). Returns how
/// many were removed.
pub async fn prune_all(store: &dyn Store, before: i64, batch: usize, backend: &str) -> usize {
    let counter = crate::telemetry::metrics::get()
        .store_pruned
        .with_label_values(&[backend]);
    let mut total = 0usize;
    loop {
        match store.prune_before(before, batch).await {
            Ok(0) => return total,
            Ok(n) => {
                total += n;
                counter.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
                tokio::time::sleep(PAUSE).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: pruning old records failed; tried again later");
                return total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::LegacyLogin;
    use crate::store::{LoginMethod, LoginRecord, MemoryStore};

    #[tokio::test]
    async fn pruning_runs_in_batches_until_nothing_older_is_left_and_counts() {
        let store = MemoryStore::default();
        for at in 0..1200 {
            store
                .record_login(&LoginRecord {
                    login: LegacyLogin(format!("l{}", at % 7)),
                    method: LoginMethod::Esia,
                    at,
                })
                .await
                .expect("record");
        }
        let counter = crate::telemetry::metrics::get()
            .store_pruned
            .with_label_values(&["memory-test"]);
        let before = counter.get();
        assert_eq!(prune_all(&store, 1000, 300, "memory-test").await, 1000);
        assert_eq!(counter.get() - before, 1000);
        assert_eq!(prune_all(&store, 1000, 300, "memory-test").await, 0);
        let left = store.export_durable().await.expect("export");
        assert_eq!(left.len(), 200);
    }
}
