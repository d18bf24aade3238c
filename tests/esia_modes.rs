//! The other two ways to reach ESIA, each switched on by configuration
//! alone: a certified broker (OpenID Connect with a static secret: the
//! endpoints and keys from its discovery document, a nonce and PKCE per
//! login; the emulator's `/broker/*` endpoints play it) and the deprecated
//! legacy endpoints with a detached PKCS#7 client secret.

mod support;

use support::{Browser, Stack, element_text, hidden_value, persons};

async fn switch_to_broker(stack: &mut Stack, secret_file: &str) {
    let config = stack.config_path();
    let text = std::fs::read_to_string(&config).expect("config");
    let esia = &stack.esia_url;
    let text = text.replace("mode = \"v2\"", "mode = \"broker\"").replace(
        "issuer = \"http://esia-portal1.test.gosuslugi.ru/\"",
        &format!("issuer = \"{esia}/broker\""),
    );
    // Everything else comes from the broker's discovery document.
    let text = format!("{text}\n[esia.broker]\nclient_secret_file = \"{secret_file}\"\n");
    std::fs::write(&config, text).expect("config");
    stack.kill9_and_restart().await;
}

/// Up to the broker's redirect back to the gateway: the callback URL, not
/// yet followed, and the authorization request the gateway made.
async fn broker_callback(b: &Browser, stack: &Stack, oid: &str) -> (String, String) {
    let page = b.follow(&stack.url("/grades")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.url
            .starts_with(&format!("{}/broker/auth?", stack.esia_url)),
        "{}",
        page.url
    );
    let request = hidden_value(&page.body, "request").expect("request id");
    let back = b
        .post_form(
            &format!("{}/broker/login", stack.esia_url),
            &[("request", &request), ("oid", oid)],
        )
        .await;
    assert_eq!(back.status, 302, "{}", back.body);
    (back.location().expect("callback"), page.url)
}

async fn broker_login(b: &Browser, stack: &Stack, oid: &str) -> support::Answer {
    let page = b.follow(&stack.url("/grades")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.url
            .starts_with(&format!("{}/broker/auth?", stack.esia_url)),
        "{}",
        page.url
    );
    let request = hidden_value(&page.body, "request").expect("request id");
    let back = b
        .post_form(
            &format!("{}/broker/login", stack.esia_url),
            &[("request", &request), ("oid", oid)],
        )
        .await;
    assert_eq!(back.status, 302, "{}", back.body);
    b.follow(&back.location().expect("callback")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_switches_to_a_broker_by_configuration_alone() {
    let mut stack = Stack::start().await;
    switch_to_broker(&mut stack, "keys/broker-secret").await;
    let b = Browser::new();
    let page = broker_login(&b, &stack, persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
    assert_eq!(
        element_text(&page.body, "esia-trusted").as_deref(),
        Some("true")
    );

    // Logout goes through the broker's logout back to the gateway.
    let out = b.logout(&stack.url("/esia-gate/logout")).await;
    let to = out.location().expect("logout");
    assert!(
        to.starts_with(&format!("{}/broker/logout?", stack.esia_url)),
        "{to}"
    );
    let back = b.follow(&to).await;
    assert!(back.url.ends_with("/esia-gate/logged-out"), "{}", back.url);

    // The rest of the story is the same: no SNILS → manual linking.
    let link = broker_login(&Browser::new(), &stack, persons::KUZNETSOVA).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);

    // An id token the trusted certificates do not verify: refused.
    stack.esia_fault("broker_token", "bad_signature").await;
    let forged = broker_login(&Browser::new(), &stack, persons::SMIRNOV).await;
    assert_eq!(forged.status, 502, "{}", forged.body);
    assert!(forged.body.contains("Не удалось проверить вход"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_rotating_its_key_in_the_middle_of_a_login_breaks_nothing() {
    let mut stack = Stack::start().await;
    switch_to_broker(&mut stack, "keys/broker-secret").await;
    let b = Browser::new();
    let (callback, request) = broker_callback(&b, &stack, persons::SMIRNOV).await;
    // The request carries a nonce and an S256 PKCE challenge.
    let q: std::collections::HashMap<String, String> = reqwest::Url::parse(&request)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(q.get("nonce").is_some_and(|n| n.len() >= 16), "{request}");
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(q.contains_key("code_challenge"), "{request}");
    // Between the authorization redirect and the token exchange the broker
    // rotates its signing key: the id token names a kid the gateway's
    // discovered key set lacks.
    let rotated = reqwest::Client::new()
        .post(format!("{}/__emulator/broker/rotate-key", stack.esia_url))
        .send()
        .await
        .expect("rotate");
    assert!(rotated.status().is_success());
    let page = b.follow(&callback).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
    let log = stack.log_text();
    assert!(
        log.contains("names an unknown key")
            && log.matches("broker metadata and keys discovered").count() == 2,
        "{log}"
    );
    // The next login uses the new keys without asking again.
    let again = broker_login(&Browser::new(), &stack, persons::SMIRNOV).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        stack
            .log_text()
            .matches("broker metadata and keys discovered")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_with_another_logins_nonce_is_refused() {
    let mut stack = Stack::start().await;
    switch_to_broker(&mut stack, "keys/broker-secret").await;
    stack.esia_fault("broker_token", "wrong_nonce").await;
    let page = broker_login(&Browser::new(), &stack, persons::SMIRNOV).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(
        page.body.contains("Не удалось проверить вход"),
        "{}",
        page.body
    );
    assert!(stack.log_text().contains("nonce"), "the reason is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_without_its_pkce_verifier_is_refused_by_the_broker() {
    let mut stack = Stack::start().await;
    switch_to_broker(&mut stack, "keys/broker-secret").await;
    let b = Browser::new();
    let (callback, _) = broker_callback(&b, &stack, persons::SMIRNOV).await;
    // Someone who caught the code redeems it at the broker with the
    // gateway's own secret, but without the verifier only the gateway
    // holds: refused (and the code is spent).
    let code = reqwest::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let stolen = reqwest::Client::new()
        .post(format!("{}/broker/token", stack.esia_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", &stack.url("/esia-gate/callback")),
            ("client_id", "DIARY"),
            ("client_secret", esia_gate_dev::demo::DEMO_BROKER_SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(stolen.status(), 400);
    let v: serde_json::Value = stolen.json().await.expect("json");
    assert_eq!(v["error"], "invalid_grant", "{v}");
    // The person's own callback then finds the code used: a fresh login.
    let page = b.follow(&callback).await;
    assert!(
        page.status.is_client_error() || page.status.is_server_error(),
        "{}",
        page.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_broker_secret_is_refused_with_a_page_and_a_log_line() {
    let mut stack = Stack::start().await;
    std::fs::write(stack.dir.path().join("keys/wrong-secret"), "nope\n").expect("secret");
    switch_to_broker(&mut stack, "keys/wrong-secret").await;
    let page = broker_login(&Browser::new(), &stack, persons::SMIRNOV).await;
    assert!(
        page.status.is_server_error(),
        "{}: {}",
        page.status,
        page.body
    );
    assert!(page.body.contains("Госуслуги"), "{}", page.body);
    assert!(
        stack.log_text().contains("invalid_client"),
        "the reason is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_secret_from_the_environment_wins_over_its_file() {
    let mut stack = Stack::start().await;
    // The file holds a wrong secret; the environment the right one.
    std::fs::write(stack.dir.path().join("keys/stale-secret"), "stale\n").expect("secret");
    stack.gateway_env = vec![(
        "ESIA_GATE_ESIA__BROKER__CLIENT_SECRET".into(),
        esia_gate_dev::demo::DEMO_BROKER_SECRET.into(),
    )];
    switch_to_broker(&mut stack, "keys/stale-secret").await;
    let page = broker_login(&Browser::new(), &stack, persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
    let log = stack.log_text();
    assert!(
        log.contains("setting taken from the environment")
            && log.contains("ESIA_GATE_ESIA__BROKER__CLIENT_SECRET"),
        "{log}"
    );
    assert!(
        !log.contains(esia_gate_dev::demo::DEMO_BROKER_SECRET),
        "the secret is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_legacy_endpoints_still_work_with_a_pkcs7_secret() {
    let mut stack = Stack::start().await;
    let config = stack.config_path();
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("mode = \"v2\"", "mode = \"legacy\"")).expect("config");
    stack.kill9_and_restart().await;
    let b = Browser::new();
    let first = b
        .get(&stack.url("/esia-gate/login?return_to=/grades"))
        .await;
    let ac = first.location().expect("to ESIA");
    assert!(
        ac.starts_with(&format!("{}/aas/oauth2/ac?", stack.esia_url)),
        "the legacy endpoint: {ac}"
    );
    assert!(!ac.contains("client_certificate_hash"), "{ac}");
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
}
