//! Durable records in PostgreSQL (`[store] durable = "postgres"`), for
//! regions whose IT already runs, replicates and backs up PostgreSQL. The
//! ephemeral records stay with `backend` (Redis, or memory and the embedded
//! file on one node): [`WithPostgres`] routes each call to one or the other.
//!
//! A durable write is one statement or one transaction, and returns `Ok`
//! once PostgreSQL has committed it (with the server's `synchronous_commit`,
//! by default on: flushed to its WAL, and to a synchronous standby where
//! one is configured).
//!
//! The store keeps `connections` connections on a small runtime of its
//! own (like the Redis store), each made on first use and made again after
//! it broke; the first one applies the migrations ([`schema`]). Every call
//! runs under `timeout_ms`. While PostgreSQL does not answer, a call that
//! needs a new connection fails at once for a second after a failed
//! attempt, so that a person's request never waits on an outage twice.
//! Server messages are masked like the directory's (no SNILS in a log).
//!
//! Here: settings, the runtime and the connections; `schema` the tables
//! and migrations, `durable` the record calls, `split` the routing store.

mod durable;
pub mod schema;
mod split;

pub use split::WithPostgres;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use crate::config::store::{StorePostgres, StoreSettings};
use crate::identity::source::{chain, masked, rustls_connector};
use schema::{MigrateError, ONE_OWNER};

/// After a failed connection attempt, calls needing a new connection fail
/// at once for this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A boxed future borrowing a connection.
pub(super) type ConnFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>>;

enum Url {
    Text(String),
    File(PathBuf),
}

struct Settings {
    url: Url,
    /// Used when the URL says `sslmode=require`.
    tls: MakeRustlsConnect,
    schema: String,
    timeout: Duration,
    /// Apply migrations on the first connection (a serving gateway, the
    /// `links` commands); `esia-gate check` only looks.
    migrate: bool,
}

/// One connection and the statements prepared on it.
pub(super) struct Conn {
    pub(super) client: Client,
    schema: Arc<str>,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The statement `sql` (with `{s}` for the schema), prepared once per
    /// connection.
    pub(super) async fn st(
        &mut self,
        sql: &'static str,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(&sql.replace("{s}", &self.schema))
            .await?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }
}

struct Inner {
    settings: Settings,
    schema: Arc<str>,
    slots: Vec<tokio::sync::Mutex<Option<Conn>>>,
    next: std::sync::atomic::AtomicUsize,
    migrated: tokio::sync::OnceCell<()>,
    failed_at: Mutex<Option<Instant>>,
}

pub struct PostgresStore {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Never block (this may run inside another runtime).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Check the settings and make the store; nothing connects yet.
    /// `migrate`: apply migrations on the first connection (false only for
    /// `esia-gate check`).
    pub fn new(
        settings: &StoreSettings,
        base_dir: &Path,
        migrate: bool,
    ) -> Result<Self, StoreError> {
        let pg = settings.postgres.as_ref().ok_or_else(|| {
            StoreError::Unavailable("store.postgres: required with durable = \"postgres\"".into())
        })?;
        let settings = resolve(pg, base_dir, migrate)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("esia-gate-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the PostgreSQL store runtime: {e}"))
            })?;
        let schema: Arc<str> = settings.schema.as_str().into();
        Ok(Self {
            inner: Arc::new(Inner {
                schema,
                slots: (0..pg.connections.max(1))
                    .map(|_| tokio::sync::Mutex::new(None))
                    .collect(),
                next: 0.into(),
                migrated: tokio::sync::OnceCell::new(),
                failed_at: Mutex::new(None),
                settings,
            }),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Connect now (applying the migrations): a gateway's start.
    pub async fn start(&self) -> Result<(), StoreError> {
        self.run("start", |_| Box::pin(async { Ok(()) })).await
    }

    /// Where the schema stands, without changing anything (`esia-gate
    /// check`).
    pub async fn inspect(&self) -> Result<String, StoreError> {
        let inner = self.inner.clone();
        let t = inner.settings.timeout;
        let task = self.handle.spawn(async move {
            let client = inner.connect().await?;
            let schema = inner.schema.to_string();
            schema::inspect(&client, &schema)
                .await
                .map(|i| i.describe(&schema))
                .map_err(|e| inner.error("inspect", e))
        });
        match tokio::time::timeout(t + t, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("postgres: {e}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "postgres: no answer within {} ms",
                (t + t).as_millis()
            ))),
        }
    }

    /// Run `f` on a connection on the store's runtime, under the deadline.
    pub(super) async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> ConnFuture<'c, T> + Send + 'static,
    {
        self.run_for(op, Some(self.inner.settings.timeout), f).await
    }

    /// [`Self::run`] with another deadline (`None`: none, for exports and
    /// imports of any size).
    pub(super) async fn run_for<T, F>(
        &self,
        op: &'static str,
        deadline: Option<Duration>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> ConnFuture<'c, T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let task = self
            .handle
            .spawn(async move { inner.with_conn(op, deadline, f).await });
        let failed = |e: tokio::task::JoinError| {
            StoreError::Unavailable(format!("postgres {op}: task failed: {e}"))
        };
        match deadline {
            // The caller waits a little longer than the call's own
            // deadline: even a stuck store runtime cannot hold a request.
            Some(t) => match tokio::time::timeout(t + Duration::from_millis(250), task).await {
                Ok(r) => r.map_err(failed)?,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "postgres {op}: no answer within {} ms",
                    t.as_millis()
                ))),
            },
            None => task.await.map_err(failed)?,
        }
    }
}

fn resolve(pg: &StorePostgres, base_dir: &Path, migrate: bool) -> Result<Settings, StoreError> {
    let full = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let url = match (&pg.url, &pg.url_file) {
        (Some(u), None) => Url::Text(u.clone()),
        (None, Some(f)) => Url::File(full(f)),
        _ => {
            return Err(StoreError::Unavailable(
                "store.postgres: set one of url and url_file".into(),
            ));
        }
    };
    let tls = rustls_connector(pg.ca_file.as_deref().map(full).as_deref())
        .map_err(|e| StoreError::Unavailable(format!("store.postgres.ca_file: {e}")))?;
    let settings = Settings {
        url,
        tls,
        schema: pg.schema.clone(),
        timeout: Duration::from_millis(pg.timeout_ms.max(1)),
        migrate,
    };
    // A URL that cannot be read or parsed is a configuration error now,
    // not an outage later.
    settings.config()?;
    Ok(settings)
}

impl Settings {
    fn config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let (key, text) = match &self.url {
            Url::Text(u) => ("store.postgres.url", u.clone()),
            Url::File(f) => (
                "store.postgres.url_file",
                std::fs::read_to_string(f)
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "store.postgres.url_file: cannot read {}: {e}",
                            f.display()
                        ))
                    })?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            ),
        };
        let mut c = crate::config::directory::check_url(&text)
            .map_err(|m| StoreError::Unavailable(format!("{key}: {m}")))?;
        if c.get_application_name().is_none() {
            c.application_name("esia-gate");
        }
        if c.get_connect_timeout().is_none() {
            c.connect_timeout(self.timeout);
        }
        Ok(c)
    }
}

impl Inner {
    /// A new connection, its task spawned on the store's runtime.
    async fn connect(&self) -> Result<Client, StoreError> {
        let config = self.settings.config()?;
        let done = |r: Result<(), tokio_postgres::Error>| {
            if let Err(e) = r {
                tracing::debug!(error = %masked(&chain(&e)), "a PostgreSQL store connection ended");
            }
        };
        let connected = if matches!(config.get_ssl_mode(), SslMode::Require) {
            config
                .connect(self.settings.tls.clone())
                .await
                .map(|(c, conn)| {
                    tokio::spawn(async move { done(conn.await) });
                    c
                })
        } else {
            config
                .connect(tokio_postgres::NoTls)
                .await
                .map(|(c, conn)| {
                    tokio::spawn(async move { done(conn.await) });
                    c
                })
        };
        connected.map_err(|e| self.error("connect", MigrateError::Db(e)))
    }

    /// A live connection in `slot`, made (and the schema migrated) if
    /// needed.
    async fn ready(&self, slot: &mut Option<Conn>) -> Result<(), StoreError> {
        if slot.as_ref().is_some_and(|c| !c.client.is_closed()) {
            return Ok(());
        }
        *slot = None;
        let failed_recently = self
            .failed_at
            .lock()
            .map(|t| t.is_some_and(|t| t.elapsed() < RETRY_AFTER))
            .unwrap_or(false);
        if failed_recently {
            return Err(StoreError::Unavailable(
                "postgres: not reachable (a connection attempt failed a moment ago)".into(),
            ));
        }
        let attempt = async {
            let mut client = self.connect().await?;
            self.migrated
                .get_or_try_init(|| async {
                    if self.settings.migrate {
                        let applied = schema::migrate(&mut client, &self.schema)
                            .await
                            .map_err(|e| self.error("migrate", e))?;
                        if !applied.is_empty() {
                            tracing::warn!(schema = %self.schema, versions = ?applied, "PostgreSQL store migrated");
                        }
                    } else {
                        schema::inspect(&client, &self.schema)
                            .await
                            .map_err(|e| self.error("inspect", e))?;
                    }
                    Ok::<(), StoreError>(())
                })
                .await?;
            Ok::<Client, StoreError>(client)
        };
        match attempt.await {
            Ok(client) => {
                if let Ok(mut t) = self.failed_at.lock() {
                    *t = None;
                }
                *slot = Some(Conn {
                    client,
                    schema: self.schema.clone(),
                    prepared: HashMap::new(),
                });
                Ok(())
            }
            Err(e) => {
                if matches!(e, StoreError::Unavailable(_))
                    && let Ok(mut t) = self.failed_at.lock()
                {
                    *t = Some(Instant::now());
                }
                Err(e)
            }
        }
    }

    async fn with_conn<T, F>(
        &self,
        op: &'static str,
        deadline: Option<Duration>,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> ConnFuture<'c, T>,
    {
        let started = Instant::now();
        let expired = || {
            StoreError::Unavailable(format!(
                "postgres {op}: no answer within {} ms",
                deadline.unwrap_or_default().as_millis()
            ))
        };
        let left = || deadline.map(|d| d.saturating_sub(started.elapsed()));
        let within = |t: Option<Duration>| t.unwrap_or(Duration::MAX);
        // Any free connection, else the next one in turn.
        let n = self.slots.len();
        let first = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.slots[(first + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(g) => g,
            None => tokio::time::timeout(within(left()), self.slots[first].lock())
                .await
                .map_err(|_| expired())?,
        };
        tokio::time::timeout(within(left()), self.ready(&mut guard))
            .await
            .map_err(|_| expired())??;
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::Unavailable(format!(
                "postgres {op}: no connection"
            )));
        };
        match tokio::time::timeout(within(left()), f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_closed() {
                    *guard = None;
                }
                Err(self.error(op, MigrateError::Db(e)))
            }
            Err(_) => {
                // A connection that let a call run out may be stuck
                // (a network that drops packets): make a new one next time.
                *guard = None;
                Err(expired())
            }
        }
    }

    /// A database error as a [`StoreError`]: a second owner of a login is
    /// [`StoreError::AlreadyLinked`]; anything else is an outage, with the
    /// server's words masked.
    fn error(&self, op: &str, e: MigrateError) -> StoreError {
        match e {
            MigrateError::Store(e) => e,
            MigrateError::Db(e) => {
                if let Some(db) = e.as_db_error()
                    && db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
                    && db.constraint() == Some(ONE_OWNER)
                {
                    return StoreError::AlreadyLinked;
                }
                StoreError::Unavailable(format!("postgres {op}: {}", masked(&chain(&e))))
            }
        }
    }
}

#[cfg(test)]
mod tests;
