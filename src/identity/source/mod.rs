//! Where the directory comes from and how it stays fresh: a CSV file,
//! reloaded when it changes (checked every `csv_reload_seconds`), or a
//! read-only SQL query on PostgreSQL, run again every `refresh_seconds`.
//!
//! A load that fails (the file unreadable or its header wrong, the server
//! down, the query failing) keeps the last good directory in use, is logged
//! with its reason and counted in `esia_gate_directory_reloads_total{result="error"}`.
//! Bad rows are skipped, logged with their row number and reason, never
//! fatal. Nothing here logs a SNILS: row reasons never quote the snils
//! column, and numbers that could be one are masked in server messages.
//!
//! Here: the source the gateway holds, its refreshes, logging and counting;
//! reading is in `csv` and `postgres`, one file each.

mod csv;
mod postgres;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::directory::{Directory, DirectoryError, RowProblem};
use crate::config::Resolved;
use crate::config::directory::{CsvEncoding, Postgres};
use crate::config::tls::{Client, Roots, Trust};
use crate::telemetry::metrics;
use csv::CsvSource;
use postgres::{Conn, PostgresSource, tls_connector};

pub use postgres::{chain, masked, rustls_connector};

/// At most this many skipped rows are logged one by one per load.
const LOGGED_ROWS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("directory.csv: {0}")]
    Csv(#[from] DirectoryError),
    #[error("{key}: {message}")]
    Setting { key: &'static str, message: String },
    #[error("directory.postgres: {0}")]
    Postgres(String),
    #[error("directory.postgres: the query returns no column {0}; it must return {1}")]
    Columns(String, String),
    #[error("directory.postgres: no answer within {0} s")]
    Timeout(u64),
    #[error("directory: cannot start the refresher: {0}")]
    Start(String),
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The CSV file has not changed since the last attempt.
    Unchanged,
    /// A new directory is in use.
    Loaded { accounts: usize, skipped: usize },
    /// The last good directory stays in use.
    Failed(String),
}

/// One of the two sources, with what it remembers between refreshes.
pub struct DirectorySource {
    kind: Kind,
    /// The rows skipped by the last load, so that the same ones are not
    /// logged again at every refresh.
    last_skipped: Vec<RowProblem>,
}

enum Kind {
    Csv(CsvSource),
    Postgres(Box<PostgresSource>),
}

impl DirectorySource {
    /// The source `[directory]` names, relative paths resolved against the
    /// configuration's folder. Fails, naming the key, when the PostgreSQL
    /// URL file or CA file cannot be read.
    pub fn from_settings(r: &Resolved) -> Result<Self, SourceError> {
        let d = &r.settings.directory;
        match (&d.csv, &d.postgres) {
            (Some(csv), _) => Ok(Self::csv_in(
                r.path(csv),
                Duration::from_secs(d.csv_reload_seconds),
                d.csv_encoding,
            )),
            (None, Some(pg)) => {
                let mut pg = pg.clone();
                pg.url_file = pg.url_file.map(|p| r.path(&p));
                let trust = r
                    .trust(Client::Postgres)
                    .map_err(|e| SourceError::Setting {
                        key: "directory.postgres.ca_file",
                        message: e.to_string(),
                    })?;
                Self::postgres_trusting(&pg, &trust)
            }
            (None, None) => Err(SourceError::Setting {
                key: "directory.csv",
                message: "set directory.csv or directory.postgres".into(),
            }),
        }
    }

    /// A CSV file, checked for a change every `every`, its encoding
    /// detected.
    pub fn csv(path: PathBuf, every: Duration) -> Self {
        Self::csv_in(path, every, CsvEncoding::Detect)
    }

    /// A CSV file in the given encoding (or detected).
    pub fn csv_in(path: PathBuf, every: Duration, encoding: CsvEncoding) -> Self {
        Self::new(Kind::Csv(CsvSource {
            path,
            every: every.max(Duration::from_millis(100)),
            encoding,
            tried: None,
        }))
    }

    /// A query on PostgreSQL; `url_file` and `ca_file` as given (already
    /// resolved), with the built-in roots besides the CA file.
    pub fn postgres(pg: &Postgres) -> Result<Self, SourceError> {
        let trust = Trust::load(pg.ca_file.as_deref(), Roots::Webpki).map_err(|message| {
            SourceError::Setting {
                key: "directory.postgres.ca_file",
                message,
            }
        })?;
        Self::postgres_trusting(pg, &trust)
    }

    /// A query on PostgreSQL, its server checked against `trust`. The URL
    /// file is read now, to fail early, and again at every refresh.
    pub fn postgres_trusting(pg: &Postgres, trust: &Trust) -> Result<Self, SourceError> {
        let conn = match (&pg.url, &pg.url_file) {
            (Some(u), None) => Conn::Url(u.clone()),
            (None, Some(f)) => Conn::UrlFile(f.clone()),
            _ => {
                return Err(SourceError::Setting {
                    key: "directory.postgres.url",
                    message: "set exactly one of url and url_file".into(),
                });
            }
        };
        let source = PostgresSource {
            conn,
            query: pg.query.trim().trim_end_matches(';').trim_end().to_string(),
            every: Duration::from_secs(pg.refresh_seconds.max(1)),
            timeout: Duration::from_secs(pg.timeout_seconds.max(1)),
            tls: tls_connector(trust)?,
        };
        source.config()?;
        Ok(Self::new(Kind::Postgres(Box::new(source))))
    }

    fn new(kind: Kind) -> Self {
        Self {
            kind,
            last_skipped: Vec::new(),
        }
    }

    /// `csv` or `postgres`: the `source` label of the metrics.
    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Csv(_) => "csv",
            Kind::Postgres(_) => "postgres",
        }
    }

    /// How often [`Self::run`] refreshes.
    pub fn interval(&self) -> Duration {
        match &self.kind {
            Kind::Csv(c) => c.every,
            Kind::Postgres(p) => p.every,
        }
    }

    /// The first load, before the gateway starts: an error means there is
    /// no directory to start with. Logged and counted like every load.
    pub async fn load_initial(&mut self) -> Result<Directory, SourceError> {
        let result = match &mut self.kind {
            Kind::Csv(c) => c.load(true).unwrap_or_else(|| c.read()),
            Kind::Postgres(p) => p.fetch().await,
        };
        match result {
            Ok(dir) => {
                self.accepted(&dir, "directory loaded");
                Ok(dir)
            }
            Err(e) => {
                self.count("error");
                tracing::error!(source = self.label(), error = %e, "directory cannot be loaded");
                Err(e)
            }
        }
    }

    /// Loads again when there may be something new (always for a query,
    /// when the file changed for a CSV) and puts the new directory in
    /// `target`; on failure `target` keeps the last good directory.
    pub async fn refresh(&mut self, target: &ArcSwap<Directory>) -> Refresh {
        self.refresh_forced(target, false).await
    }

    /// [`Self::refresh`]; `force` reads a CSV file even when it looks
    /// unchanged (SIGHUP: "read it now").
    async fn refresh_forced(&mut self, target: &ArcSwap<Directory>, force: bool) -> Refresh {
        let result = match &mut self.kind {
            Kind::Csv(c) => match c.load(force) {
                Some(r) => r,
                None => return Refresh::Unchanged,
            },
            Kind::Postgres(p) => p.fetch().await,
        };
        match result {
            Ok(dir) => {
                let (accounts, skipped) = self.accepted(&dir, "directory reloaded");
                target.store(Arc::new(dir));
                Refresh::Loaded { accounts, skipped }
            }
            Err(e) => {
                self.count("error");
                tracing::error!(
                    source = self.label(),
                    error = %e,
                    accounts_in_use = target.load().accounts().len(),
                    "directory reload failed; the last good directory stays in use"
                );
                Refresh::Failed(e.to_string())
            }
        }
    }

    /// Refreshes every [`Self::interval`] until nobody but this loop holds
    /// `target` (the gateway was dropped).
    pub async fn run(self, target: Arc<ArcSwap<Directory>>) {
        self.run_kicked(target, Arc::new(tokio::sync::Notify::new()))
            .await;
    }

    /// [`Self::run`], and a load at once (the CSV file read even when it
    /// looks unchanged) whenever `now` is notified (SIGHUP).
    pub async fn run_kicked(
        mut self,
        target: Arc<ArcSwap<Directory>>,
        now: Arc<tokio::sync::Notify>,
    ) {
        let mut tick = tokio::time::interval(self.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: the initial load has just been made.
        tick.tick().await;
        loop {
            let forced = tokio::select! {
                _ = tick.tick() => false,
                _ = now.notified() => true,
            };
            if Arc::strong_count(&target) <= 1 {
                tracing::debug!(
                    source = self.label(),
                    "directory no longer in use; refresher stops"
                );
                return;
            }
            if forced {
                tracing::info!(source = self.label(), "directory: loading now (SIGHUP)");
            }
            self.refresh_forced(&target, forced).await;
        }
    }

    /// [`Self::run`] as a task of the current tokio runtime.
    pub fn spawn_refresher(self, target: Arc<ArcSwap<Directory>>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(target))
    }

    /// For a caller outside any tokio runtime (the gateway's start, before
    /// Pingora's runtimes exist): a thread of its own with a small runtime
    /// makes the initial load, hands the directory back, then keeps it
    /// fresh. Returns when the initial load is done; its error stops the
    /// thread and is returned.
    pub fn start(
        self,
    ) -> Result<(Arc<ArcSwap<Directory>>, std::thread::JoinHandle<()>), SourceError> {
        self.start_kicked(Arc::new(tokio::sync::Notify::new()))
    }

    /// [`Self::start`], with [`Self::run_kicked`]'s `now`.
    pub fn start_kicked(
        mut self,
        now: Arc<tokio::sync::Notify>,
    ) -> Result<(Arc<ArcSwap<Directory>>, std::thread::JoinHandle<()>), SourceError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("esia-gate-directory".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(SourceError::Start(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    let target = match self.load_initial().await {
                        Ok(dir) => Arc::new(ArcSwap::from_pointee(dir)),
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    if tx.send(Ok(target.clone())).is_err() {
                        return;
                    }
                    drop(tx);
                    self.run_kicked(target, now).await;
                });
            })
            .map_err(|e| SourceError::Start(e.to_string()))?;
        match rx.recv() {
            Ok(Ok(target)) => Ok((target, handle)),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err(SourceError::Start(
                "the directory thread stopped before the first load".into(),
            )),
        }
    }

    fn count(&self, result: &str) {
        metrics::get()
            .directory_reloads
            .with_label_values(&[self.label(), result])
            .inc();
    }

    /// Counts, logs and remembers a good load; returns (accounts, skipped).
    fn accepted(&mut self, dir: &Directory, what: &'static str) -> (usize, usize) {
        let skipped = dir.skipped_rows();
        if skipped != self.last_skipped.as_slice() {
            let file = match &self.kind {
                Kind::Csv(c) => c.path.display().to_string(),
                Kind::Postgres(_) => String::new(),
            };
            for p in skipped.iter().take(LOGGED_ROWS) {
                tracing::warn!(source = self.label(), file = %file, row = p.row, reason = %p.reason, "directory row skipped");
            }
            if skipped.len() > LOGGED_ROWS {
                tracing::warn!(
                    source = self.label(),
                    more = skipped.len() - LOGGED_ROWS,
                    "more directory rows skipped (see the directory report)"
                );
            }
            self.last_skipped = skipped.to_vec();
        }
        let accounts = dir.accounts().len();
        self.count("ok");
        let m = metrics::get();
        m.directory_accounts
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
        tracing::info!(
            source = self.label(),
            encoding = dir.encoding().unwrap_or(""),
            accounts,
            skipped = skipped.len(),
            invalid_snils = dir
                .invalid_snils_accounts()
                .iter()
                .filter(|a| a.snils_problem.is_some())
                .count(),
            "{what}"
        );
        (accounts, skipped.len())
    }
}
