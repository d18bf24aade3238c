//! A gateway of the region: the real binary with the stack's configuration
//! on other ports, the region's directory and its durable records in
//! PostgreSQL; the time until it answers, its memory, and the reports
//! fetched from its admin listener with the peak memory while it builds
//! them (the kernel's high-water mark, reset before each report).
//!
//! And the directory load alone, in a process of its own (this binary
//! again, with [`DIRECTORY_VAR`] set): the load time and the memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procs;
use crate::seeded::KillOnDrop;
use crate::support::{Stack, free_port};

pub const DIRECTORY_VAR: &str = "ESIA_GATE_BENCH_DIRECTORY";

/// In the child: load the directory, print `seconds rss_mib hwm_mib
/// accounts skipped lookup_us scan_us`, exit. The last two: one account
/// found by login through the directory's index, and the same account
/// found by a scan of every account (as `by_login` did before the index),
/// each the mean of a few hundred look-ups of accounts spread over the
/// directory.
pub fn load_directory_if_asked() {
    let Ok(path) = std::env::var(DIRECTORY_VAR) else {
        return;
    };
    let started = Instant::now();
    let (dir, problems) = esia_gate::identity::Directory::load_csv(
        Path::new(&path),
        esia_gate::config::directory::CsvEncoding::Detect,
    )
    .expect("the directory");
    let seconds = started.elapsed().as_secs_f64();
    let me = std::process::id();
    let (rss, hwm) = (procs::rss_mib(&[me]), hwm_mib(me));
    let n = dir.accounts().len().max(1);
    let wanted: Vec<String> = (0..200)
        .map(|k| dir.accounts()[(k * 7919) % n].login.0.clone())
        .collect();
    let t = Instant::now();
    let found = wanted.iter().filter(|l| dir.by_login(l).is_some()).count();
    let lookup_us = t.elapsed().as_secs_f64() * 1e6 / wanted.len() as f64;
    let t = Instant::now();
    let scanned = wanted
        .iter()
        .filter(|l| dir.accounts().iter().any(|a| a.login.0 == **l))
        .count();
    let scan_us = t.elapsed().as_secs_f64() * 1e6 / wanted.len() as f64;
    assert_eq!(found, scanned);
    println!(
        "{seconds} {rss} {hwm} {} {} {lookup_us} {scan_us}",
        dir.accounts().len(),
        problems.len()
    );
    std::process::exit(0);
}

pub struct DirectoryLoad {
    pub seconds: f64,
    pub rss_mib: f64,
    pub peak_mib: f64,
    pub accounts: usize,
    pub skipped: usize,
    /// One account by login: through the index, and by a scan.
    pub lookup_us: f64,
    pub scan_us: f64,
}

/// The directory loaded by a fresh process.
pub fn measure_directory(csv: &Path) -> DirectoryLoad {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(DIRECTORY_VAR, csv)
        .output()
        .expect("the directory child");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(
        f.len(),
        7,
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    DirectoryLoad {
        seconds: f[0],
        rss_mib: f[1],
        peak_mib: f[2],
        accounts: f[3] as usize,
        skipped: f[4] as usize,
        lookup_us: f[5],
        scan_us: f[6],
    }
}

/// The peak resident memory of `pid` since start or the last [`reset_peak`]
/// (`VmHWM`), MiB.
pub fn hwm_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Resets `VmHWM` to the current RSS (Linux: `5` into `clear_refs`).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

pub struct Gateway {
    pub child: KillOnDrop,
    pub admin: u16,
    pub started_s: f64,
}

/// `stack`'s configuration on new ports with `csv` as the directory and
/// `store` appended.
pub fn config(stack: &Stack, name: &str, csv: &Path, store: &str) -> PathBuf {
    let (public, admin) = (free_port(), free_port());
    let text = std::fs::read_to_string(stack.config_path()).expect("config");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("csv = ") {
                format!("csv = \"{}\"\n", csv.display())
            } else if l.starts_with("public = ") {
                format!("public = \"127.0.0.1:{public}\"\n")
            } else if l.starts_with("admin = ") {
                format!("admin = \"127.0.0.1:{admin}\"\n")
            } else if l == "[listen]" {
                format!("[listen]\nupgrade_sock = \"{name}.sock\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = stack.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, format!("{text}\n{store}\n")).expect("config");
    path
}

/// The admin port written into a configuration by [`config`].
fn admin_port(config: &Path) -> u16 {
    let text = std::fs::read_to_string(config).expect("config");
    text.lines()
        .find_map(|l| l.strip_prefix("admin = \"127.0.0.1:"))
        .and_then(|p| p.trim_end_matches('"').parse().ok())
        .expect("an admin port")
}

/// Starts `esia-gate run` on `config`; returns once `/healthz` answers.
pub async fn start(config: &Path) -> Gateway {
    let admin = admin_port(config);
    let log = std::fs::File::create(config.with_extension("log")).expect("log");
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("esia-gate");
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(300);
    let url = format!("http://127.0.0.1:{admin}/healthz");
    while !reqwest::get(&url)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the region's gateway did not start: {}",
            std::fs::read_to_string(config.with_extension("log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Gateway {
        child,
        admin,
        started_s: started.elapsed().as_secs_f64(),
    }
}

/// One report fetched whole.
pub struct Fetched {
    pub seconds: f64,
    pub bytes: usize,
    pub rows: usize,
    /// The gateway's peak RSS while answering, and its RSS before.
    pub peak_mib: f64,
    pub before_mib: f64,
}

pub async fn fetch(g: &Gateway, path_and_query: &str) -> Fetched {
    let pid = g.child.0.id();
    let before_mib = procs::rss_mib(&[pid]);
    assert!(reset_peak(pid), "cannot reset the peak RSS of {pid}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let started = Instant::now();
    let r = http
        .get(format!("http://127.0.0.1:{}{path_and_query}", g.admin))
        .send()
        .await
        .expect("report");
    let status = r.status();
    let body = r.bytes().await.expect("report body");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        status.is_success(),
        "{path_and_query}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    Fetched {
        seconds,
        bytes: body.len(),
        rows: body
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_sub(1),
        peak_mib: hwm_mib(pid),
        before_mib,
    }
}
