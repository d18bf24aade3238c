//! Redis at region scale: ESIA logins per second through the whole login
//! (the emulator, as the proxy-overhead benchmark measures it) with one
//! Redis, a Redis Cluster of three masters, and one Redis beside
//! PostgreSQL for the durable records; and how the durable writes of many
//! different people spread over the cluster's masters (each master's
//! command count while only durable records are written, and its keys).

use std::time::Duration;

use esia_gate::identity::{EsiaOid, LegacyLogin};
use esia_gate::store::{
    AccountLink, LinkKind, LinkSource, LoginMethod, LoginRecord, MatchFailure, Store,
};
use esia_gate_dev::redis::{RedisCluster, command};

use crate::logins;
use crate::support::{Options, Stack, persons};

/// Logins per second of `rounds` rounds of `seconds` each, 8 clients.
pub async fn logins_per_second(store_section: String, rounds: usize, seconds: f64) -> Vec<f64> {
    let stack = Stack::start_with(Options {
        start_diary: false,
        config_extra: store_section,
        ..Options::default()
    })
    .await;
    let urls = logins::Urls {
        gateway: stack.public_url.clone(),
        esia: stack.esia_url.clone(),
    };
    // Warm up: connections made, scripts loaded.
    logins::loop_for(&urls, persons::SMIRNOV, 8, 1.0).await;
    let mut out = Vec::new();
    for _ in 0..rounds {
        let (n, secs) = logins::loop_for(&urls, persons::SMIRNOV, 8, seconds).await;
        out.push(n as f64 / secs);
    }
    out
}

fn info_number(port: u16, section: &str, field: &str) -> u64 {
    command(port, &["INFO", section])
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn keys_of(port: u16) -> u64 {
    command(port, &["DBSIZE"])
        .unwrap_or_default()
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(0)
}

pub struct Spread {
    pub people: usize,
    /// Per master: commands processed while writing, keys after.
    pub commands: Vec<u64>,
    pub keys: Vec<u64>,
}

impl Spread {
    pub fn largest_share(&self) -> f64 {
        let total: u64 = self.commands.iter().sum();
        let most = self.commands.iter().copied().max().unwrap_or(0);
        most as f64 / total.max(1) as f64
    }
}

/// `people` people, each with an own link, a child link, two logins and
/// (every tenth) a failed match, written through the store as the gateway
/// writes them, 16 at a time.
pub async fn durable_spread(people: usize) -> Spread {
    let cluster = RedisCluster::start().expect("a Redis Cluster");
    let settings = esia_gate::config::store::StoreSettings {
        backend: esia_gate::config::store::StoreBackend::Redis,
        url: Some(cluster.url()),
        timeout_ms: 5000,
        ..Default::default()
    };
    let store = std::sync::Arc::new(
        esia_gate::store::RedisStore::open(&settings, std::path::Path::new("."))
            .await
            .expect("redis store"),
    );
    store.ping().await.expect("the cluster answers");
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port()).collect();
    let before: Vec<u64> = ports
        .iter()
        .map(|p| info_number(*p, "stats", "total_commands_processed"))
        .collect();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < people {
                write_person(&*store, i).await;
                i += 16;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let after: Vec<u64> = ports
        .iter()
        .map(|p| info_number(*p, "stats", "total_commands_processed"))
        .collect();
    Spread {
        people,
        commands: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
        keys: ports.iter().map(|p| keys_of(*p)).collect(),
    }
}

async fn write_person(store: &dyn Store, i: usize) {
    let oid = EsiaOid(format!("{}", 1_000_000_000 + i));
    let own = LegacyLogin(format!("p{i:07}"));
    let child = LegacyLogin(format!("s{:07}", i / 2));
    for (login, kind) in [(&own, LinkKind::Own), (&child, LinkKind::Child)] {
        store
            .put_link(&AccountLink {
                oid: oid.clone(),
                login: login.clone(),
                kind,
                source: LinkSource::Snils,
                created_at: 1_700_000_000,
            })
            .await
            .expect("link");
    }
    for (method, at) in [(LoginMethod::Esia, 1), (LoginMethod::Password, 2)] {
        store
            .record_login(&LoginRecord {
                login: own.clone(),
                method,
                at: 1_700_000_000 + at,
            })
            .await
            .expect("login");
    }
    if i.is_multiple_of(10) {
        store
            .record_match_failure(&MatchFailure {
                at: 1_700_000_000,
                reason: "fio_differs".into(),
                oid,
                logins: vec![own],
                display_name: None,
            })
            .await
            .expect("failure");
    }
    tokio::time::sleep(Duration::ZERO).await;
}
