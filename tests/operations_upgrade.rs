//! A new gateway binary replaces the running one without losing a request:
//! the new process starts with `run --upgrade`, the old one gets SIGQUIT,
//! the listening sockets pass between them through the upgrade socket, and
//! the old one finishes what it has in flight. A parent reading grades all
//! along sees only 200s. Sessions live in Redis (the embedded store's file
//! can be open in one process only, so an upgrade needs a shared store).

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{Browser, Options, RedisServer, Stack, persons, redis_store_section};

/// The new process, killed at the end of the test whatever happens.
struct NewGateway(Child);

impl Drop for NewGateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    after_handover: AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
}

/// GET `/grades` until told to stop; every answer must be a 200 from the
/// diary.
async fn read_grades(
    http: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
    old_gone: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    while !stop.load(Ordering::Relaxed) {
        let result = http
            .get(&url)
            .header("Sec-Fetch-Mode", "navigate")
            .send()
            .await;
        let problem = match result {
            Ok(r) if r.status() == 200 => match r.text().await {
                Ok(body) if body.contains("smirnov.d") => None,
                Ok(body) => Some(format!("unexpected page: {body:.200}")),
                Err(e) => Some(format!("body: {e}")),
            },
            Ok(r) => Some(format!("status {}", r.status())),
            Err(e) => Some(format!("{e:?}")),
        };
        match problem {
            None => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                if old_gone.load(Ordering::Relaxed) {
                    tally.after_handover.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(p) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut e) = tally.errors.lock() {
                    e.push(p);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn client(jar: &Arc<reqwest::cookie::Jar>, keep_alive: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    if !keep_alive {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_upgrade_loses_no_request() {
    let redis = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut stack = Stack::start_with(Options {
        config_extra: redis_store_section(&redis, 2000),
        ..Options::default()
    })
    .await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let page = Browser {
        http: client(&jar, true),
    }
    .login(&stack, "/grades", persons::SMIRNOV)
    .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Two readers: one opening a connection per request, one keeping its
    // connection alive across requests.
    let stop = Arc::new(AtomicBool::new(false));
    let old_gone = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let readers: Vec<_> = [false, true]
        .into_iter()
        .map(|keep_alive| {
            tokio::spawn(read_grades(
                client(&jar, keep_alive),
                stack.url("/grades"),
                stop.clone(),
                old_gone.clone(),
                tally.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tally.ok.load(Ordering::Relaxed) > 0, "the readers work");

    // The new process waits on the upgrade socket for the listeners.
    let config = stack.dir.path().join("gateway.toml");
    let new_log = stack.dir.path().join("gateway-new.log");
    let log_file = std::fs::File::create(&new_log).expect("log");
    let new = NewGateway(
        Command::new(env!("CARGO_BIN_EXE_esia-gate"))
            .args(["run", "--upgrade", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the new gateway"),
    );
    let sock = stack.dir.path().join("esia-gate-upgrade.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the new process never opened {}:\n{}",
            sock.display(),
            std::fs::read_to_string(&new_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // SIGQUIT: the old process hands its listeners over and drains.
    let old_pid = stack.gateway.id().to_string();
    let quit = Command::new("kill")
        .args(["-QUIT", &old_pid])
        .status()
        .expect("kill");
    assert!(quit.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = stack.gateway.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the old process did not exit:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    old_gone.store(true, Ordering::Relaxed);
    assert!(status.success(), "the old process exited with {status}");

    // The new process alone serves for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
    let (ok, failed, after) = (
        tally.ok.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.after_handover.load(Ordering::Relaxed),
    );
    let errors = tally.errors.lock().map(|e| e.clone()).unwrap_or_default();
    assert_eq!(
        failed, 0,
        "{failed} of {} requests failed: {errors:?}",
        ok + failed
    );
    assert!(ok > 100, "{ok} requests");
    assert!(after > 10, "the new process answered {after} requests");

    let new_text = std::fs::read_to_string(&new_log).unwrap_or_default();
    assert!(new_text.contains("esia-gate listening"), "{new_text}");
    let healthz = reqwest::get(stack.admin_url("/healthz"))
        .await
        .expect("the admin listener was handed over too");
    assert_eq!(healthz.status(), 200);
    assert!(!stack.log_text().contains("panicked"), "{}", stack.log_text());
    assert!(!new_text.contains("panicked"), "{new_text}");
    drop(new);
}
