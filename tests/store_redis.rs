//! The Redis store end to end: real gateway processes sharing one real
//! `redis-server` on loopback. (a) A login started on one instance finishes
//! on another, the session works on both, and a logout on one is seen by the
//! other within the session cache's TTL. (b) Redis is killed in the middle of
//! a bounded request loop and started again: people already in keep
//! working, a new login gets the 503 page, `/readyz` says so, errors are
//! counted, nothing panics, and every link written before is still there.
//! (c) The brute-force limit of manual linking counts across instances.
//! (d) A gateway started on the version 1 key layout migrates it at start.

mod support;

use std::time::{Duration, Instant};

use esia_gate::config::store::{StoreBackend, StoreSettings};
use esia_gate::identity::{EsiaOid, LegacyLogin};
use esia_gate::store::{AccountLink, LinkKind, LinkSource, RedisStore, Store};
use support::{Browser, Options, RedisServer, Stack, element_text, persons, redis_store_section};

fn redis_server() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A client that keeps no cookies and follows no redirects.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn session_cookie(a: &support::Answer) -> String {
    a.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("esia_gate_session=") && !c.starts_with("esia_gate_session=;"))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

async fn get_with_cookie(client: &reqwest::Client, url: &str, cookie: &str) -> (u16, String) {
    let r = client
        .get(url)
        .header("Cookie", cookie)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// The sum of every series of a counter in a scrape.
fn counter_sum(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn readyz(client: &reqwest::Client, stack: &Stack) -> (u16, serde_json::Value) {
    let r = client
        .get(stack.admin_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_one_instance_finishes_on_another_and_logout_is_shared() {
    let redis = redis_server();
    let cache_ttl_ms = 500;
    let stack = Stack::start_with(Options {
        config_extra: redis_store_section(&redis, cache_ttl_ms),
        peers: 1,
        ..Options::default()
    })
    .await;
    let b = &stack.peers[0];
    assert_ne!(stack.public_url, b.public_url);
    let browser = Browser::new();
    // Both instances sign the diary's assertions with the one configured
    // key: the diary's cached JWKS fits either.
    let jwks = |url: String| async move {
        reqwest::get(url)
            .await
            .expect("jwks")
            .text()
            .await
            .expect("text")
    };
    assert_eq!(
        jwks(stack.url("/esia-gate/.well-known/jwks.json")).await,
        jwks(b.url("/esia-gate/.well-known/jwks.json")).await
    );

    // Instance A starts the login (pending login in Redis)...
    let callback = browser
        .login_until_callback(&stack, "/grades", persons::IVANOVA)
        .await;
    assert!(
        callback.starts_with(&stack.url("/esia-gate/callback?")),
        "{callback}"
    );
    // ...and the load balancer carries the callback to instance B.
    let at_b = callback.replacen(&stack.public_url, &b.public_url, 1);
    let back = browser.get(&at_b).await;
    assert_eq!(
        back.status,
        302,
        "{}\n--- B's log:\n{}",
        back.body,
        b.log_text()
    );
    let cookie = session_cookie(&back);

    // The session made on B works on both instances.
    let client = raw_client();
    for url in [b.url("/grades"), stack.url("/grades")] {
        let (status, body) = get_with_cookie(&client, &url, &cookie).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(
            element_text(&body, "remote-user").as_deref(),
            Some("ivanova.m")
        );
    }

    // Logout on B (the browser's copy of the cookie goes; we keep ours).
    let out = browser.logout(&b.url("/esia-gate/logout")).await;
    assert_eq!(out.status, 302, "{}", out.body);
    let (status, _) = get_with_cookie(&client, &b.url("/grades"), &cookie).await;
    assert_eq!(status, 302, "B ends the session at once");

    // A sees it within its cache TTL.
    let started = Instant::now();
    loop {
        let (status, _) = get_with_cookie(&client, &stack.url("/grades"), &cookie).await;
        if status == 302 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "A still serves the session 5 s after the logout on B"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen_after = started.elapsed();
    assert!(
        seen_after <= Duration::from_millis(cache_ttl_ms + 1000),
        "the logout reached A after {seen_after:?} (cache TTL {cache_ttl_ms} ms)"
    );
    for log in [stack.log_text(), b.log_text()] {
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_degrades_gracefully_and_loses_no_link() {
    let mut redis = redis_server();
    let stack = Stack::start_with(Options {
        config_extra: redis_store_section(&redis, 2000),
        ..Options::default()
    })
    .await;
    // Links written through the store API into the same Redis.
    let api = RedisStore::open(
        &StoreSettings {
            backend: StoreBackend::Redis,
            url: Some(redis.url()),
            ..StoreSettings::default()
        },
        stack.dir.path(),
    )
    .await
    .expect("store API");
    let links: Vec<AccountLink> = (0..50)
        .map(|i| AccountLink {
            oid: EsiaOid(format!("{}", 9_000_000 + i)),
            login: LegacyLogin(format!("outage.{i}")),
            kind: if i % 2 == 0 {
                LinkKind::Own
            } else {
                LinkKind::Child
            },
            source: LinkSource::Password,
            created_at: 1_700_000_000 + i,
        })
        .collect();
    for l in &links {
        api.put_link(l).await.expect("link before the outage");
    }

    let client = raw_client();
    assert_eq!(readyz(&client, &stack).await.0, 200);
    let person = Browser::new();
    let page = person.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let errors_before = counter_sum(&stack.metrics().await, "esia_gate_store_errors_total");

    let total = 300;
    let (down_at, up_at) = (100, 200);
    let mut ok_while_down = 0;
    let mut checked_down = false;
    for i in 0..total {
        if i == down_at {
            redis.kill();
        }
        if i == up_at {
            redis.restart().expect("restart redis-server");
            let deadline = Instant::now() + Duration::from_secs(15);
            while readyz(&client, &stack).await.0 != 200 {
                assert!(
                    Instant::now() < deadline,
                    "not ready 15 s after Redis came back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let a = person.get(&stack.url("/grades")).await;
        assert_eq!(
            a.status, 200,
            "request {i}: a person already in keeps working: {}",
            a.body
        );
        if (down_at..up_at).contains(&i) {
            ok_while_down += 1;
        }
        if i == down_at + 50 {
            // A new login cannot be remembered: the 503 page.
            let newcomer = Browser::new();
            let page = newcomer.follow(&stack.url("/grades")).await;
            assert_eq!(page.status, 503, "{}", page.body);
            assert!(!page.body.is_empty());
            let (status, body) = readyz(&client, &stack).await;
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["store"], false, "{body}");
            checked_down = true;
        }
    }
    assert!(checked_down);
    assert_eq!(ok_while_down, up_at - down_at);

    let (status, body) = readyz(&client, &stack).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"], true, "{body}");
    let scrape = stack.metrics().await;
    let errors_after = counter_sum(&scrape, "esia_gate_store_errors_total");
    assert!(
        errors_after > errors_before,
        "store errors {errors_before} -> {errors_after}"
    );
    assert!(
        scrape.contains("esia_gate_store_errors_total{backend=\"redis\""),
        "{scrape}"
    );
    // A new login works again.
    let again = Browser::new()
        .login(&stack, "/grades", persons::IVANOVA)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);

    let log = stack.log_text();
    assert!(!log.contains("panicked"), "{log}");
    for l in &links {
        assert_eq!(
            api.links_of(&l.oid).await.expect("links after the outage"),
            vec![l.clone()]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brute_force_limit_of_manual_linking_counts_across_instances() {
    let redis = redis_server();
    let stack = Stack::start_with(Options {
        config_extra: redis_store_section(&redis, 500),
        peers: 1,
        ..Options::default()
    })
    .await;
    let b = &stack.peers[0];
    let browser = Browser::new();
    // Сидоров is not in the diary: the linking page, on instance A.
    let link = browser.login(&stack, "/grades", persons::SIDOROV).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    let csrf = support::hidden_value(&link.body, "csrf").expect("csrf");
    let wrong = [
        ("csrf", csrf.as_str()),
        ("login", "kuznetsova.o"),
        ("password", "wrong"),
    ];
    // Cookies ignore the port: the same session reaches both instances.
    for url in [
        stack.url("/esia-gate/link"),
        b.url("/esia-gate/link"),
        stack.url("/esia-gate/link"),
        b.url("/esia-gate/link"),
        stack.url("/esia-gate/link"),
    ] {
        let a = browser.post_form(&url, &wrong).await;
        assert_eq!(a.status, 400, "{url}: {}", a.body);
    }
    let right = [
        ("csrf", csrf.as_str()),
        ("login", "kuznetsova.o"),
        ("password", "demo"),
    ];
    for url in [b.url("/esia-gate/link"), stack.url("/esia-gate/link")] {
        let sixth = browser.post_form(&url, &right).await;
        assert_eq!(sixth.status, 429, "{url}: {}", sixth.body);
    }
}

/// A gateway started on a Redis holding the version 1 key layout moves it
/// to version 2 by itself, and a person linked in version 1 goes straight
/// in (before, during and after the move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_on_the_version_1_layout_migrates_it_at_start() {
    let redis = redis_server();
    let k = |p: &str| format!("esia-gate:v1:{{durable}}:{p}");
    let run = |args: &[&str]| {
        let r = esia_gate_dev::redis::command(redis.port(), args).expect("redis");
        assert!(!r.starts_with('-'), "{args:?}: {r}");
    };
    let link = format!(
        r#"{{"oid":"{}","login":"kuznetsova.o","kind":"own","source":"password","created_at":1}}"#,
        persons::KUZNETSOVA
    );
    run(&[
        "HSET",
        &k(&format!("links:{}", persons::KUZNETSOVA)),
        "own:kuznetsova.o",
        &link,
    ]);
    run(&["HSET", &k("owners"), "kuznetsova.o", persons::KUZNETSOVA]);
    run(&["SADD", &k("oids"), persons::KUZNETSOVA]);
    let stack = Stack::start_with(Options {
        config_extra: redis_store_section(&redis, 500),
        ..Options::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let layout =
            esia_gate_dev::redis::command(redis.port(), &["GET", "esia-gate:v1:{meta}:layout"])
                .expect("layout");
        if layout.contains("\r\n2\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "not migrated: {layout}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left = esia_gate_dev::redis::command(redis.port(), &["EXISTS", &k("oids"), &k("owners")])
        .expect("exists");
    assert!(left.starts_with(":0"), "version 1 keys left: {left}");
    let page = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );
    assert!(
        stack.log_text().contains("version 1 records moved"),
        "{}",
        stack.log_text()
    );
}
