//! The Redis key layout at region scale, on a real three-master Redis
//! Cluster on loopback: durable records spread over every master (none
//! takes half the durable writes), and version 1 data (everything under
//! `{durable}`, written here the way the previous version wrote it) moves to
//! version 2 without losing a link, once — a second run changes nothing,
//! and two nodes migrating at once move every record exactly once.

use std::collections::HashMap;
use std::time::Duration;

use esia_gate::config::store::{StoreBackend, StoreSettings};
use esia_gate::identity::{EsiaOid, LegacyLogin};
use esia_gate::store::{
    AccountLink, DurableRecord, LinkKind, LinkSource, LoginMethod, LoginRecord, RedisStore, Store,
};
use esia_gate_dev::redis::{RedisCluster, command};
use redis::AsyncCommands as _;

const PREFIX: &str = "esia-gate:v1:";

async fn store(cluster: &RedisCluster, prefix: &str) -> RedisStore {
    RedisStore::open(
        &StoreSettings {
            backend: StoreBackend::Redis,
            url: Some(cluster.url()),
            key_prefix: prefix.into(),
            timeout_ms: 5000,
            ..StoreSettings::default()
        },
        std::path::Path::new("."),
    )
    .await
    .expect("open")
}

async fn cluster_conn(cluster: &RedisCluster) -> redis::cluster_async::ClusterConnection {
    let urls: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("redis://127.0.0.1:{}", n.port()))
        .collect();
    redis::cluster::ClusterClient::new(urls)
        .expect("client")
        .get_async_connection()
        .await
        .expect("cluster connection")
}

fn link(i: usize, kind: LinkKind) -> AccountLink {
    AccountLink {
        oid: EsiaOid(format!("{}", 1_000_000 + i)),
        login: LegacyLogin(match kind {
            LinkKind::Own => format!("user{i}"),
            LinkKind::Child => format!("child{}", i / 2),
        }),
        kind,
        source: LinkSource::Snils,
        created_at: 1_700_000_000 + i64::try_from(i).unwrap_or(0),
    }
}

/// The links of person `i` in the test data: an own account, and every
/// third person a child's account (shared by persons 2k and 2k+1).
fn links_of(i: usize) -> Vec<AccountLink> {
    let mut v = vec![link(i, LinkKind::Own)];
    if i.is_multiple_of(3) {
        v.push(link(i, LinkKind::Child));
    }
    v
}

fn login_rows(i: usize) -> Vec<LoginRecord> {
    (0..2)
        .map(|k| LoginRecord {
            login: LegacyLogin(format!("user{i}")),
            method: if k == 0 {
                LoginMethod::Esia
            } else {
                LoginMethod::Password
            },
            at: 1_700_000_000 + i64::try_from(i * 10 + k).unwrap_or(0),
        })
        .collect()
}

/// Write persons `0..n` the way version 1 did: one `{durable}` slot.
async fn write_v1(c: &mut redis::cluster_async::ClusterConnection, n: usize) {
    let k = |p: &str| format!("{PREFIX}{{durable}}:{p}");
    for i in 0..n {
        for l in links_of(i) {
            let kind = if l.kind == LinkKind::Own {
                "own"
            } else {
                "child"
            };
            let json = serde_json::to_string(&l).expect("json");
            let _: () = c
                .hset(
                    k(&format!("links:{}", l.oid.0)),
                    format!("{kind}:{}", l.login.0),
                    json,
                )
                .await
                .expect("hset");
            if l.kind == LinkKind::Own {
                let _: () = c
                    .hset(k("owners"), &l.login.0, &l.oid.0)
                    .await
                    .expect("owner");
            }
            let _: () = c.sadd(k("oids"), &l.oid.0).await.expect("oids");
        }
        for r in login_rows(i) {
            let json = serde_json::to_string(&r).expect("json");
            let _: () = c.rpush(k("history"), json).await.expect("history");
            let method = if r.method == LoginMethod::Esia {
                "last:esia"
            } else {
                "last:password"
            };
            let _: () = c.hset(k(method), &r.login.0, r.at).await.expect("last");
        }
        if i.is_multiple_of(10) {
            let f = esia_gate::store::MatchFailure {
                at: 1_700_000_000 + i64::try_from(i).unwrap_or(0),
                reason: "fio_differs".into(),
                oid: EsiaOid(format!("{}", 5_000_000 + i)),
                logins: vec![],
                display_name: None,
            };
            let member = format!("id{i} {}", serde_json::to_string(&f).expect("json"));
            let _: () = c.zadd(k("failures"), member, f.at).await.expect("failure");
        }
    }
}

fn sorted(records: Vec<DurableRecord>) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();
    v.sort();
    v
}

async fn assert_every_link_is_there(s: &RedisStore, n: usize) {
    for i in 0..n {
        let mut got = s
            .links_of(&link(i, LinkKind::Own).oid)
            .await
            .expect("links");
        got.sort_by(|a, b| a.login.0.cmp(&b.login.0));
        let mut want = links_of(i);
        want.sort_by(|a, b| a.login.0.cmp(&b.login.0));
        assert_eq!(got, want, "person {i}");
        assert_eq!(
            s.owner_of(&LegacyLogin(format!("user{i}")))
                .await
                .expect("owner"),
            Some(link(i, LinkKind::Own).oid)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_data_moves_to_version_2_once_without_losing_a_link() {
    let cluster = RedisCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = cluster_conn(&cluster).await;
    let n = 300;
    write_v1(&mut c, n).await;
    let s = store(&cluster, PREFIX).await;
    assert_eq!(s.layout().await.expect("layout"), 1);
    // Before the migration, the version 1 records are read as they are.
    assert_every_link_is_there(&s, 20).await;
    let before = sorted(s.export_durable().await.expect("export"));
    assert_eq!(before.len(), n + n.div_ceil(3) + 2 * n + n.div_ceil(10));

    let m = s
        .migrate_v1(Duration::from_secs(30))
        .await
        .expect("migrate");
    assert!(m.done && !m.busy, "{m:?}");
    assert_eq!(
        (m.links, m.conflicts, m.history, m.failures),
        (n + n.div_ceil(3), 0, 2 * n, n.div_ceil(10)),
        "{m:?}"
    );
    assert_eq!(m.last_logins, 2 * n, "{m:?}");
    assert_eq!(s.layout().await.expect("layout"), 2);
    let leftover: usize = c
        .exists(
            [
                "oids",
                "owners",
                "history",
                "last:esia",
                "last:password",
                "failures",
            ]
            .map(|p| format!("{PREFIX}{{durable}}:{p}"))
            .to_vec(),
        )
        .await
        .expect("exists");
    assert_eq!(leftover, 0, "no version 1 key left");
    assert_every_link_is_there(&s, n).await;
    for i in [0, 7, n - 1] {
        let l = LegacyLogin(format!("user{i}"));
        let last = s
            .last_logins_of(std::slice::from_ref(&l))
            .await
            .expect("last");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].last_esia, Some(login_rows(i)[0].at));
        assert_eq!(last[0].last_password, Some(login_rows(i)[1].at));
    }
    let after = sorted(s.export_durable().await.expect("export"));
    assert_eq!(after, before, "every record moved, none doubled");

    // Again: nothing to move, nothing changed.
    let again = s.migrate_v1(Duration::from_secs(30)).await.expect("again");
    assert!(again.done, "{again:?}");
    assert_eq!((again.links, again.history, again.failures), (0, 0, 0));
    assert_eq!(sorted(s.export_durable().await.expect("export")), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_migrating_at_once_move_every_record_exactly_once() {
    let cluster = RedisCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = cluster_conn(&cluster).await;
    let n = 200;
    write_v1(&mut c, n).await;
    let (a, b) = (store(&cluster, PREFIX).await, store(&cluster, PREFIX).await);
    let before = sorted(a.export_durable().await.expect("export"));
    let (ma, mb) = tokio::join!(
        a.migrate_v1(Duration::from_secs(60)),
        b.migrate_v1(Duration::from_secs(60))
    );
    let (ma, mb) = (ma.expect("a"), mb.expect("b"));
    assert!(ma.done && mb.done, "{ma:?} {mb:?}");
    assert_eq!(ma.links + mb.links, n + n.div_ceil(3), "{ma:?} {mb:?}");
    assert_eq!(ma.history + mb.history, 2 * n, "{ma:?} {mb:?}");
    assert_eq!(sorted(b.export_durable().await.expect("export")), before);
    assert_every_link_is_there(&b, n).await;
}

/// Calls of write commands per node since the last reset.
fn writes_by_node(cluster: &RedisCluster) -> Vec<u64> {
    const WRITES: [&str; 8] = [
        "zadd",
        "sadd",
        "hset",
        "hsetnx",
        "set",
        "evalsha",
        "eval",
        "zremrangebyscore",
    ];
    cluster
        .nodes
        .iter()
        .map(|n| {
            let info = command(n.port(), &["INFO", "commandstats"]).expect("info");
            info.lines()
                .filter_map(|l| {
                    let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                    WRITES.contains(&name).then_some(())?;
                    rest.split(',')
                        .find_map(|kv| kv.strip_prefix("calls="))?
                        .parse::<u64>()
                        .ok()
                })
                .sum()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_records_spread_over_every_master() {
    let cluster = RedisCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let s = store(&cluster, "esia-gate:v2test:").await;
    s.ping().await.expect("ping");
    for n in &cluster.nodes {
        command(n.port(), &["CONFIG", "RESETSTAT"]).expect("resetstat");
    }
    // Logins of today, as a gateway records them (a day's first login on a
    // node also notes the day, once).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    for i in 0..300 {
        s.put_link(&link(i, LinkKind::Own)).await.expect("link");
        for r in login_rows(i) {
            s.record_login(&LoginRecord {
                at: now - r.at % 600,
                ..r
            })
            .await
            .expect("login");
        }
    }
    let writes = writes_by_node(&cluster);
    eprintln!("durable writes per master: {writes:?}");
    let total: u64 = writes.iter().sum();
    assert!(total >= 300 * 5, "{writes:?}");
    for w in &writes {
        assert!(
            *w * 2 < total,
            "no master takes half the durable writes: {writes:?}"
        );
    }
    // And the keys themselves sit on every master.
    let mut keys_by_node: HashMap<u16, usize> = HashMap::new();
    for n in &cluster.nodes {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", n.port())).expect("c");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("node");
        let keys: Vec<String> = conn.keys("esia-gate:v2test:{[lo]:*").await.expect("keys");
        keys_by_node.insert(n.port(), keys.len());
    }
    assert!(
        keys_by_node.values().all(|k| *k >= 100),
        "person and account keys on every master: {keys_by_node:?}"
    );
    assert_eq!(
        s.last_logins().await.expect("all").len(),
        300,
        "the region-wide read finds every account across the shards"
    );
}
