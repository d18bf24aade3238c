//! Memory with many sessions. Sessions live only in the gateway's memory,
//! and logging in 100,000 times through the emulator would take most of an
//! hour here; so this benchmark binary, started again with
//! [`CONFIG_VAR`] set, is a gateway: it builds the gateway exactly as
//! `esia-gate run` does (same library, same store), puts N sessions into
//! its store through the store API, writes one session id to a file, and
//! serves. The parent checks that the seeded session opens a page, then
//! reads the process's RSS ([`rss`]). The same runner with 0 sessions gives
//! the baseline, so the difference is what the sessions cost. Shared by the
//! proxy-overhead and region-scale benchmarks (which includes this file).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Stack, free_port};
use crate::{procs, wrk};

use esia_gate::identity::{EsiaOid, LegacyLogin, Role};
use esia_gate::policy::trust::TrustLevel;
use esia_gate::store::{SessionRecord, random_id};

pub const CONFIG_VAR: &str = "ESIA_GATE_BENCH_SEEDED_CONFIG";
pub const SESSIONS_VAR: &str = "ESIA_GATE_BENCH_SEEDED_SESSIONS";
pub const ID_FILE_VAR: &str = "ESIA_GATE_BENCH_SEEDED_ID_FILE";

/// A parent with two children, as most diary users are.
fn record(i: usize, now: i64) -> SessionRecord {
    let parent = LegacyLogin(format!("parent.{i:06}"));
    SessionRecord {
        oid: EsiaOid(format!("{}", 1_100_000_000 + i)),
        trusted: !i.is_multiple_of(3),
        accounts: vec![parent.clone()],
        active: Some(parent),
        role: Some(Role::Parent),
        child: Some(LegacyLogin(format!("student.{i:06}a"))),
        display_name: "Иванова Мария Петровна".into(),
        created_at: now,
        children: vec![
            LegacyLogin(format!("student.{i:06}a")),
            LegacyLogin(format!("student.{i:06}b")),
        ],
        return_to: Some("/grades".into()),
        csrf: random_id(),
        unmatched_reason: None,
        last_seen: now,
        level: Some(if !i.is_multiple_of(3) {
            TrustLevel::Confirmed
        } else {
            TrustLevel::Standard
        }),
    }
}

/// Run as the seeded gateway when asked to (never returns then).
pub fn serve_if_asked() {
    let Ok(config) = std::env::var(CONFIG_VAR) else {
        return;
    };
    let n: usize = std::env::var(SESSIONS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    esia_gate::esia::gost::init_engine().expect("the GOST engine");
    let r = esia_gate::config::load(Path::new(&config)).expect("configuration");
    let _ = esia_gate::telemetry::logging::init(&r.settings.log.level, "text", None);
    let gateway = esia_gate::app::build_gateway(r.clone(), esia_gate::app::system_clock())
        .expect("the gateway");
    let store = gateway.store().clone();
    let now = chrono::Utc::now().timestamp();
    let ttl = Duration::from_secs(r.settings.session.ttl_seconds);
    let first = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(async move {
            let mut first = None;
            for i in 0..n {
                let id = random_id();
                store
                    .put_session(&id, &record(i, now), ttl)
                    .await
                    .expect("put a session");
                first.get_or_insert(id);
            }
            first
        });
    if let (Ok(file), Some(id)) = (std::env::var(ID_FILE_VAR), first) {
        std::fs::write(file, id).expect("id file");
    }
    esia_gate::app::run(r, gateway, None).expect("run");
    std::process::exit(0);
}

pub async fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{url} did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start this binary as a gateway with `n` seeded sessions beside `stack`
/// (its configuration on other ports, its own store file, and `replace`'s
/// (from, to) changes); the RSS after a page opened with a seeded session
/// and a short load (2 s, 32 connections, whose run is returned too).
pub async fn rss(
    stack: &Stack,
    wrk: &str,
    n: usize,
    replace: &[(String, String)],
) -> (f64, Option<wrk::Run>) {
    let (public, admin) = (free_port(), free_port());
    let dir = stack.dir.path();
    let text = std::fs::read_to_string(stack.config_path())
        .expect("config")
        .replace(
            &format!("public = \"127.0.0.1:{}\"", stack.ports.gateway),
            &format!("public = \"127.0.0.1:{public}\""),
        )
        .replace(
            &format!("admin = \"127.0.0.1:{}\"", stack.ports.admin),
            &format!("admin = \"127.0.0.1:{admin}\""),
        )
        .replace(
            "[listen]\n",
            &format!("[listen]\nupgrade_sock = \"seeded-{n}.sock\"\n"),
        );
    let text = replace
        .iter()
        .fold(text, |t, (from, to)| t.replace(from.as_str(), to));
    let config = dir.join(format!("seeded-{n}.toml"));
    std::fs::write(
        &config,
        format!("{text}\n[store]\npath = \"seeded-{n}.redb\"\n"),
    )
    .expect("config");
    let id_file = dir.join(format!("seeded-{n}.id"));
    let log = std::fs::File::create(dir.join(format!("seeded-{n}.log"))).expect("log");
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(CONFIG_VAR, &config)
        .env(SESSIONS_VAR, n.to_string())
        .env(ID_FILE_VAR, &id_file)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("the seeded gateway");
    let child = KillOnDrop(child);
    wait_for(&format!("http://127.0.0.1:{admin}/healthz")).await;
    let mut headers = vec![("Accept", "text/html".to_string())];
    if n > 0 {
        let id = std::fs::read_to_string(&id_file).expect("a seeded session id");
        headers.push(("Cookie", format!("esia_gate_session={id}")));
    }
    let url = format!("http://127.0.0.1:{public}/grades");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = http.get(&url);
    for (k, v) in &headers {
        req = req.header(*k, v);
    }
    let status = req.send().await.expect("seeded gateway").status();
    // With a seeded session the page opens; without one, ESIA is asked for.
    assert_eq!(status.as_u16(), if n > 0 { 200 } else { 302 }, "{url}");
    let run = (n > 0).then(|| wrk::run(wrk, &url, crate::WRK_THREADS, 32, 2.0, &headers));
    (procs::rss_mib(&[child.0.id()]), run)
}
