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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, SimpleQueryMessage, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::directory::{COLUMNS, Directory, DirectoryBuilder, DirectoryError, RowProblem};
use crate::config::Resolved;
use crate::config::directory::{Postgres, check_url};
use crate::telemetry::metrics;

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

struct CsvSource {
    path: PathBuf,
    every: Duration,
    /// The file's state at the last attempt, good or bad (`None`: it could
    /// not be looked at): an unchanged file is not read again.
    tried: Option<Option<Stamp>>,
}

/// What tells a changed file: size, modification and change times, inode
/// (a file replaced by rename has a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    ctime: (i64, i64),
    inode: (u64, u64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        ctime: (m.ctime(), m.ctime_nsec()),
        inode: (m.dev(), m.ino()),
    })
}

enum Conn {
    Url(String),
    UrlFile(PathBuf),
}

struct PostgresSource {
    conn: Conn,
    query: String,
    every: Duration,
    timeout: Duration,
    /// Used when the URL says `sslmode=require`.
    tls: MakeRustlsConnect,
}

impl DirectorySource {
    /// The source `[directory]` names, relative paths resolved against the
    /// configuration's folder. Fails, naming the key, when the PostgreSQL
    /// URL file or CA file cannot be read.
    pub fn from_settings(r: &Resolved) -> Result<Self, SourceError> {
        let d = &r.settings.directory;
        match (&d.csv, &d.postgres) {
            (Some(csv), _) => Ok(Self::csv(
                r.path(csv),
                Duration::from_secs(d.csv_reload_seconds),
            )),
            (None, Some(pg)) => {
                let mut pg = pg.clone();
                pg.url_file = pg.url_file.map(|p| r.path(&p));
                pg.ca_file = pg.ca_file.map(|p| r.path(&p));
                Self::postgres(&pg)
            }
            (None, None) => Err(SourceError::Setting {
                key: "directory.csv",
                message: "set directory.csv or directory.postgres".into(),
            }),
        }
    }

    /// A CSV file, checked for a change every `every`.
    pub fn csv(path: PathBuf, every: Duration) -> Self {
        Self::new(Kind::Csv(CsvSource {
            path,
            every: every.max(Duration::from_millis(100)),
            tried: None,
        }))
    }

    /// A query on PostgreSQL; `url_file` and `ca_file` as given (already
    /// resolved). The URL file is read now, to fail early, and again at
    /// every refresh.
    pub fn postgres(pg: &Postgres) -> Result<Self, SourceError> {
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
            tls: tls_connector(pg.ca_file.as_deref())?,
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
        let result = match &mut self.kind {
            Kind::Csv(c) => match c.load(false) {
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
    pub async fn run(mut self, target: Arc<ArcSwap<Directory>>) {
        let mut tick = tokio::time::interval(self.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: the initial load has just been made.
        tick.tick().await;
        loop {
            tick.tick().await;
            if Arc::strong_count(&target) <= 1 {
                tracing::debug!(
                    source = self.label(),
                    "directory no longer in use; refresher stops"
                );
                return;
            }
            self.refresh(&target).await;
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
        mut self,
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
                    self.run(target).await;
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

impl CsvSource {
    /// `None` when the file is as at the last attempt, or is being written
    /// (it changed while it was read): the next check sees it again.
    fn load(&mut self, force: bool) -> Option<Result<Directory, SourceError>> {
        let before = stamp(&self.path);
        if !force && self.tried == Some(before) {
            return None;
        }
        let result = self.read();
        if stamp(&self.path) != before && !force {
            return None;
        }
        self.tried = Some(before);
        Some(result)
    }

    fn read(&self) -> Result<Directory, SourceError> {
        Ok(Directory::load_csv(&self.path)?.0)
    }
}

impl PostgresSource {
    fn url(&self) -> Result<String, SourceError> {
        match &self.conn {
            Conn::Url(u) => Ok(u.clone()),
            Conn::UrlFile(f) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| SourceError::Setting {
                    key: "directory.postgres.url_file",
                    message: format!("cannot read {}: {e}", f.display()),
                }),
        }
    }

    fn config(&self) -> Result<tokio_postgres::Config, SourceError> {
        let key = match self.conn {
            Conn::Url(_) => "directory.postgres.url",
            Conn::UrlFile(_) => "directory.postgres.url_file",
        };
        let mut c =
            check_url(&self.url()?).map_err(|message| SourceError::Setting { key, message })?;
        if c.get_application_name().is_none() {
            c.application_name("esia-gate");
        }
        if c.get_connect_timeout().is_none() {
            c.connect_timeout(self.timeout);
        }
        Ok(c)
    }

    async fn fetch(&self) -> Result<Directory, SourceError> {
        let config = self.config()?;
        let work = async {
            if matches!(config.get_ssl_mode(), SslMode::Require) {
                run_query(&config, self.tls.clone(), &self.query, self.timeout).await
            } else {
                run_query(&config, NoTls, &self.query, self.timeout).await
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| SourceError::Timeout(self.timeout.as_secs()))?
    }
}

/// Connects, runs the query in a READ ONLY transaction and builds the
/// directory from its rows, every value read as text.
async fn run_query<T>(
    config: &tokio_postgres::Config,
    tls: T,
    query: &str,
    timeout: Duration,
) -> Result<Directory, SourceError>
where
    T: MakeTlsConnect<Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (mut client, connection) = config.connect(tls).await.map_err(pg_error)?;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %masked(&chain(&e)), "directory database connection ended");
        }
    });
    let result = async {
        let tx = client.build_transaction().read_only(true).start().await?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}; SET LOCAL DateStyle = 'ISO, YMD'",
            timeout.as_millis()
        ))
        .await?;
        // Preparing checks that the query is one statement (the simple
        // protocol below would run several, a COMMIT among them) and tells
        // its columns before it runs.
        let columns: Vec<String> = tx
            .prepare(query)
            .await?
            .columns()
            .iter()
            .map(|c| c.name().trim().to_lowercase())
            .collect();
        let missing = super::directory::missing_columns(columns.iter().map(String::as_str));
        if !missing.is_empty() {
            return Ok(Err(SourceError::Columns(
                missing.join(","),
                COLUMNS.join(","),
            )));
        }
        let messages = tx.simple_query(query).await?;
        tx.rollback().await?;
        Ok::<_, tokio_postgres::Error>(Ok(messages))
    }
    .await;
    drop(client);
    connection.abort();
    let messages = result.map_err(pg_error)??;
    Ok(from_messages(messages))
}

/// The rows of a query's answer, each value as text (NULL as empty).
fn from_messages(messages: Vec<SimpleQueryMessage>) -> Directory {
    let mut builder = DirectoryBuilder::default();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    let mut n = 0;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                index = COLUMNS
                    .iter()
                    .filter_map(|&want| {
                        cols.iter()
                            .position(|c| c.name().trim().eq_ignore_ascii_case(want))
                            .map(|i| (want, i))
                    })
                    .collect();
            }
            SimpleQueryMessage::Row(row) => {
                n += 1;
                let get = |c: &str| {
                    index
                        .get(c)
                        .and_then(|&i| row.try_get(i).ok().flatten())
                        .unwrap_or("")
                        .trim()
                        .to_string()
                };
                builder.add_row(n, &get);
            }
            _ => {}
        }
    }
    builder.finish().0
}

fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, SourceError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let bad = |message: String| SourceError::Setting {
        key: "directory.postgres.ca_file",
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(f) => {
            let certs = CertificateDer::pem_file_iter(f)
                .map_err(|e| bad(format!("cannot read {}: {e}", f.display())))?;
            for c in certs {
                let c = c.map_err(|e| bad(format!("{}: {e}", f.display())))?;
                roots
                    .add(c)
                    .map_err(|e| bad(format!("{}: {e}", f.display())))?;
            }
            if roots.is_empty() {
                return Err(bad(format!("{} holds no certificate", f.display())));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SourceError::Postgres(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn pg_error(e: tokio_postgres::Error) -> SourceError {
    SourceError::Postgres(masked(&chain(&e)))
}

/// An error with its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s.replace('\n', " ")
}

/// Masks every run of nine or more digits (spaces and hyphens between them
/// allowed), which might be a SNILS quoted by the server in an error.
pub fn masked(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, with single spaces or hyphens between them.
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
                end = j;
            } else if matches!(chars[j], ' ' | '-')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        if digits >= 9 {
            out.push_str("***");
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n";

    fn reloads(result: &str) -> u64 {
        metrics::get()
            .directory_reloads
            .with_label_values(&["csv", result])
            .get()
    }

    fn write(path: &Path, text: &str) {
        // Write aside and rename, as an export job should.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    #[tokio::test]
    async fn a_changed_csv_is_reloaded_and_a_broken_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("accounts.csv");
        write(
            &path,
            &format!("{HEADER}ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n"),
        );
        let mut src = DirectorySource::csv(path.clone(), Duration::from_millis(100));
        assert_eq!(src.label(), "csv");
        let first = src.load_initial().await.expect("initial load");
        assert_eq!(first.accounts().len(), 1);
        let target = ArcSwap::from_pointee(first);
        assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

        // A new account appears.
        write(
            &path,
            &format!(
                "{HEADER}ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n\
                 petrov,Петров,Пётр,,,staff,,СШ №5,\n\
                 ,Без,Логина,,,parent,,СШ №5,\n"
            ),
        );
        assert_eq!(
            src.refresh(&target).await,
            Refresh::Loaded {
                accounts: 2,
                skipped: 1
            }
        );
        assert!(target.load().by_login("petrov").is_some());
        assert_eq!(target.load().skipped_rows()[0].row, 4);
        assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

        // A broken header: the old directory stays, the error is counted
        // once, not at every check.
        let errors = reloads("error");
        write(&path, "login;name\nx;y\n");
        let r = src.refresh(&target).await;
        assert!(
            matches!(&r, Refresh::Failed(why) if why.contains("missing")),
            "{r:?}"
        );
        assert!(reloads("error") > errors);
        assert_eq!(target.load().accounts().len(), 2);
        assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

        // The file gone: same.
        std::fs::remove_file(&path).expect("rm");
        assert!(matches!(src.refresh(&target).await, Refresh::Failed(_)));
        assert_eq!(src.refresh(&target).await, Refresh::Unchanged);
        assert_eq!(target.load().accounts().len(), 2);

        // Fixed: loaded again.
        write(
            &path,
            &format!("{HEADER}orlova,Орлова,Анна,,,parent,,СШ №5,\n"),
        );
        assert!(matches!(
            src.refresh(&target).await,
            Refresh::Loaded { accounts: 1, .. }
        ));
        assert!(target.load().by_login("orlova").is_some());
    }

    #[tokio::test]
    async fn the_refresher_task_picks_up_a_change_and_stops_with_its_gateway() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("accounts.csv");
        write(&path, &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\n"));
        let mut src = DirectorySource::csv(path.clone(), Duration::from_millis(100));
        let target = Arc::new(ArcSwap::from_pointee(
            src.load_initial().await.expect("initial"),
        ));
        let oks = reloads("ok");
        let task = src.spawn_refresher(target.clone());
        write(
            &path,
            &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\nb,Петров,Пётр,,,staff,,СШ №5,\n"),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while target.load().by_login("b").is_none() {
            assert!(tokio::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reloads("ok") > oks);
        drop(target);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops once the directory is unused")
            .expect("no panic");
    }

    #[test]
    fn start_loads_before_returning_and_refuses_without_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("accounts.csv");
        let e = DirectorySource::csv(path.clone(), Duration::from_secs(5))
            .start()
            .expect_err("no file");
        assert!(e.to_string().contains("accounts.csv"), "{e}");
        write(&path, &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\n"));
        let (target, thread) = DirectorySource::csv(path, Duration::from_millis(100))
            .start()
            .expect("loads");
        assert_eq!(target.load().accounts().len(), 1);
        drop(target);
        thread
            .join()
            .expect("the thread ends once the directory is unused");
    }

    #[tokio::test]
    async fn a_postgres_source_that_cannot_connect_fails_without_the_password() {
        // A closed port on loopback: connection refused at once.
        let port = esia_gate_dev::ports::free_port().expect("port");
        let pg = Postgres {
            url: Some(format!("postgresql://gate:s3cret@127.0.0.1:{port}/diary")),
            url_file: None,
            query: "SELECT 1;".into(),
            refresh_seconds: 1,
            timeout_seconds: 5,
            ca_file: None,
        };
        let mut src = DirectorySource::postgres(&pg).expect("source");
        assert_eq!(src.label(), "postgres");
        let e = src.load_initial().await.expect_err("refused");
        let shown = e.to_string();
        assert!(shown.contains("directory.postgres"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_missing_url_file_or_ca_file_names_its_key() {
        let pg = Postgres {
            url: None,
            url_file: Some(PathBuf::from("/nonexistent/url")),
            query: "SELECT 1".into(),
            refresh_seconds: 1,
            timeout_seconds: 1,
            ca_file: None,
        };
        let e = DirectorySource::postgres(&pg).err().expect("no url file");
        assert!(e.to_string().contains("directory.postgres.url_file"), "{e}");
        let pg = Postgres {
            url: Some("host=127.0.0.1 sslmode=require".into()),
            url_file: None,
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..pg
        };
        let e = DirectorySource::postgres(&pg).err().expect("no ca file");
        assert!(e.to_string().contains("directory.postgres.ca_file"), "{e}");
    }

    #[test]
    fn numbers_that_could_be_a_snils_are_masked_in_server_messages() {
        assert_eq!(
            masked("invalid input syntax for type bigint: \"112-233-445 95\""),
            "invalid input syntax for type bigint: \"***\""
        );
        assert_eq!(
            masked("11223344595 and 127.0.0.1:5432"),
            "*** and 127.0.0.1:5432"
        );
        assert_eq!(masked("row 12, column 3"), "row 12, column 3");
    }
}
