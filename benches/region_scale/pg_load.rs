//! The region's login history in PostgreSQL, the durable store the reports
//! read at region size: the gateway's own schema (made by its migrations),
//! then the rows streamed straight from the generator into `COPY ... FROM
//! STDIN` of `psql` (nothing written to disk first), then `ANALYZE`.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Instant;

use esia_gate_dev::postgres::PostgresServer;

use crate::region;

pub const SCHEMA: &str = "gate";

pub struct Loaded {
    pub history_rows: usize,
    pub last_rows: usize,
    pub seconds: f64,
    /// Tables and indexes of the schema on disk.
    pub size_mib: f64,
}

/// The `[store]` settings of a gateway whose durable records are `pg`'s.
pub fn settings(pg: &PostgresServer) -> esia_gate::config::store::StoreSettings {
    esia_gate::config::store::StoreSettings {
        durable: esia_gate::config::store::DurableBackend::Postgres,
        postgres: Some(esia_gate::config::store::StorePostgres {
            url: Some(pg.url()),
            url_file: None,
            ca_file: None,
            schema: SCHEMA.into(),
            connections: 4,
            timeout_ms: 30_000,
        }),
        ..Default::default()
    }
}

/// Runs `sql` (a `COPY ... FROM STDIN`) with `feed` writing its rows.
fn copy_in<T>(
    pg: &PostgresServer,
    sql: &str,
    feed: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<T>,
) -> T {
    let mut child = pg
        .psql_command()
        .args(["-c", sql])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    let stdin = child.stdin.take().expect("psql's stdin");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, stdin);
    let out = feed(&mut w).expect("feeding COPY");
    w.flush().expect("flush");
    drop(w);
    let done = child.wait_with_output().expect("psql");
    assert!(
        done.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// Creates the schema and loads `records` logins of `accounts` accounts.
pub async fn load(pg: &PostgresServer, accounts: usize, records: usize, now: i64) -> Loaded {
    let started = Instant::now();
    let store =
        esia_gate::store::PostgresStore::new(&settings(pg), std::path::Path::new("."), true)
            .expect("store");
    store.start().await.expect("migrations");
    drop(store);
    let latest = copy_in(
        pg,
        &format!("COPY {SCHEMA}.logins (login, method, at) FROM STDIN"),
        |w| region::write_history(w, accounts, records, now),
    );
    let last_rows = copy_in(
        pg,
        &format!("COPY {SCHEMA}.last_logins (login, last_esia, last_password) FROM STDIN"),
        |w| region::write_latest(w, &latest),
    );
    pg.psql(&format!(
        "ANALYZE {SCHEMA}.logins; ANALYZE {SCHEMA}.last_logins"
    ))
    .expect("analyze");
    let seconds = started.elapsed().as_secs_f64();
    let size: f64 = pg
        .psql(&format!(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{SCHEMA}' AND c.relkind = 'r'"
        ))
        .expect("size")
        .trim()
        .parse()
        .unwrap_or(0.0);
    Loaded {
        history_rows: records,
        last_rows,
        seconds,
        size_mib: size / 1_048_576.0,
    }
}
