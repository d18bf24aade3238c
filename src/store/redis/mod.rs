//! The Redis store, for several gateway nodes sharing their state.
//!
//! URL forms (`[store] url`):
//! - `redis://[user:password@]host[:6379][/db]`, `rediss://...` (TLS):
//!   one server, through a connection manager that reconnects by itself;
//! - `redis+sentinel://[user:password@]host1[:26379],host2[:26379]/master[/db]`,
//!   `rediss+sentinel://...` (TLS to the sentinels and the master): the
//!   master is asked of the sentinels at connect and again after a failure;
//!   the credentials are the master's (sentinels without AUTH);
//! - `redis+cluster://[user:password@]host1[:6379],host2[:6379]`,
//!   `rediss+cluster://...`: Redis Cluster, any reachable nodes as seeds.
//!
//! `password_file` (first line) wins over a password in the URL.
//!
//! Keys start with the prefix (default `esia-gate:v1:`, kept across
//! layouts). Ephemeral keys all carry a TTL (`PX`): `session:<sha256 of the
//! id>`, `pending:<state>`, `rate:<key>`, `cookie:<hash>`, and the
//! `sessions` sorted set (expiry per session, for the gauge). Durable keys
//! follow the version 2 layout of `keys` (a hash tag per person and per
//! account, sharded indexes and day sets); `durable` holds their reads and
//! writes, `retention` pruning and forgetting, `v1` what is read of the
//! version 1 layout (one `{durable}` tag) until `migrate` has moved it.
//!
//! A durable write returns `Ok` once Redis answered the command: run Redis
//! with AOF (`appendonly yes`, `appendfsync everysec` or `always`) so that
//! an acknowledged link survives a restart of Redis.
//!
//! Every call runs on the store's own small runtime (so its connections
//! outlive whichever runtime asked) under a deadline of `timeout_ms`; any
//! failure is [`StoreError::Unavailable`], never a panic.
//!
//! This module holds the store and its runtime; `link` reaches Redis
//! (single server, sentinels, cluster), `calls` sends one call (or many,
//! grouped by slot on a cluster), `scripts` the Lua scripts, `store_impl`
//! the [`Store`](super::Store) calls.

mod calls;
mod durable;
mod keys;
mod link;
mod migrate;
mod retention;
mod scripts;
mod store_impl;
#[cfg(test)]
mod tests;
mod v1;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use migrate::Migration;

use link::{Link, make_link};

use super::StoreError;
use crate::config::redis_url::{Target, parse_url};
use crate::config::store::StoreSettings;

pub struct RedisStore {
    target: Target,
    password: Option<String>,
    prefix: String,
    timeout: Duration,
    described: String,
    /// The store's runtime and connection, made on first use (so nothing is
    /// running before the server has started, and whichever runtime calls,
    /// the connection lives on).
    started: std::sync::OnceLock<Result<Started, String>>,
}

struct Started {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    inner: Arc<Inner>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Never block (this may run inside another runtime).
        if let Some(Ok(mut st)) = self.started.take()
            && let Some(rt) = st.runtime.take()
        {
            rt.shutdown_background();
        }
    }
}

impl RedisStore {
    /// Check the settings and read the password file. Nothing connects
    /// yet: the first call starts the store's runtime and connection, and a
    /// Redis that is down makes calls fail until it is back.
    pub async fn open(settings: &StoreSettings, base_dir: &Path) -> Result<Self, StoreError> {
        let url = settings.url.as_deref().unwrap_or_default();
        let target =
            parse_url(url).map_err(|e| StoreError::Unavailable(format!("store.url: {e}")))?;
        let password = match &settings.password_file {
            Some(p) => {
                let full = if p.is_absolute() {
                    p.clone()
                } else {
                    base_dir.join(p)
                };
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "store.password_file: cannot read {}: {e}",
                        full.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or_default().trim().to_string())
            }
            None => None,
        };
        Ok(Self {
            described: format!("{target:?}"),
            target,
            password,
            prefix: settings.key_prefix.clone(),
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            started: std::sync::OnceLock::new(),
        })
    }

    /// What this store talks to (no credentials), for the log.
    pub fn describe(&self) -> &str {
        &self.described
    }

    fn started(&self) -> Result<&Started, StoreError> {
        self.started
            .get_or_init(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("esia-gate-store")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the store runtime: {e}"))?;
                // Connection objects spawn their tasks on the runtime they
                // are made in: make them in the store's own.
                let link = {
                    let _in = runtime.enter();
                    make_link(self.target.clone(), self.password.clone(), self.timeout)
                        .map_err(|e| e.to_string())?
                };
                Ok(Started {
                    handle: runtime.handle().clone(),
                    runtime: Some(runtime),
                    inner: Arc::new(Inner::new(link, self.prefix.clone())),
                })
            })
            .as_ref()
            .map_err(|e| StoreError::Unavailable(e.clone()))
    }

    /// Run one call on the store's runtime under the deadline (`None`: no
    /// deadline but each command's own, for exports and imports). The caller
    /// waits a little longer than the deadline, so even a store runtime that
    /// stopped working cannot hold a request.
    async fn run_for<T, F, Fut>(
        &self,
        op: &'static str,
        deadline: Option<Duration>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let st = self.started()?;
        let fut = f(st.inner.clone());
        let expired = |t: Duration| {
            StoreError::Unavailable(format!("redis {op}: no answer within {} ms", t.as_millis()))
        };
        let failed = |e: tokio::task::JoinError| {
            StoreError::Unavailable(format!("redis {op}: task failed: {e}"))
        };
        match deadline {
            Some(t) => {
                let task = st
                    .handle
                    .spawn(async move { tokio::time::timeout(t, fut).await });
                match tokio::time::timeout(t + Duration::from_millis(250), task).await {
                    Ok(Ok(Ok(r))) => r,
                    Ok(Ok(Err(_))) | Err(_) => Err(expired(t)),
                    Ok(Err(e)) => Err(failed(e)),
                }
            }
            None => st.handle.spawn(fut).await.map_err(failed)?,
        }
    }

    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_for(op, Some(self.timeout), f).await
    }
}

/// What every call needs: the connection, the prefix, the scripts and a
/// little state of the durable layout.
struct Inner {
    link: Link,
    prefix: String,
    scripts: scripts::Scripts,
    /// Whether version 1 keys may still hold records (see `v1`).
    v1: v1::V1State,
    /// Days this node has put into the `{days}` sets (see `keys`), so that
    /// each is written once a day per node, not once a login.
    days_seen: std::sync::Mutex<std::collections::HashSet<(keys::Kind, i64)>>,
}

impl Inner {
    fn new(link: Link, prefix: String) -> Self {
        Self {
            link,
            prefix,
            scripts: scripts::Scripts::new(),
            v1: Default::default(),
            days_seen: Default::default(),
        }
    }
}
