//! The diary may sit at an IPv6 address or behind a host name: the
//! gateway reaches it either way, and never looks a name up on a request's
//! way (the address is resolved at start and refreshed in the background;
//! `src/proxy/upstream.rs` has the failure cases).

mod support;

use esia_gate_dev::diary::{DiaryConfig, DiaryMode};
use esia_gate_dev::fixtures;
use support::{Browser, Options, Stack, free_port, persons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_at_an_ipv6_address_is_reached() {
    let port6 = free_port();
    let stack = Stack::start_with(Options {
        start_diary: false,
        // The `[upstream]` line (the only one that starts with `url`);
        // what followed it becomes a comment.
        config_replace: vec![(
            "\nurl = \"http://127.0.0.1:".to_string(),
            format!("\nurl = \"http://[::1]:{port6}\"\n# the sample diary's IPv4 port was "),
        )],
        ..Options::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind(("::1", port6))
        .await
        .expect("bind [::1]");
    let cfg = DiaryConfig {
        listen: format!("[::1]:{port6}").parse().expect("addr"),
        users: stack
            .dir
            .path()
            .join("data")
            .join(fixtures::DIARY_USERS_FILE),
        accounts: Some(stack.dir.path().join("data").join(fixtures::ACCOUNTS_FILE)),
        mode: DiaryMode::Normal,
        login_token: false,
        relative_redirect: false,
    };
    let diary = tokio::spawn(async move {
        if let Err(e) = esia_gate_dev::diary::serve(cfg, listener).await {
            panic!("the sample diary on [::1]: {e:#}");
        }
    });
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}\n{}", page.body, stack.log_text());
    assert!(page.body.contains("smirnov.d"), "{}", page.body);
    diary.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_behind_a_host_name_is_reached() {
    let stack = Stack::start_with(Options {
        config_replace: vec![(
            "\nurl = \"http://127.0.0.1:".to_string(),
            "\nurl = \"http://localhost:".to_string(),
        )],
        ..Options::default()
    })
    .await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("smirnov.d"), "{}", page.body);
}
