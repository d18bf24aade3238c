//! Memory with many sessions. Sessions live only in the gateway's memory,
//! and logging in 100,000 times through the emulator would take most of an
//! hour here; so this benchmark binary, started again with
//! [`CONFIG_VAR`] set, is a gateway: it builds the gateway exactly as
//! `esia-gate run` does (same library, same store), puts N sessions into
//! its store through the store API, writes one session id to a file, and
//! serves. The parent checks that the seeded session opens a page, then
//! reads the process's RSS. The same runner with 0 sessions gives the
//! baseline, so the difference is what the sessions cost.

use std::path::Path;
use std::time::Duration;

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
