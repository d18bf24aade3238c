//! The Redis store against a real `redis-server`: a Redis that goes down
//! and comes back, and the password file. The shared store suite runs in
//! `store::suite`.

use std::path::Path;
use std::time::Duration;

use super::RedisStore;
use crate::config::store::StoreSettings;
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{AccountLink, LinkKind, Store, StoreError};

#[tokio::test]
async fn a_down_redis_gives_fast_errors_and_recovers() {
    let mut server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
    let settings = StoreSettings {
        backend: crate::config::store::StoreBackend::Redis,
        url: Some(server.url()),
        timeout_ms: 1000,
        ..Default::default()
    };
    let store = RedisStore::open(&settings, Path::new("."))
        .await
        .expect("open");
    store.ping().await.expect("ping");
    let link = AccountLink {
        oid: EsiaOid("1".into()),
        login: LegacyLogin("a".into()),
        kind: LinkKind::Own,
        source: super::super::LinkSource::Snils,
        created_at: 1,
    };
    store.put_link(&link).await.expect("link");
    server.kill();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(store.get_session("x").await.is_err());
    }
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    server.restart().expect("restart");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        store.links_of(&EsiaOid("1".into())).await.expect("links"),
        vec![link],
        "the AOF kept the link"
    );
}

#[tokio::test]
async fn a_password_file_is_used_for_auth() {
    let server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
    // Turn AUTH on with a plain connection.
    let open = StoreSettings {
        backend: crate::config::store::StoreBackend::Redis,
        url: Some(server.url()),
        ..Default::default()
    };
    let plain = RedisStore::open(&open, dir.path()).await.expect("open");
    plain
        .run("config", |i| async move {
            let mut c = redis::cmd("CONFIG");
            c.arg("SET").arg("requirepass").arg("s3cret");
            let () = i.query("config", &c).await?;
            Ok(())
        })
        .await
        .expect("requirepass");
    let without = RedisStore::open(&open, dir.path()).await.expect("open");
    assert!(without.ping().await.is_err());
    let with = RedisStore::open(
        &StoreSettings {
            password_file: Some("pw".into()),
            ..open.clone()
        },
        dir.path(),
    )
    .await
    .expect("open");
    with.ping().await.expect("ping with the password");
    let in_url = StoreSettings {
        url: Some(format!("redis://:s3cret@127.0.0.1:{}/", server.port())),
        ..open
    };
    RedisStore::open(&in_url, dir.path())
        .await
        .expect("open")
        .ping()
        .await
        .expect("ping with the password in the URL");
}

/// Everything stored under `prefix`, values included, as one text.
async fn everything(store: &RedisStore, prefix: &str) -> String {
    let prefix = prefix.to_string();
    store
        .run_for("dump", None, move |i| async move {
            let mut c = redis::cmd("KEYS");
            c.arg(format!("{prefix}*"));
            let keys: Vec<String> = i.query("dump", &c).await?;
            let mut out = String::new();
            for k in keys {
                let mut t = redis::cmd("TYPE");
                t.arg(&k);
                let kind: String = i.query("dump", &t).await?;
                let mut c = match kind.as_str() {
                    "set" => redis::cmd("SMEMBERS"),
                    "zset" => redis::cmd("ZRANGE"),
                    "hash" => redis::cmd("HGETALL"),
                    "list" => redis::cmd("LRANGE"),
                    _ => redis::cmd("GET"),
                };
                c.arg(&k);
                if kind == "zset" || kind == "list" {
                    c.arg(0).arg(-1);
                }
                let v: Vec<String> = match kind.as_str() {
                    "string" => vec![i.query::<String>("dump", &c).await?],
                    _ => i.query("dump", &c).await?,
                };
                out.push_str(&format!("{k} {}\n", v.join(" ")));
            }
            Ok(out)
        })
        .await
        .expect("dump")
}

#[tokio::test]
async fn forgetting_a_person_leaves_no_trace_of_them_in_any_key() {
    use crate::store::{LoginMethod, LoginRecord, MatchFailure};
    let server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
    let prefix = "forget:v1:";
    let store = RedisStore::open(
        &StoreSettings {
            backend: crate::config::store::StoreBackend::Redis,
            url: Some(server.url()),
            key_prefix: prefix.into(),
            ..Default::default()
        },
        Path::new("."),
    )
    .await
    .expect("open");
    let (oid, login) = (EsiaOid("7700001".into()), LegacyLogin("zabyt.o".into()));
    store
        .put_link(&AccountLink {
            oid: oid.clone(),
            login: login.clone(),
            kind: LinkKind::Own,
            source: super::super::LinkSource::Snils,
            created_at: 1,
        })
        .await
        .expect("link");
    for (day, method) in [(3, LoginMethod::Esia), (9, LoginMethod::Password)] {
        store
            .record_login(&LoginRecord {
                login: login.clone(),
                method,
                at: day * 86_400 + 5,
            })
            .await
            .expect("login");
    }
    store
        .record_match_failure(&MatchFailure {
            at: 4 * 86_400,
            reason: "fio_differs".into(),
            oid: oid.clone(),
            logins: vec![login.clone()],
            display_name: Some("Забытова Ольга".into()),
        })
        .await
        .expect("failure");
    let before = everything(&store, prefix).await;
    assert!(
        before.contains("zabyt.o") && before.contains("7700001"),
        "{before}"
    );
    assert_eq!(store.forget_person(&oid).await.expect("forget"), 5);
    let after = everything(&store, prefix).await;
    for trace in ["zabyt.o", "7700001", "Забытова"] {
        assert!(!after.contains(trace), "{trace} left in:\n{after}");
    }
}
