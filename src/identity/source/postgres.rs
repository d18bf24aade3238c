//! The PostgreSQL directory source: a read-only query run in a READ ONLY
//! transaction every `refresh_seconds`, over TLS when the URL says
//! `sslmode=require`; the URL may come from a file read at every refresh.
//! Server messages are masked so that no SNILS reaches a log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, SimpleQueryMessage, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::SourceError;
use crate::config::directory::check_url;
use crate::config::tls::Trust;
use crate::identity::directory::{COLUMNS, Directory, DirectoryBuilder, OPTIONAL_COLUMNS};

pub(super) enum Conn {
    Url(String),
    UrlFile(PathBuf),
}

pub(super) struct PostgresSource {
    pub(super) conn: Conn,
    pub(super) query: String,
    pub(super) every: Duration,
    pub(super) timeout: Duration,
    /// Used when the URL says `sslmode=require`.
    pub(super) tls: MakeRustlsConnect,
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

    pub(super) fn config(&self) -> Result<tokio_postgres::Config, SourceError> {
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

    pub(super) async fn fetch(&self) -> Result<Directory, SourceError> {
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
        let missing =
            crate::identity::directory::missing_columns(columns.iter().map(String::as_str));
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
                    .chain(OPTIONAL_COLUMNS.iter())
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

pub(super) fn tls_connector(trust: &Trust) -> Result<MakeRustlsConnect, SourceError> {
    let config = trust
        .client_config()
        .map_err(|message| SourceError::Setting {
            key: "directory.postgres.ca_file",
            message,
        })?;
    Ok(MakeRustlsConnect::new(config))
}

/// The TLS connector of the PostgreSQL store (`sslmode=require`): the web
/// roots and the CA certificates of `ca_file` (PEM), as every client
/// trusts with `[tls] roots = "webpki"`.
pub fn rustls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    let config = Trust::load(ca_file, crate::config::tls::Roots::Webpki)?.client_config()?;
    Ok(MakeRustlsConnect::new(config))
}

fn pg_error(e: tokio_postgres::Error) -> SourceError {
    SourceError::Postgres(masked(&chain(&e)))
}

/// An error with its causes, `: `-separated.
pub fn chain(e: &dyn std::error::Error) -> String {
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
