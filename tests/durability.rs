//! Links are durable: acknowledged to the user means on disk. The gateway
//! is killed with SIGKILL right after a link is acknowledged; after a
//! restart the person goes straight in. A password session the gateway saw
//! log in is still known after a restart, so a cut-over still closes its
//! grades. `links export` / `links import` carry every record to another
//! store.

mod support;

use std::process::Command;

use support::{Browser, Options, Stack, element_text, hidden_value, persons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_acknowledged_just_before_a_sigkill_is_there_after_restart() {
    let mut stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    let csrf = hidden_value(&link.body, "csrf").expect("csrf");
    let ack = b
        .post_form(
            &stack.url("/esia-gate/link"),
            &[
                ("csrf", &csrf),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(ack.status, 302, "{}", ack.body);
    // The very moment the browser has the answer: kill -9.
    stack.kill9_and_restart().await;

    let next = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(
        element_text(&next.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_export_and_import_carry_every_record() {
    let mut stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    let csrf = hidden_value(&link.body, "csrf").expect("csrf");
    b.post_form(
        &stack.url("/esia-gate/link"),
        &[
            ("csrf", &csrf),
            ("login", "kuznetsova.o"),
            ("password", "demo"),
        ],
    )
    .await;
    Browser::new()
        .login(&stack, "/grades", persons::SIDOROV)
        .await;
    // The embedded store is one process's file: stop the gateway first.
    let _ = stack.gateway.kill();
    let _ = stack.gateway.wait();

    let bin = env!("CARGO_BIN_EXE_esia-gate");
    let dump = stack.dir.path().join("links.jsonl");
    let out = Command::new(bin)
        .args(["links", "export", "--config"])
        .arg(stack.config_path())
        .arg("--out")
        .arg(&dump)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&dump).expect("dump");
    assert!(
        text.contains("\"type\":\"link\"") && text.contains("kuznetsova.o"),
        "{text}"
    );
    assert!(text.contains("\"type\":\"login\""), "{text}");
    assert!(text.contains("\"type\":\"match_failure\""), "{text}");
    assert!(!text.contains("20358167448"), "no SNILS in the export");

    // Import into a fresh store (another file) and export again: the same.
    let other = stack.dir.path().join("other.toml");
    let cfg = std::fs::read_to_string(stack.config_path()).expect("config");
    std::fs::write(&other, format!("{cfg}\n[store]\npath = \"other.redb\"\n")).expect("config");
    let imp = Command::new(bin)
        .args(["links", "import", "--config"])
        .arg(&other)
        .arg("--in")
        .arg(&dump)
        .output()
        .expect("import");
    assert!(
        imp.status.success(),
        "{}",
        String::from_utf8_lossy(&imp.stderr)
    );
    let again = stack.dir.path().join("again.jsonl");
    let out = Command::new(bin)
        .args(["links", "export", "--config"])
        .arg(&other)
        .arg("--out")
        .arg(&again)
        .output()
        .expect("export");
    assert!(out.status.success());
    let mut a: Vec<String> = text.lines().map(str::to_string).collect();
    let mut b: Vec<String> = std::fs::read_to_string(&again)
        .expect("again")
        .lines()
        .map(str::to_string)
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_session_learned_before_a_sigkill_is_still_known_after_restart() {
    // Yaroslavl: password sessions see grades until 31.12.2018, not after.
    let mut stack = Stack::start_with(Options {
        config_extra: format!(
            "\n[policy]\nfile = \"{}/policies/yaroslavl-2019.toml\"\nrehearse_date = \"2018-12-15\"\ncheck_seconds = 1\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    let logged_in = b
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);
    let grades = b.get(&stack.url("/grades")).await;
    assert_eq!(grades.status, 200, "{}", grades.body);

    stack.kill9_and_restart().await;
    // The restarted gateway reads the date from its configuration again:
    // move it past the cut-over.
    let r = reqwest::Client::new()
        .put(stack.admin_url("/rehearse-date?date=2019-01-02"))
        .send()
        .await
        .expect("rehearse-date");
    assert!(r.status().is_success(), "rehearse-date: {}", r.status());

    // The diary still honours its cookie; the gateway still knows whose it
    // is, and closes the grades to that password session.
    let closed = b.get(&stack.url("/grades")).await;
    assert_eq!(closed.status, 403, "{}", closed.body);
    assert!(
        closed
            .body
            .contains("Текущая успеваемость доступна только через Госуслуги"),
        "{}",
        closed.body
    );
}
