//! Operators watch the gateway through Prometheus: after a scripted morning
//! of logins the counters have moved as the story says, the scrape passes
//! `promtool check metrics`, and the admin listener opens only to its token.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{Browser, Options, Stack, counter, persons};

/// `promtool` from Debian's `prometheus` package (scripts/test installs it).
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (apt-get install prometheus, or scripts/test): {e}")
        });
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every series of a metric family in a scrape, with its value.
fn series<'a>(scrape: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (s, v) = l.rsplit_once(' ')?;
            let bare = s.split('{').next()?;
            (bare == name).then(|| (s, v.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_morning_of_logins_moves_the_counters_and_the_scrape_passes_promtool() {
    let stack = Stack::start_with(Options {
        config_extra: "[admin]\nadoption_refresh_seconds = 0\n".into(),
        ..Options::default()
    })
    .await;
    let before = stack.metrics().await;
    assert_eq!(
        counter(&before, "esia_gate_logins_total{outcome=\"started\"}"),
        0.0
    );

    // A parent matches one account; a teacher-parent must choose; a person
    // unknown to the diary and one without SNILS are offered linking; one
    // refuses consent.
    let ivanova = Browser::new();
    let page = ivanova.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200, "{}", page.body);
    Browser::new()
        .login(&stack, "/grades", persons::PETROV)
        .await;
    Browser::new()
        .login(&stack, "/grades", persons::SIDOROV)
        .await;
    Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    let refusing = Browser::new();
    let (_, request) = refusing
        .to_consent(&stack, "/grades", persons::SMIRNOV)
        .await;
    let back = refusing.decide(&stack, &request, "deny").await;
    refusing.follow(&back).await;
    // The parent reads the diary's API, an anonymous script is refused.
    let api = ivanova
        .get_with(&stack.url("/api/grades"), &[("Accept", "application/json")])
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    let anonymous = Browser::new()
        .get_with(&stack.url("/api/grades"), &[("Accept", "application/json")])
        .await;
    assert_eq!(anonymous.status, 401);
    // A request is counted in Pingora's `logging` hook, after its answer
    // went out: the last one may not be counted yet.
    stack
        .wait_for_counter(
            "esia_gate_requests_total{route=\"diary\",status=\"401\"}",
            1.0,
        )
        .await;

    let scrape = stack.metrics().await;
    let c = |s: &str| counter(&scrape, s);
    assert_eq!(c("esia_gate_logins_total{outcome=\"started\"}"), 5.0);
    assert_eq!(c("esia_gate_logins_total{outcome=\"success\"}"), 1.0);
    assert_eq!(c("esia_gate_logins_total{outcome=\"needs_choice\"}"), 1.0);
    assert_eq!(c("esia_gate_logins_total{outcome=\"needs_link\"}"), 2.0);
    assert_eq!(
        c("esia_gate_logins_total{outcome=\"consent_refused\"}"),
        1.0
    );
    assert_eq!(c("esia_gate_match_outcomes_total{outcome=\"one\"}"), 1.0);
    assert_eq!(
        c("esia_gate_match_outcomes_total{outcome=\"several\"}"),
        1.0
    );
    assert_eq!(
        c("esia_gate_match_outcomes_total{outcome=\"nothing\"}"),
        1.0
    );
    assert_eq!(
        c("esia_gate_match_outcomes_total{outcome=\"no_snils_from_esia\"}"),
        1.0
    );
    assert_eq!(
        c("esia_gate_esia_errors_total{code=\"ESIA-007004\",endpoint=\"ac\",kind=\"esia_error\"}"),
        1.0,
        "{scrape}"
    );
    // Four code exchanges at ESIA, each timed.
    assert_eq!(
        c("esia_gate_esia_request_duration_seconds_count{endpoint=\"te\"}"),
        4.0
    );
    assert!(c("esia_gate_requests_total{route=\"gate\",status=\"302\"}") >= 5.0);
    assert!(c("esia_gate_requests_total{route=\"diary\",status=\"302\"}") >= 5.0);
    assert!(c("esia_gate_requests_total{route=\"diary\",status=\"200\"}") >= 1.0);
    assert!(c("esia_gate_requests_total{route=\"diary\",status=\"401\"}") >= 1.0);
    assert!(c("esia_gate_request_duration_seconds_count{route=\"diary\"}") >= 3.0);
    assert_eq!(c("esia_gate_active_sessions"), 4.0, "{scrape}");
    for dep in ["upstream", "esia", "store"] {
        assert_eq!(
            c(&format!("esia_gate_dependency_up{{dependency=\"{dep}\"}}")),
            1.0,
            "{dep}: {scrape}"
        );
    }
    // The adoption curve: one parent account has come in through ESIA.
    assert_eq!(
        c("esia_gate_adoption_accounts{role=\"parent\",state=\"esia\"}"),
        1.0,
        "{scrape}"
    );
    let adoption: f64 = series(&scrape, "esia_gate_adoption_accounts")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        adoption,
        c("esia_gate_directory_accounts"),
        "every directory account has a state"
    );
    assert_eq!(
        c(&format!(
            "esia_gate_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(c("esia_gate_start_time_seconds") > 1.6e9);
    // The process's own resources, by the names every exporter uses.
    assert!(c("process_resident_memory_bytes") > 1e6, "{scrape}");
    // Whole seconds (the prometheus crate's collector): present, maybe 0.
    assert_eq!(series(&scrape, "process_cpu_seconds_total").len(), 1);
    let (open, max) = (c("process_open_fds"), c("process_max_fds"));
    assert!(open >= 3.0 && open < max, "{open} of {max}");
    assert!(c("process_threads") >= 2.0);
    assert!(
        (c("process_start_time_seconds") - c("esia_gate_start_time_seconds")).abs() < 5.0,
        "{scrape}"
    );

    // Labels stay bounded: no login, oid or path ever becomes a label.
    for line in scrape.lines().filter(|l| !l.starts_with('#')) {
        for leak in [
            "ivanova",
            "petrov",
            persons::IVANOVA,
            persons::SIDOROV,
            "/grades",
            "/api",
        ] {
            assert!(!line.contains(leak), "`{leak}` in a label: {line}");
        }
    }
    // Every family the gateway exports is one it declared.
    let declared = esia_gate::telemetry::metrics::get().names();
    for line in scrape.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).expect("a metric name");
        assert!(declared.iter().any(|d| d == name), "{name} is not declared");
        assert!(
            name.starts_with("esia_gate_") || name.starts_with("process_"),
            "{name}"
        );
    }

    let (ok, report) = promtool(&["check", "metrics"], Some(&scrape));
    assert!(ok, "promtool check metrics:\n{report}\n{scrape}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_in_force_is_an_info_metric_of_1_with_its_load_time_beside_it() {
    let before = chrono_now();
    let stack = Stack::start_with(support::policy_options("yaroslavl-2019", "2018-12-15")).await;
    let scrape = stack.metrics().await;
    let info = series(&scrape, "esia_gate_policy_info");
    assert_eq!(info.len(), 1, "{scrape}");
    let (labels, value) = info[0];
    assert_eq!(value, 1.0, "an info metric is 1: {labels}");
    assert!(labels.contains("hash=\""), "{labels}");
    let loaded = counter(&scrape, "esia_gate_policy_loaded_timestamp_seconds");
    assert!(
        loaded >= before - 1.0 && loaded <= chrono_now() + 1.0,
        "{loaded}"
    );
    let (ok, report) = promtool(&["check", "metrics"], Some(&scrape));
    assert!(ok, "promtool check metrics:\n{report}");
}

fn chrono_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const TOKEN: &str = "3f9c0b1d7e5a4c2b8d6f0e1a9c7b5d3f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_admin_path_but_healthz_needs_it() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let token_file = secrets.path().join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let stack = Stack::start_with(Options {
        config_extra: format!("[admin]\ntoken_file = \"{}\"\n", token_file.display()),
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::new();
    for path in [
        "/metrics",
        "/readyz",
        "/reports",
        "/reports/adoption.csv",
        "/reports/snils.json",
        "/reports/match-failures",
        "/nothing-here",
    ] {
        let none = http.get(stack.admin_url(path)).send().await.expect("admin");
        assert_eq!(none.status(), 401, "{path} without the token");
        assert!(
            none.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Basic ")),
            "{path}: a browser is asked for the token"
        );
        let wrong = http
            .get(stack.admin_url(path))
            .bearer_auth("not-the-token-not-the-token")
            .send()
            .await
            .expect("admin");
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
    }
    let healthz = http
        .get(stack.admin_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200, "/healthz stays open for probes");
    let scrape = http
        .get(stack.admin_url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape
            .text()
            .await
            .expect("text")
            .contains("esia_gate_build_info")
    );
    // A person's browser: the token as the Basic password.
    let report = http
        .get(stack.admin_url("/reports/snils"))
        .basic_auth("school", Some(TOKEN))
        .send()
        .await
        .expect("report");
    assert_eq!(report.status(), 200);
    assert!(
        !stack.log_text().contains(TOKEN),
        "the token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_codes_a_browser_makes_up_do_not_become_series_of_their_own() {
    let stack = Stack::start().await;
    // Each forged callback needs a login of its own (state and binding
    // cookie): the attacker's own, with any code in the description.
    for made_up in ["ESIA-123456", "ESIA-654321", "ESIA-007053"] {
        let b = Browser::new();
        let to_esia = b
            .get(&stack.url("/esia-gate/login?return_to=/grades"))
            .await;
        let ac = reqwest::Url::parse(&to_esia.location().expect("ESIA URL")).expect("URL");
        let state = ac
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state");
        let page = b
            .get(&stack.url(&format!(
                "/esia-gate/callback?error=access_denied&error_description={made_up}:+x&state={state}"
            )))
            .await;
        // The page names the code; the metric does not.
        assert!(page.body.contains(made_up), "{}", page.body);
    }
    let scrape = stack.metrics().await;
    let c = |s: &str| counter(&scrape, s);
    assert_eq!(
        c("esia_gate_esia_errors_total{code=\"other\",endpoint=\"ac\",kind=\"esia_error\"}"),
        2.0,
        "{scrape}"
    );
    assert_eq!(
        c("esia_gate_esia_errors_total{code=\"ESIA-007053\",endpoint=\"ac\",kind=\"esia_error\"}"),
        1.0,
        "{scrape}"
    );
    assert!(!scrape.contains("ESIA-123456") && !scrape.contains("ESIA-654321"));
}
