//! `systemctl reload esia-gate` is SIGHUP: the running gateway reads its
//! configuration again and puts the new policy, keys and directory in
//! force without a restart and without failing a request; a configuration
//! with any error changes nothing, says why in the log and counts it, and
//! the gateway keeps serving with what it had.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{Browser, Options, Stack, counter, persons};

const OK: &str = "esia_gate_config_reloads_total{result=\"ok\"}";
const REFUSED: &str = "esia_gate_config_reloads_total{result=\"error\"}";
const ACCOUNTS: &str = "esia_gate_directory_accounts";

/// A stack whose policy file and directory change only when told: their
/// own timers are an hour, so what changes below is SIGHUP's doing.
async fn stack() -> (Stack, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/policies/voronezh-2017.toml"),
        &policy,
    )
    .expect("policy");
    let stack = Stack::start_with(Options {
        config_extra: format!(
            "[policy]\nfile = \"{}\"\ncheck_seconds = 3600\n",
            policy.display()
        ),
        config_replace: vec![(
            "[directory]\n".into(),
            "[directory]\ncsv_reload_seconds = 3600\n".into(),
        )],
        ..Options::default()
    })
    .await;
    // The policy's folder lives as long as the stack's.
    let kept = stack.dir.path().join("policy.toml");
    std::fs::copy(&policy, &kept).expect("policy");
    let config = stack.config_path();
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(&policy.display().to_string(), &kept.display().to_string()),
    )
    .expect("config");
    drop(dir);
    hup(&stack);
    stack.wait_for_counter(OK, 1.0).await;
    (stack, kept)
}

fn hup(stack: &Stack) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &stack.gateway.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

async fn policy_name(stack: &Stack) -> String {
    let ready: serde_json::Value = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    ready["policy"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn jwks_kid(stack: &Stack) -> String {
    let jwks: serde_json::Value = reqwest::get(stack.url("/esia-gate/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    jwks["keys"][0]["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn accounts_file(stack: &Stack) -> PathBuf {
    stack.dir.path().join("data/accounts.csv")
}

fn add_account(stack: &Stack, login: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(accounts_file(stack))
        .expect("accounts");
    writeln!(f, "{login},Новиков,Пётр,Ильич,,staff,,Школа,,").expect("row");
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "`{from}` in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

/// A parent reading grades over and over, counting what failed.
struct Reader {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

async fn reader(stack: &Stack) -> Reader {
    let b = Browser::new();
    let page = b.login(stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (stop, ok) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let url = stack.url("/grades");
    let (s, o) = (stop.clone(), ok.clone());
    let task = tokio::spawn(async move {
        let mut failed = Vec::new();
        for _ in 0..100_000 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            match b.http.get(&url).send().await {
                Ok(r) if r.status() == 200 => {
                    o.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => failed.push(r.status().to_string()),
                Err(e) => failed.push(e.to_string()),
            }
        }
        failed
    });
    Reader { stop, ok, task }
}

impl Reader {
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let failed = self.task.await.expect("reader");
        let ok = self.ok.load(Ordering::Relaxed);
        assert!(
            failed.is_empty(),
            "{} of {} requests failed: {failed:?}",
            failed.len(),
            ok
        );
        ok
    }
}

async fn gauge_becomes(stack: &Stack, series: &str, value: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = counter(&stack.metrics().await, series);
        if now == value {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} is {now}, wanted {value}:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_the_policy_keys_and_directory_without_failing_a_request() {
    let (stack, policy) = stack().await;
    let reading = reader(&stack).await;
    let scrape = stack.metrics().await;
    let accounts = counter(&scrape, ACCOUNTS);
    assert!(accounts > 0.0, "{scrape}");
    assert_eq!(policy_name(&stack).await, "voronezh-2017");
    let kid = jwks_kid(&stack).await;

    // A new policy, a new diary account, a new assertion key, and a key
    // only a restart applies.
    edit(
        &policy,
        "name = \"voronezh-2017\"",
        "name = \"voronezh-2017-b\"",
    );
    add_account(&stack, "novikov.p");
    let key = stack.dir.path().join("keys/assertion-key.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(made.status.success());
    edit(
        &stack.config_path(),
        "timeout_seconds = 3\n",
        "timeout_seconds = 4\n",
    );
    let oks = counter(&stack.metrics().await, OK);
    hup(&stack);
    stack.wait_for_counter(OK, oks + 1.0).await;

    assert_eq!(policy_name(&stack).await, "voronezh-2017-b");
    gauge_becomes(&stack, ACCOUNTS, accounts + 1.0).await;
    assert_ne!(
        jwks_kid(&stack).await,
        kid,
        "the new assertion key is published"
    );
    let log = stack.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("apply only at a restart") && l.contains("esia.timeout_seconds")),
        "{log}"
    );
    // Logins go on with the reloaded ESIA client (its key read again).
    let page = Browser::new()
        .login(&stack, "/grades", persons::IVANOVA)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Reloads while the parent reads: nothing fails.
    for _ in 0..10 {
        let oks = counter(&stack.metrics().await, OK);
        hup(&stack);
        stack.wait_for_counter(OK, oks + 1.0).await;
    }
    let ok = reading.finish().await;
    assert!(ok > 20, "{ok} requests");
    assert_eq!(counter(&stack.metrics().await, REFUSED), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configuration_is_refused_and_the_running_one_stays() {
    let (stack, policy) = stack().await;
    let reading = reader(&stack).await;
    let accounts = counter(&stack.metrics().await, ACCOUNTS);
    let config = stack.config_path();
    let good = std::fs::read_to_string(&config).expect("config");
    let mut refused = 0.0;
    let mut refuse = async |why: &str| {
        refused += 1.0;
        hup(&stack);
        stack.wait_for_counter(REFUSED, refused).await;
        // The last refusal and what follows it (a TOML error spans lines).
        let log = stack.log_text();
        let last = log
            .rfind("configuration refused (SIGHUP)")
            .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
        assert!(log[last..].contains(why), "`{why}` in {}", &log[last..]);
    };

    // An unknown key.
    std::fs::write(&config, format!("{good}\n[bogus]\nx = 1\n")).expect("config");
    refuse("bogus").await;
    // A valid configuration, but its policy file is broken, and the
    // directory changed meanwhile: nothing of it is applied.
    std::fs::write(&config, &good).expect("config");
    edit(&policy, "[[stages]]", "[[stagez]]");
    edit(
        &policy,
        "name = \"voronezh-2017\"",
        "name = \"voronezh-2017-b\"",
    );
    add_account(&stack, "novikov.p");
    refuse("policy.file").await;
    // A key file that is not there.
    edit(&policy, "[[stagez]]", "[[stages]]");
    edit(
        &config,
        "assertion_key = \"keys/assertion-key.pem\"",
        "assertion_key = \"keys/nope.pem\"",
    );
    refuse("identity_headers.assertion_key").await;
    // An admin token too short to be one.
    std::fs::write(
        &config,
        format!("{good}\n[admin]\ntoken_file = \"short-token\"\n"),
    )
    .expect("config");
    std::fs::write(stack.dir.path().join("short-token"), "abc\n").expect("token");
    refuse("admin.token_file").await;

    // Through all of it: the old policy and directory, requests served.
    assert_eq!(policy_name(&stack).await, "voronezh-2017");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counter(&stack.metrics().await, ACCOUNTS), accounts);
    let page = Browser::new()
        .login(&stack, "/grades", persons::IVANOVA)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Put right, it is applied.
    std::fs::write(&config, &good).expect("config");
    let oks = counter(&stack.metrics().await, OK);
    hup(&stack);
    stack.wait_for_counter(OK, oks + 1.0).await;
    assert_eq!(policy_name(&stack).await, "voronezh-2017-b");
    gauge_becomes(&stack, ACCOUNTS, accounts + 1.0).await;
    assert_eq!(counter(&stack.metrics().await, REFUSED), refused);
    reading.finish().await;
}
