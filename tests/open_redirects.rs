//! Every open-redirect payload, given as the post-login return target, ends
//! on the gateway's own origin — through the real login, not only the pure
//! check. The shared corpus (`../shared/data/open-redirects.txt`, from
//! oauth2-proxy) is used when present, as in CI; otherwise the project's own
//! table of the same families.

mod support;

use support::{Browser, Stack, hidden_value, persons};

fn payloads() -> Vec<String> {
    let path = std::env::var("ESIA_GATE_REDIRECT_CORPUS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/open-redirects.txt"
        )
        .to_string()
    });
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Vec<String> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            eprintln!("open-redirect corpus: {} payloads from {path}", v.len());
            v
        }
        Err(_) => {
            eprintln!("open-redirect corpus not found at {path}; using the project's own table");
            esia_gate::auth::return_to::ATTACK_PAYLOADS
                .iter()
                .map(|s| s.to_string())
                .collect()
        }
    }
}

#[test]
fn the_pure_check_keeps_every_payload_on_our_origin() {
    let origin = url::Url::parse("http://127.0.0.1:8080").expect("origin");
    for p in payloads() {
        if let Some(path) = esia_gate::auth::return_to::safe_return_path(&p, &origin) {
            let landed = origin.join(&path).expect("joins");
            assert_eq!(landed.origin(), origin.origin(), "{p:?} -> {path:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payload_as_return_target_ends_on_the_gateway() {
    let stack = Stack::start().await;
    let origin = url::Url::parse(&stack.public_url).expect("origin");
    let b = Browser::new();
    let list = payloads();
    for (i, p) in list.iter().enumerate() {
        let enc: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
        let start = b
            .get(&stack.url(&format!("/esia-gate/login?return_to={enc}")))
            .await;
        assert_eq!(start.status, 302, "payload #{i} {p:?}");
        let login_page = b.get(&start.location().expect("ESIA")).await;
        let request = hidden_value(&login_page.body, "request").expect("request id");
        let consent = b
            .post_form(
                &format!("{}/aas/oauth2/login", stack.esia_url),
                &[("request", &request), ("oid", persons::SMIRNOV)],
            )
            .await;
        let request = hidden_value(&consent.body, "request").expect("request id");
        let callback = b.decide(&stack, &request, "allow").await;
        let back = b.get(&callback).await;
        assert_eq!(back.status, 302, "payload #{i} {p:?}: {}", back.body);
        let location = back.location().expect("location");
        let landed = origin.join(&location).expect("a URL");
        assert_eq!(
            landed.origin(),
            origin.origin(),
            "payload #{i} {p:?} sent the browser to {location}"
        );
        assert!(
            location.starts_with(&format!("{}/", stack.public_url)),
            "payload #{i} {p:?}: {location}"
        );
    }
}
