//! A region at scale (issue 14), in one run:
//!
//! - a synthetic region ([`region`]): 1,000,000 directory accounts as a
//!   CSV in the directory format, 10,000,000 login records;
//! - the directory loaded by a fresh process: time, RSS and peak;
//! - the login history bulk-loaded into PostgreSQL (`COPY`, the gateway's
//!   own schema), the durable store the reports read at this size;
//! - a gateway of the region (`esia-gate run`, `durable = "postgres"`):
//!   the region-wide adoption report (totals, and every account) and one
//!   school's, each timed with the gateway's peak memory while building it;
//! - ESIA logins per second with one Redis, with a Redis Cluster of three
//!   masters, and with one Redis beside PostgreSQL;
//! - the share of durable writes each master of the cluster takes;
//! - the RSS of a gateway holding 100,000 sessions with the region's
//!   directory (`benches/proxy_overhead/seeded.rs`), and proxied requests
//!   per second with the demo directory against the region's.
//!
//! Not a timed test: `scripts/bench` runs it; the report goes to
//! `target/bench/region-scale.md`, each figure beside the target.
//! `BENCH_SCALE` (default 1) scales the accounts, records and sessions
//! (0.1: a tenth); `BENCH_SECONDS` sets each login round (default 5);
//! `BENCH_ONLY` set to anything but `region_scale` skips it;
//! `BENCH_DATA` is where PostgreSQL's data and the generated files go
//! (default `/dev/shm` when it exists: the region's data would not fit a
//! small disk, and the reports read it warm anyway).

#[path = "../../tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../proxy_overhead/logins.rs"]
mod logins;
#[allow(dead_code)]
#[path = "../proxy_overhead/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../proxy_overhead/seeded.rs"]
mod seeded;
#[allow(dead_code)]
#[path = "../proxy_overhead/wrk.rs"]
mod wrk;

mod gateway;
mod pg_load;
mod redis_scale;
mod region;
mod report;

use std::path::PathBuf;
use std::time::Instant;

use esia_gate_dev::postgres::PostgresServer;
use support::{Options, RedisServer, Stack, redis_store_section};

/// The gateway binary's allocator: the seeded gateway (this process) must
/// allocate as `esia-gate run` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const WRK_THREADS: usize = 2;
const ACCOUNTS: f64 = 1_000_000.0;
const RECORDS: f64 = 10_000_000.0;
const SESSIONS: f64 = 100_000.0;
const ROUNDS: usize = 3;
/// People written to the cluster for the spread of durable writes.
const SPREAD_PEOPLE: usize = 10_000;

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data_dir() -> PathBuf {
    match std::env::var_os("BENCH_DATA") {
        Some(d) => PathBuf::from(d),
        None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    }
}

fn main() {
    seeded::serve_if_asked();
    gateway::load_directory_if_asked();
    // `BENCH_ONLY` naming another benchmark's part (`proxy`, `hold`): not us.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v != "region_scale") {
        return;
    }
    let started = Instant::now();
    let scale = env_f64("BENCH_SCALE", 1.0).clamp(0.0001, 10.0);
    let seconds = env_f64("BENCH_SECONDS", 5.0);
    let accounts = ((ACCOUNTS * scale) as usize).max(1000);
    let records = (RECORDS * scale) as usize;
    let sessions = ((SESSIONS * scale) as usize).max(100);
    let wrk = wrk::binary().expect("wrk is not installed (scripts/bench installs it)");
    let data = tempfile::Builder::new()
        .prefix("esia-gate-region-")
        .tempdir_in(data_dir())
        .expect("a data directory");
    let mut r = report::Report {
        scale,
        accounts,
        records,
        sessions,
        seconds,
        data_dir: data_dir().display().to_string(),
        ..report::Report::default()
    };

    let t = Instant::now();
    let csv = data.path().join("region.csv");
    r.schools = region::write_directory(&csv, accounts).expect("the directory CSV");
    r.generate_s = t.elapsed().as_secs_f64();
    eprintln!(
        "bench: {accounts} accounts written in {:.1} s",
        r.generate_s
    );
    let d = gateway::measure_directory(&csv);
    eprintln!(
        "bench: directory loaded in {:.2} s, RSS {:.0} MiB, peak {:.0} MiB",
        d.seconds, d.rss_mib, d.peak_mib
    );
    r.directory = Some(d);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let pg = PostgresServer::start_in(
            data.path(),
            &[
                "shared_buffers=256MB",
                "maintenance_work_mem=256MB",
                "max_wal_size=4GB",
            ],
        )
        .expect("PostgreSQL");
        let now = chrono::Utc::now().timestamp();
        let loaded = pg_load::load(&pg, accounts, records, now).await;
        eprintln!(
            "bench: {} history rows, {} last-login rows in PostgreSQL in {:.0} s ({:.0} MiB)",
            loaded.history_rows, loaded.last_rows, loaded.seconds, loaded.size_mib
        );
        r.loaded = Some(loaded);

        let stack = Stack::start_with(Options::default()).await;
        let store = format!(
            "[store]\npath = \"region.redb\"\ndurable = \"postgres\"\n[store.postgres]\nurl = \"{}\"\nschema = \"{}\"\ntimeout_ms = 30000\n",
            pg.url(),
            pg_load::SCHEMA
        );
        let config = gateway::config(&stack, "region", &csv, &store);
        let school = percent_encoding::utf8_percent_encode(
            &region::school(r.schools / 2),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let asked = [
            ("region-wide adoption totals", "/reports/adoption.csv?table=totals".to_string()),
            ("region-wide adoption, every account", "/reports/adoption.csv".to_string()),
            ("one school's adoption, every account", format!("/reports/adoption.csv?school={school}")),
            ("one school's adoption totals", format!("/reports/adoption.csv?school={school}&table=totals")),
        ];
        // Each report from a gateway just started: its first round says
        // what building it takes in memory (the allocator keeps what it
        // got, so later rounds start high); all rounds say how long.
        for (what, path) in asked {
            let g = gateway::start(&config).await;
            if r.gateway_start.is_none() {
                let rss = procs::rss_mib(&[g.child.0.id()]);
                eprintln!("bench: the region's gateway answered in {:.1} s, {rss:.0} MiB", g.started_s);
                r.gateway_start = Some((g.started_s, rss));
            }
            let mut rounds = Vec::new();
            for _ in 0..ROUNDS {
                let f = gateway::fetch(&g, &path).await;
                eprintln!(
                    "bench: {what}: {:.3} s, {} rows, peak {:.0} MiB (before {:.0})",
                    f.seconds, f.rows, f.peak_mib, f.before_mib
                );
                rounds.push(f);
            }
            r.reports.push((what, path, rounds));
        }

        // Sessions and proxied requests: the demo directory, then the
        // region's (with its login index, a request's role is a look-up).
        let csv_line = (
            format!("csv = \"{}\"", demo_csv(&stack)),
            format!("csv = \"{}\"", csv.display()),
        );
        let (demo_none, _) = seeded::rss(&stack, &wrk, 0, &[]).await;
        let (demo_many, demo_run) = seeded::rss(&stack, &wrk, sessions, &[]).await;
        let (none, _) = seeded::rss(&stack, &wrk, 0, std::slice::from_ref(&csv_line)).await;
        let (many, region_run) =
            seeded::rss(&stack, &wrk, sessions, std::slice::from_ref(&csv_line)).await;
        r.seeded = Some(((demo_none, demo_many), (none, many)));
        for (what, run) in [("demo (6 accounts)", demo_run), ("the region's", region_run)] {
            if let Some(run) = run {
                r.proxied.push((what, run.per_second, run.p99_ms));
            }
        }
        eprintln!(
            "bench: sessions: demo directory {demo_none:.0} / {demo_many:.0} MiB, \
             region's {none:.0} / {many:.0} MiB without / with {sessions}"
        );
        drop(stack);

        let redis = RedisServer::start().expect("redis-server");
        r.logins.push((
            "one Redis",
            redis_scale::logins_per_second(redis_store_section(&redis, 2000), ROUNDS, seconds).await,
        ));
        let cluster = esia_gate_dev::redis::RedisCluster::start().expect("a Redis Cluster");
        r.logins.push((
            "Redis Cluster, three masters",
            redis_scale::logins_per_second(
                format!(
                    "[store]\nbackend = \"redis\"\nurl = \"{}\"\ntimeout_ms = 1000\n",
                    cluster.url()
                ),
                ROUNDS,
                seconds,
            )
            .await,
        ));
        drop(cluster);
        r.logins.push((
            "one Redis + PostgreSQL (durable)",
            redis_scale::logins_per_second(
                format!(
                    "{}durable = \"postgres\"\n[store.postgres]\nurl = \"{}\"\nschema = \"logins\"\n",
                    redis_store_section(&redis, 2000),
                    pg.url()
                ),
                ROUNDS,
                seconds,
            )
            .await,
        ));
        for (what, l) in &r.logins {
            eprintln!("bench: logins/s, {what}: {l:?}");
        }
        drop(redis);
        let spread = redis_scale::durable_spread(SPREAD_PEOPLE).await;
        eprintln!(
            "bench: durable writes per master: {:?}, keys {:?}",
            spread.commands, spread.keys
        );
        r.spread = Some(spread);
    });
    r.total_s = started.elapsed().as_secs_f64();
    let text = r.markdown();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("bench dir");
    std::fs::write(out.join("region-scale.md"), &text).expect("report");
    println!("{text}");
}

/// The stack's own directory file, as its configuration names it.
fn demo_csv(stack: &Stack) -> String {
    std::fs::read_to_string(stack.config_path())
        .expect("config")
        .lines()
        .find_map(|l| l.strip_prefix("csv = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .expect("the stack's directory")
}
