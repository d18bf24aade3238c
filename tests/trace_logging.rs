//! No secret in the gateway's log at any level: the real stack with the
//! gateway at `RUST_LOG=trace`, a parent's whole ESIA login, a password
//! login at the diary's own form and a few diary pages; then the gateway's
//! whole output (operational and audit lines) is searched for the cookies,
//! the callback's `code` and `state`, the assertion the diary received,
//! the password, the SNILS and anything shaped like a JWT.

mod support;

use support::{Browser, Options, Stack, persons};

/// `name=value` of a `Set-Cookie` among an answer's headers.
fn set_cookie(a: &support::Answer, name: &str) -> Option<String> {
    a.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let value = c.strip_prefix(name)?.strip_prefix('=')?;
            Some(value.split(';').next().unwrap_or_default().to_string())
        })
        .filter(|v| !v.is_empty())
}

/// A query parameter of a URL.
fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no `{name}` in {url}"))
}

/// Where `needle` occurs in `log`, with a little context, for the failure
/// message.
fn occurrences(log: &str, needle: &str) -> Vec<String> {
    log.match_indices(needle)
        .map(|(at, _)| {
            let from = log.floor_char_boundary(at.saturating_sub(80));
            let to = log.ceil_char_boundary((at + needle.len() + 40).min(log.len()));
            log[from..to].to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_trace_level_no_cookie_code_assertion_or_password_reaches_the_log() {
    // Yaroslavl before its cut-over: password logins still work, pages
    // get the banner (so bodies are rewritten too).
    let stack = Stack::start_with(Options {
        rust_log: "trace",
        config_extra: format!(
            "\n[policy]\nfile = \"{}/policies/yaroslavl-2019.toml\"\nrehearse_date = \"2018-12-15\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        ..Options::default()
    })
    .await;
    let mut secrets: Vec<(&str, String)> = Vec::new();

    // A parent through ESIA: binding cookie, callback, session cookie.
    let parent = Browser::new();
    let to_esia = parent
        .get(&stack.url("/esia-gate/login?return_to=/grades"))
        .await;
    assert_eq!(to_esia.status, 302, "{}", to_esia.body);
    secrets.push((
        "binding cookie",
        set_cookie(&to_esia, "esia_gate_login").expect("binding cookie"),
    ));
    let esia = parent.follow(&to_esia.location().expect("to ESIA")).await;
    let request = support::hidden_value(&esia.body, "request").expect("ESIA login page");
    let consent = parent
        .post_form(
            &format!("{}/aas/oauth2/login", stack.esia_url),
            &[("request", &request), ("oid", persons::IVANOVA)],
        )
        .await;
    let request = support::hidden_value(&consent.body, "request").expect("consent page");
    let callback = parent.decide(&stack, &request, "allow").await;
    secrets.push(("callback code", query_param(&callback, "code")));
    secrets.push(("callback state", query_param(&callback, "state")));
    let back = parent.get(&callback).await;
    assert_eq!(back.status, 302, "{}", back.body);
    secrets.push((
        "gateway session cookie",
        set_cookie(&back, "esia_gate_session").expect("session cookie"),
    ));
    // Two children: she picks one, then reads the diary.
    let chooser = parent.get(&stack.url("/esia-gate/children")).await;
    let csrf = support::hidden_value(&chooser.body, "csrf").expect("csrf");
    secrets.push(("form csrf token", csrf.clone()));
    let picked = parent
        .post_form(
            &stack.url("/esia-gate/children/select"),
            &[("csrf", &csrf), ("login", "ivanova.a")],
        )
        .await;
    assert_eq!(picked.status, 302, "{}", picked.body);
    for path in ["/grades", "/api/grades", "/grades?term=2"] {
        let page = parent.get(&stack.url(path)).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
    }
    let echo = parent.get(&stack.url("/echo")).await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let echoed: serde_json::Value = serde_json::from_str(&echo.body).expect("echo JSON");
    let assertion = echoed["headers"]["x-esia-assertion"]
        .as_str()
        .expect("the diary got the assertion")
        .to_string();
    assert!(assertion.len() > 40, "{assertion}");
    secrets.push(("assertion", assertion));

    // The same parent with her diary password, at the diary's own form.
    let by_password = Browser::new();
    let form = by_password.get(&stack.url("/login")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let logged_in = by_password
        .post_form(
            &stack.url("/login"),
            &[("login", "ivanova.m"), ("password", "demo")],
        )
        .await;
    assert!(
        logged_in.status.is_redirection(),
        "{}: {}",
        logged_in.status,
        logged_in.body
    );
    secrets.push((
        "diary cookie",
        set_cookie(&logged_in, "DIARYSESSID").expect("the diary's cookie"),
    ));
    for path in ["/grades", "/schedule", "/echo"] {
        let page = by_password.get(&stack.url(path)).await;
        assert!(page.status.as_u16() < 500, "{path}: {}", page.status);
    }

    // Let the last lines reach the file.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = stack.log_text();
    std::fs::write("/tmp/secrets_trace_log.txt", &log).ok();

    // The log really is at trace: the gateway's own debug lines are there
    // (and the emulator's and diary's are not: they run in this process).
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("esia_gate") && l.contains("request done")),
        "the gateway logged no debug line at RUST_LOG=trace:\n{log}"
    );
    assert!(
        log.contains("\"event\":\"login_result\""),
        "audit lines: {log}"
    );
    assert!(
        log.contains("\"event\":\"password_login\""),
        "audit lines: {log}"
    );

    for (what, value) in &secrets {
        assert!(
            !log.contains(value.as_str()),
            "the {what} ({value}) is in the log: {:#?}",
            occurrences(&log, value)
        );
    }
    // Header dumps are what would carry them; none at all.
    for dump in ["Writing request header", "Response header:", "Set-Cookie '"] {
        assert!(!log.contains(dump), "{:#?}", occurrences(&log, dump));
    }
    // The password, wherever it follows a password-like name.
    for (at, _) in log.match_indices("demo") {
        let before = &log[log.floor_char_boundary(at.saturating_sub(24))..at];
        assert!(
            !before.to_ascii_lowercase().contains("pass"),
            "the password is in the log: {:#?}",
            occurrences(&log, "demo")
        );
    }
    // Ivanova's SNILS in either spelling; any JWT (ESIA's tokens too).
    for value in ["145-862-390 88", "14586239088", "eyJ"] {
        assert!(!log.contains(value), "{:#?}", occurrences(&log, value));
    }
}
