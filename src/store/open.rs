//! Opening the configured store: the backend of `[store]` under the
//! session cache, with the durable records beside it in PostgreSQL when
//! `durable = "postgres"`; what `esia-gate check` may say of it without
//! changing anything; and both for synchronous start-up code.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{
    CacheSettings, CachedStore, EmbeddedStore, MemoryStore, PostgresStore, RedisStore, Store,
    StoreError, WithPostgres,
};

/// Why a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A gateway: PostgreSQL (when configured) is connected and migrated
    /// at once; one that does not answer yet is no error (the store
    /// connects when it is back, `/readyz` says so meanwhile).
    Serve,
    /// `esia-gate check`: nothing is connected or changed.
    Check,
    /// `links export|import`: the durable records only. With PostgreSQL
    /// the ephemeral backend is not opened at all (so a running gateway's
    /// embedded file is no obstacle), and PostgreSQL must answer.
    Durable,
}

/// Open the configured store, wrapped in the session cache. Relative paths
/// are resolved against `base_dir` (the configuration file's directory).
/// A Redis that is down at start is not an error: the store connects on
/// first use and whenever Redis is back, and `/readyz` says so meanwhile.
pub async fn open(
    settings: &crate::config::store::StoreSettings,
    base_dir: &Path,
) -> Result<Arc<dyn Store>, StoreError> {
    open_for(settings, base_dir, Purpose::Serve).await
}

/// [`open`] for a [`Purpose`].
pub async fn open_for(
    settings: &crate::config::store::StoreSettings,
    base_dir: &Path,
    purpose: Purpose,
) -> Result<Arc<dyn Store>, StoreError> {
    use crate::config::store::{DurableBackend, StoreBackend};
    if let Some((key, message)) = settings.problems().into_iter().next() {
        return Err(StoreError::Unavailable(format!("{key}: {message}")));
    }
    let cache = CacheSettings {
        ttl: Duration::from_millis(settings.cache_ttl_ms),
        stale: Duration::from_millis(settings.cache_stale_ms),
        ..CacheSettings::default()
    };
    let pg = match settings.durable {
        DurableBackend::Backend => None,
        DurableBackend::Postgres => {
            let pg = PostgresStore::new(settings, base_dir, purpose != Purpose::Check)?;
            match purpose {
                Purpose::Check => {}
                Purpose::Durable => pg.start().await?,
                Purpose::Serve => match pg.start().await {
                    Ok(()) => {}
                    Err(e @ StoreError::Unavailable(_)) => tracing::error!(
                        error = %e,
                        "PostgreSQL does not answer: new logins fail until it does; \
                         people already in keep the diary"
                    ),
                    Err(e) => return Err(e),
                },
            }
            tracing::info!(
                durable = "postgres",
                schema = pg.schema(),
                "durable records in PostgreSQL"
            );
            Some(pg)
        }
    };
    if purpose == Purpose::Durable
        && let Some(pg) = pg
    {
        // Nothing ephemeral is asked of it: a throwaway memory store.
        return Ok(Arc::new(WithPostgres::new(MemoryStore::default(), pg)));
    }
    match settings.backend {
        StoreBackend::Embedded => {
            let path = if settings.path.is_absolute() {
                settings.path.clone()
            } else {
                base_dir.join(&settings.path)
            };
            let store = EmbeddedStore::open(&path)?;
            tracing::info!(backend = "embedded", path = %path.display(), "store opened");
            Ok(cached(store, "embedded", cache, pg))
        }
        StoreBackend::Redis => {
            let store = RedisStore::open(settings, base_dir).await?;
            // Connects on first use; `/readyz` tells whether Redis answers.
            tracing::info!(backend = "redis", target = store.describe(), "store opened");
            Ok(cached(store, "redis", cache, pg))
        }
    }
}

/// `ephemeral` (with the durable records too, or beside PostgreSQL) under
/// the session cache.
fn cached<E: Store + 'static>(
    ephemeral: E,
    label: &'static str,
    cache: CacheSettings,
    pg: Option<PostgresStore>,
) -> Arc<dyn Store> {
    match pg {
        None => Arc::new(CachedStore::new(ephemeral, label, cache)),
        Some(pg) => Arc::new(
            CachedStore::new(WithPostgres::new(ephemeral, pg), label, cache)
                .with_durable_label("postgres"),
        ),
    }
}

/// What `esia-gate check` can say of the store without changing it: for
/// PostgreSQL, whether it answers and where its schema stands. A schema of
/// a newer esia-gate is an error.
pub async fn check_notes(
    settings: &crate::config::store::StoreSettings,
    base_dir: &Path,
) -> Result<Vec<String>, StoreError> {
    use crate::config::store::DurableBackend;
    if settings.durable != DurableBackend::Postgres {
        return Ok(Vec::new());
    }
    let pg = PostgresStore::new(settings, base_dir, false)?;
    match pg.inspect().await {
        Ok(note) => Ok(vec![format!("store: {note}")]),
        Err(e @ StoreError::Unavailable(_)) => Ok(vec![format!(
            "store: PostgreSQL does not answer now ({e}); the gateway would start, but new \
             logins would fail until it does"
        )]),
        Err(e) => Err(e),
    }
}

/// [`open`] for synchronous start-up code (before Pingora's runtimes exist,
/// or inside some other runtime): opens on a short-lived thread of its own.
/// The Redis store keeps its connections on a runtime it owns, so nothing it
/// needs dies with that thread.
pub fn open_blocking(
    settings: &crate::config::store::StoreSettings,
    base_dir: &Path,
    purpose: Purpose,
) -> Result<Arc<dyn Store>, StoreError> {
    on_own_thread(|| open_for(settings, base_dir, purpose))
}

/// [`check_notes`] for synchronous code.
pub fn check_notes_blocking(
    settings: &crate::config::store::StoreSettings,
    base_dir: &Path,
) -> Result<Vec<String>, StoreError> {
    on_own_thread(|| check_notes(settings, base_dir))
}

fn on_own_thread<T, F, Fut>(f: F) -> Result<T, StoreError>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot start a runtime to open the store: {e}"
                        ))
                    })?;
                rt.block_on(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "opening the store failed unexpectedly".into(),
                ))
            })
    })
}
