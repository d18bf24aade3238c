//! What only the PostgreSQL store has to show (the shared suite covers the
//! records): migrations applied once by gateways starting together, a
//! newer schema refused, the indexes the calls rely on, an outage that
//! fails fast and heals by itself, and `esia-gate check` never writing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esia_gate_dev::postgres::PostgresServer;

use super::PostgresStore;
use crate::config::store::{DurableBackend, StorePostgres, StoreSettings};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{AccountLink, LinkKind, LinkSource, StoreError};

fn settings(pg: &PostgresServer, schema: &str) -> StoreSettings {
    StoreSettings {
        durable: DurableBackend::Postgres,
        postgres: Some(StorePostgres {
            url: Some(pg.url()),
            url_file: None,
            ca_file: None,
            schema: schema.into(),
            connections: 2,
            timeout_ms: 2000,
        }),
        ..StoreSettings::default()
    }
}

fn store(pg: &PostgresServer, schema: &str) -> PostgresStore {
    PostgresStore::new(&settings(pg, schema), Path::new("."), true).expect("store")
}

fn link(oid: &str, login: &str) -> AccountLink {
    AccountLink {
        oid: EsiaOid(oid.into()),
        login: LegacyLogin(login.into()),
        kind: LinkKind::Own,
        source: LinkSource::Snils,
        created_at: 1_700_000_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    let stores: Vec<Arc<PostgresStore>> = (0..6).map(|_| Arc::new(store(&pg, "gate"))).collect();
    let starts: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.start().await })
        })
        .collect();
    for s in starts {
        s.await.expect("task").expect("every start succeeds");
    }
    let versions = pg
        .psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM gate.schema_version")
        .expect("versions");
    let all: Vec<String> = super::schema::MIGRATIONS
        .iter()
        .map(|(v, _)| v.to_string())
        .collect();
    assert_eq!(versions.trim(), all.join(","), "each migration once");
    // A restart finds nothing to do; the records are usable.
    let again = store(&pg, "gate");
    again.start().await.expect("again");
    again.put_link(&link("1", "a")).await.expect("link");

    // A schema a newer esia-gate wrote: refused, naming what to do.
    pg.psql(&format!(
        "INSERT INTO gate.schema_version (version) VALUES ({})",
        super::schema::latest() + 1
    ))
    .expect("newer");
    let e = store(&pg, "gate").start().await.expect_err("newer schema");
    assert!(
        matches!(&e, StoreError::Corrupt(m) if m.contains("newer esia-gate")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_are_served_by_indexes() {
    let pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    store(&pg, "idx").start().await.expect("start");
    // With sequential scans priced out, each look-up shows the index it
    // would use on a region's tables.
    let plan = |sql: &str| {
        pg.psql_with(
            &[
                "-c",
                "SET enable_seqscan = off",
                "-c",
                &format!("EXPLAIN {sql}"),
            ],
            None,
        )
        .expect("explain")
    };
    for (sql, index) in [
        ("SELECT * FROM idx.links WHERE oid = '1'", "links_pkey"),
        (
            "SELECT oid FROM idx.links WHERE login = 'a' AND kind = 'own'",
            "links_one_owner",
        ),
        (
            "SELECT * FROM idx.last_logins WHERE login = ANY('{a,b}')",
            "last_logins_pkey",
        ),
        (
            "SELECT id FROM idx.logins WHERE at < 100 ORDER BY at LIMIT 10",
            "logins_by_time",
        ),
        (
            "DELETE FROM idx.logins WHERE login IN ('a')",
            "logins_by_login",
        ),
        (
            "SELECT * FROM idx.match_failures WHERE at >= 5 ORDER BY at, id",
            "match_failures_by_time",
        ),
        (
            "DELETE FROM idx.match_failures WHERE oid = '1'",
            "match_failures_by_oid",
        ),
    ] {
        let p = plan(sql);
        assert!(p.contains(index), "{sql}:\n{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_the_store_heals_by_itself() {
    let mut pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    let s = store(&pg, "gate");
    s.put_link(&link("1", "a")).await.expect("link");
    pg.stop();
    let e = s
        .owner_of(&LegacyLogin("a".into()))
        .await
        .expect_err("down");
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    // The next calls within a second do not try again: no waiting.
    let t = Instant::now();
    for _ in 0..5 {
        assert!(s.owner_of(&LegacyLogin("a".into())).await.is_err());
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(s.ping().await.is_err());
    pg.restart().expect("postgres again");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.owner_of(&LegacyLogin("a".into())).await {
            Ok(owner) => {
                assert_eq!(owner, Some(EsiaOid("1".into())));
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "not back: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_looks_without_writing() {
    let pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    let notes = crate::store::check_notes(&settings(&pg, "fresh"), Path::new("."))
        .await
        .expect("check");
    assert!(notes[0].contains("no tables yet"), "{notes:?}");
    let exists = pg
        .psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'fresh'")
        .expect("schemas");
    assert_eq!(exists.trim(), "0", "check created nothing");
    // A store opened for check does not migrate either.
    let checked = PostgresStore::new(&settings(&pg, "fresh"), Path::new("."), false).expect("new");
    assert!(checked.start().await.is_ok());
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'fresh'")
            .expect("schemas")
            .trim(),
        "0"
    );
    store(&pg, "fresh").start().await.expect("start");
    let notes = crate::store::check_notes(&settings(&pg, "fresh"), Path::new("."))
        .await
        .expect("check");
    assert!(notes[0].contains("is at version"), "{notes:?}");
    // Nothing answers on this port: a note, not an error.
    let mut gone = settings(&pg, "fresh");
    if let Some(p) = gone.postgres.as_mut() {
        p.url = Some(format!(
            "host=127.0.0.1 port={} user=postgres connect_timeout=2",
            esia_gate_dev::ports::free_port().expect("port")
        ));
    }
    let notes = crate::store::check_notes(&gone, Path::new("."))
        .await
        .expect("a note");
    assert!(notes[0].contains("does not answer"), "{notes:?}");
}
