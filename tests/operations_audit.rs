//! The audit log after a morning at the gateway: one JSON line per
//! authentication event, each with its time, request id, account login,
//! ESIA oid and outcome — and no SNILS, password or token anywhere. The
//! operational log beside it is JSON too, and holds no audit line.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{Answer, Browser, Options, Stack, hidden_value, persons};

fn csrf(page: &Answer) -> String {
    hidden_value(&page.body, "csrf").expect("the page's csrf token")
}

fn options() -> Options {
    Options {
        config_replace: vec![(
            "format = \"text\"\n".into(),
            "format = \"json\"\naudit_file = \"audit.log\"\n".into(),
        )],
        ..Options::default()
    }
}

fn audit_lines(stack: &Stack) -> Vec<Value> {
    let text = std::fs::read_to_string(stack.dir.path().join("audit.log")).expect("audit.log");
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object: {l}: {e}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_authentication_event_is_one_json_line_without_secrets() {
    let stack = Stack::start_with(options()).await;

    // A parent logs in and out; a teacher-parent chooses an account; a
    // person without SNILS links her account by password, then unlinks
    // it; one refuses consent.
    let ivanova = Browser::new();
    let page = ivanova.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let petrov = Browser::new();
    let choice = petrov.login(&stack, "/grades", persons::PETROV).await;
    let chosen = petrov
        .post_form(
            &stack.url("/esia-gate/accounts/select"),
            &[("csrf", &csrf(&choice)), ("login", "petrov.parent")],
        )
        .await;
    assert_eq!(chosen.status, 302, "{}", chosen.body);
    let kuznetsova = Browser::new();
    let link = kuznetsova
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    let linked = kuznetsova
        .post_form(
            &stack.url("/esia-gate/link"),
            &[
                ("csrf", &csrf(&link)),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(linked.status, 302, "{}", linked.body);
    let list = kuznetsova.get(&stack.url("/esia-gate/accounts")).await;
    let unlinked = kuznetsova
        .post_form(
            &stack.url("/esia-gate/accounts/unlink"),
            &[("csrf", &csrf(&list)), ("login", "kuznetsova.o")],
        )
        .await;
    assert_eq!(unlinked.status, 302, "{}", unlinked.body);
    let refusing = Browser::new();
    let (_, request) = refusing
        .to_consent(&stack, "/grades", persons::SMIRNOV)
        .await;
    let back = refusing.decide(&stack, &request, "deny").await;
    refusing.follow(&back).await;
    let out = ivanova.logout(&stack.url("/esia-gate/logout")).await;
    assert_eq!(out.status, 302);

    let lines = audit_lines(&stack);
    let mut by_event: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for l in &lines {
        let event = l["event"]
            .as_str()
            .unwrap_or_else(|| panic!("an event name: {l}"));
        by_event.entry(event.to_string()).or_default().push(l);
        let time = l["time"].as_str().expect("time");
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok(),
            "time {time}"
        );
        assert!(l.get("request_id").is_some(), "request_id key: {l}");
    }
    let count = |e: &str| by_event.get(e).map_or(0, Vec::len);
    let events = by_event.keys().collect::<Vec<_>>();
    // One line per event: four people started a login, each got a result.
    assert_eq!(count("login_started"), 4, "{events:?}");
    assert_eq!(count("login_result"), 4, "{events:?}");
    assert_eq!(count("link_made"), 1, "{events:?}");
    assert_eq!(count("link_removed"), 1, "{events:?}");
    assert_eq!(count("logout"), 1, "{events:?}");

    let outcomes: Vec<&str> = by_event["login_result"]
        .iter()
        .filter_map(|l| l["outcome"].as_str())
        .collect();
    for o in ["success", "needs_choice", "needs_link", "consent_refused"] {
        assert!(outcomes.contains(&o), "{o} in {outcomes:?}");
    }
    let success = by_event["login_result"]
        .iter()
        .find(|l| l["outcome"] == "success")
        .expect("success");
    assert_eq!(success["oid"], persons::IVANOVA);
    assert_eq!(success["login"], "ivanova.m");
    let made = by_event["link_made"][0];
    assert_eq!(made["login"], "kuznetsova.o");
    assert_eq!(made["oid"], persons::KUZNETSOVA);
    for e in [
        "login_started",
        "login_result",
        "link_made",
        "link_removed",
        "logout",
    ] {
        for l in &by_event[e] {
            let rid = l["request_id"].as_str().unwrap_or_default();
            assert!(rid.len() >= 16, "{e} without a request id: {l}");
        }
    }
    // The request id ties the audit line to the page the user saw.
    let rid = by_event["login_result"]
        .iter()
        .find(|l| l["outcome"] == "consent_refused")
        .and_then(|l| l["request_id"].as_str())
        .expect("request id");
    let operational = stack.log_text();
    assert!(operational.contains(rid), "the operational log names {rid}");

    // No SNILS (any spelling), password or token, in either log.
    let audit = std::fs::read_to_string(stack.dir.path().join("audit.log")).expect("audit");
    for log in [&audit, &operational] {
        for p in esia_gate_dev::fixtures::demo_persons() {
            let Some(snils) = p.snils.as_deref() else {
                continue;
            };
            let d: String = snils.chars().filter(|c| c.is_ascii_digit()).collect();
            for spelling in [
                d.clone(),
                format!("{}-{}-{} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
                format!("{}-{}-{}-{}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
                format!("{} {} {} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
            ] {
                assert!(!log.contains(&spelling), "a SNILS in a log");
            }
        }
        assert!(!log.contains("eyJ"), "a JWT in a log");
        assert!(!log.contains("password=demo"), "a password in a log");
    }
    for l in &lines {
        for (k, v) in l.as_object().expect("object") {
            assert_ne!(v, "demo", "the password in `{k}`: {l}");
        }
    }

    // Operational lines are JSON objects and none of them is an audit line.
    for line in operational.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("operational log not JSON: {line}: {e}"));
        assert_ne!(v["target"], "audit", "{line}");
    }
}
