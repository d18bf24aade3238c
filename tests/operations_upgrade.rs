//! A new gateway binary replaces the running one without losing a request:
//! the new process starts with `run --upgrade`, the old one gets SIGQUIT,
//! the listening sockets pass between them through the upgrade socket, and
//! the old one finishes what it has in flight. By hand, or as operators do
//! it: `esia-gate-upgrade PID` sends SIGUSR2 and the old process starts
//! its successor itself (under systemd: inside the service). A parent reading grades all
//! along sees only 200s. Sessions live in Redis (the embedded store's file
//! can be open in one process only, so an upgrade needs a shared store).

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{Browser, Options, RedisServer, Stack, persons, redis_store_section};

/// The new process, killed at the end of the test whatever happens.
struct NewGateway {
    pid: u32,
    /// When the test started it itself (not through the script).
    child: Option<Child>,
}

impl Drop for NewGateway {
    fn drop(&mut self) {
        match &mut self.child {
            Some(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            None => {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status();
            }
        }
    }
}

/// Who performs the hand-over.
#[derive(Clone, Copy)]
enum Handover {
    /// The test: start `run --upgrade`, wait for the upgrade socket,
    /// SIGQUIT the old process.
    ByHand,
    /// `config/esia-gate-upgrade PID`: SIGUSR2, and the old process does
    /// the rest.
    Script,
}

/// Reap a child (the old gateway, the script) and return its status.
async fn wait_exit(child: &mut Child, log: &std::path::Path) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not exit:\n{}",
            child.id(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    after_handover: AtomicU64,
    retried: AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
}

/// GET `/grades` until told to stop; every answer must be a 200 from the
/// diary.
async fn read_grades(
    keep_alive: bool,
    http: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
    old_gone: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    while !stop.load(Ordering::Relaxed) {
        let send = || http.get(&url).header("Sec-Fetch-Mode", "navigate").send();
        let mut result = send().await;
        // Pingora closes the connections idle in `read_request` when the
        // old process stops (keep-alive ones between requests, and one just
        // accepted whose request has not arrived yet). A request racing
        // that close fails before any answer — as an empty reply or a reset
        // — and a browser sends such an idempotent request again on a new
        // connection (RFC 9110 §9.2.2); this client does too, once, and the
        // retries are counted.
        if let Err(e) = &result
            && e.is_request()
            && ["IncompleteMessage", "ConnectionReset"]
                .iter()
                .any(|k| format!("{e:?}").contains(k))
        {
            tally.retried.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "sent again (keep-alive: {keep_alive}, old process gone: {}): {e:?}",
                old_gone.load(Ordering::Relaxed)
            );
            result = send().await;
        }
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
    upgrade_story(Handover::ByHand).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_upgrade_script_loses_no_request_either() {
    upgrade_story(Handover::Script).await;
}

async fn upgrade_story(how: Handover) {
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
                keep_alive,
                client(&jar, keep_alive),
                stack.url("/grades"),
                stop.clone(),
                old_gone.clone(),
                tally.clone(),
            ))
        })
        .collect();
    wait_until("the readers work", || tally.ok.load(Ordering::Relaxed) > 0).await;

    // The new process waits on the upgrade socket for the listeners. It
    // runs as systemd would run it (Type=notify), so that it says when it
    // is ready and that it is now the service's main process.
    let notify_path = stack.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let config = stack.dir.path().join("gateway.toml");
    let new_log = stack.dir.path().join("gateway-new.log");
    let log_file = std::fs::File::create(&new_log).expect("log");
    let sock = stack.dir.path().join("esia-gate-upgrade.sock");
    let old_pid = stack.gateway.id().to_string();
    let (new, status) = match how {
        Handover::ByHand => {
            let child = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
                .args(["run", "--upgrade", "--config"])
                .arg(&config)
                .env("RUST_LOG", "info")
                .env("NOTIFY_SOCKET", &notify_path)
                .stdout(log_file.try_clone().expect("log"))
                .stderr(log_file)
                .stdin(Stdio::null())
                .spawn()
                .expect("start the new gateway");
            let new = NewGateway {
                pid: child.id(),
                child: Some(child),
            };
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
            let quit = Command::new("kill")
                .args(["-QUIT", &old_pid])
                .status()
                .expect("kill");
            assert!(quit.success());
            let status = wait_exit(&mut stack.gateway, &stack.log).await;
            (new, status)
        }
        Handover::Script => {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config")
                .join("esia-gate-upgrade");
            let mut upgrade = Command::new(&script)
                .arg(&old_pid)
                .env("ESIA_GATE_BIN", env!("CARGO_BIN_EXE_esia-gate"))
                .stdout(log_file.try_clone().expect("log"))
                .stderr(log_file)
                .stdin(Stdio::null())
                .spawn()
                .expect("run config/esia-gate-upgrade");
            let status = wait_exit(&mut stack.gateway, &stack.log).await;
            let script_done = wait_exit(&mut upgrade, &new_log).await;
            let out = std::fs::read_to_string(&new_log).unwrap_or_default();
            assert!(script_done.success(), "esia-gate-upgrade failed:\n{out}");
            let pid = out
                .lines()
                .find_map(|l| l.trim().parse::<u32>().ok())
                .unwrap_or_else(|| panic!("the script prints the new pid:\n{out}"));
            (NewGateway { pid, child: None }, status)
        }
    };
    old_gone.store(true, Ordering::Relaxed);
    assert!(status.success(), "the old process exited with {status}");

    // The new process alone serves for a while (however slow the machine).
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_until("the new process answers", || {
        tally.after_handover.load(Ordering::Relaxed) > 10
    })
    .await;
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
        failed,
        0,
        "{failed} of {} requests failed: {errors:?}",
        ok + failed
    );
    let retried = tally.retried.load(Ordering::Relaxed);
    eprintln!(
        "{ok} requests answered, {after} of them after the old process exited, {retried} sent again"
    );
    assert!(
        retried <= 3,
        "{retried} requests met a closing connection: more than the hand-over's race"
    );
    assert!(ok > 100, "{ok} requests");
    assert!(after > 10, "the new process answered {after} requests");

    let new_text = match how {
        Handover::ByHand => {
            let mut buf = [0u8; 256];
            let n = notify.recv(&mut buf).expect("a notification to systemd");
            let message = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(message.contains("READY=1\n"), "{message}");
            assert!(
                message.contains(&format!("MAINPID={}\n", new.pid)),
                "{message}"
            );
            std::fs::read_to_string(&new_log).unwrap_or_default()
        }
        // The new process is the old one's child: it logs where the old
        // one did (under systemd it inherits NOTIFY_SOCKET the same way).
        Handover::Script => stack.log_text(),
    };
    assert!(
        new_text
            .lines()
            .any(|l| l.contains("esia-gate listening") && l.contains(&format!("pid={}", new.pid))),
        "{new_text}"
    );
    let healthz = reqwest::get(stack.admin_url("/healthz"))
        .await
        .expect("the admin listener was handed over too");
    assert_eq!(healthz.status(), 200);
    assert!(
        !stack.log_text().contains("panicked"),
        "{}",
        stack.log_text()
    );
    assert!(!new_text.contains("panicked"), "{new_text}");
    drop(new);
}

/// Polls `ok` every 50 ms for up to 30 s; a slow machine is waited for, a
/// broken one fails with `what`.
async fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
