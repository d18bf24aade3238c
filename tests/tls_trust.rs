//! A region's own CA: ESIA (or a broker), the diary and the signing service
//! behind https with a certificate of a CA that no public root list holds
//! (made here by the real `openssl`). Each is refused until the
//! configuration names the CA (`[tls] ca_file`, or the client's own
//! `ca_file`), and works once it does.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use esia_gate_dev::tls_proxy::{self, TestCa};
use support::{Browser, Stack, element_text, hidden_value, persons};

/// `backend` behind a TLS terminator with the test CA's certificate; its
/// https port.
async fn behind_tls(ca: &TestCa, backend: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let ca = TestCa {
        ca: ca.ca.clone(),
        cert: ca.cert.clone(),
        key: ca.key.clone(),
    };
    let backend = SocketAddr::from(([127, 0, 0, 1], backend));
    tokio::spawn(async move { tls_proxy::serve(listener, &ca, backend).await });
    port
}

fn edit_config(stack: &Stack, edit: impl FnOnce(String) -> String) {
    let path = stack.config_path();
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, edit(text)).expect("config");
}

/// A browser trusting the test CA (a person's browser of the region).
fn browser_trusting(ca: &Path) -> Browser {
    let pem = std::fs::read(ca).expect("ca");
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca"))
            .build()
            .expect("client"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diary_behind_the_regions_ca_is_refused_until_upstream_ca_file_names_it() {
    let mut stack = Stack::start().await;
    let ca = tls_proxy::make_test_ca(&stack.dir.path().join("region-ca")).expect("test CA");
    let port = behind_tls(&ca, stack.ports.diary).await;
    let plain = format!("url = \"http://127.0.0.1:{}\"", stack.ports.diary);
    let https = format!("url = \"https://127.0.0.1:{port}\"");
    edit_config(&stack, |t| {
        assert!(t.contains(&plain), "the diary's url");
        t.replace(&plain, &https)
    });
    stack.kill9_and_restart().await;
    let refused = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(refused.status, 502, "{}", refused.body);
    assert!(
        stack.log_text().contains("127.0.0.1"),
        "the failure is logged"
    );

    edit_config(&stack, |t| {
        t.replace(
            &https,
            &format!("{https}\nca_file = \"{}\"", ca.ca.display()),
        )
    });
    stack.kill9_and_restart().await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
    // Manual linking checks the password at the same diary, trusting the
    // same CA.
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    let csrf = hidden_value(&link.body, "csrf").expect("csrf");
    let linked = b
        .post_form(
            &stack.url("/esia-gate/link"),
            &[
                ("csrf", csrf.as_str()),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(linked.status, 302, "{}", linked.body);
    let page = b.follow(&stack.url("/grades")).await;
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("kuznetsova.o"),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esia_behind_the_regions_ca_is_refused_until_tls_ca_file_names_it() {
    let mut stack = Stack::start().await;
    let ca = tls_proxy::make_test_ca(&stack.dir.path().join("region-ca")).expect("test CA");
    let port = behind_tls(&ca, stack.ports.emulator).await;
    let https = format!("https://127.0.0.1:{port}");
    let plain = std::mem::replace(&mut stack.esia_url, https.clone());
    edit_config(&stack, |t| {
        let from = format!("base_url = \"{plain}\"");
        assert!(t.contains(&from), "ESIA's base_url");
        t.replace(&from, &format!("base_url = \"{https}\""))
    });
    stack.kill9_and_restart().await;
    // The person's browser trusts the region's CA; the gateway does not
    // yet: the code cannot be exchanged.
    let refused = browser_trusting(&ca.ca)
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert!(
        refused.status.is_server_error(),
        "{}: {}",
        refused.status,
        refused.body
    );
    assert!(refused.body.contains("Госуслуги"), "{}", refused.body);

    // Only the region's CA, no public roots at all.
    edit_config(&stack, |t| {
        format!(
            "{t}\n[tls]\nca_file = \"{}\"\nroots = \"none\"\n",
            ca.ca.display()
        )
    });
    stack.kill9_and_restart().await;
    let page = browser_trusting(&ca.ca)
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_service_behind_the_regions_ca_needs_its_ca_file() {
    let mut stack = Stack::start().await;
    let ca = tls_proxy::make_test_ca(&stack.dir.path().join("region-ca")).expect("test CA");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let service = listener.local_addr().expect("addr").port();
    let keys = stack.dir.path().join("keys");
    let signed = Arc::new(AtomicU64::new(0));
    tokio::spawn(esia_gate_dev::signing_service::serve(
        listener,
        keys.join("client-cert.pem"),
        keys.join("client-key.pem"),
        None,
        signed,
    ));
    let port = behind_tls(&ca, service).await;
    let url = format!("url = \"https://127.0.0.1:{port}/sign\"\noutput = \"base64\"\n");
    stack.use_external_signer(&url).await;
    let refused = Browser::new()
        .get(&stack.url("/esia-gate/login?return_to=/grades"))
        .await;
    assert!(
        refused.status.is_server_error(),
        "{}: {}",
        refused.status,
        refused.body
    );
    edit_config(&stack, |t| {
        t.replace(&url, &format!("{url}ca_file = \"{}\"\n", ca.ca.display()))
    });
    stack.kill9_and_restart().await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
}

fn check(config: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("esia-gate check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_refuses_a_ca_file_it_cannot_use_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = esia_gate_dev::demo::prepare(dir.path(), esia_gate_dev::demo::Ports::DEMO)
        .expect("prepare");
    let text = std::fs::read_to_string(&p.gateway_config).expect("config");
    let ca = tls_proxy::make_test_ca(&dir.path().join("region-ca")).expect("test CA");
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");
    let with = |section: &str| format!("{text}\n{section}\n");
    for (section, key, says) in [
        (
            "[tls]\nca_file = \"/nonexistent/ca.pem\"".to_string(),
            "tls.ca_file",
            "cannot read",
        ),
        (
            format!("[tls]\nca_file = \"{}\"", not_pem.display()),
            "tls.ca_file",
            "no certificate",
        ),
        (
            "[tls]\nroots = \"none\"".to_string(),
            "tls.roots",
            "needs a ca_file",
        ),
        (
            "[tls]\nroots = \"mozilla\"".to_string(),
            "roots",
            "unknown variant",
        ),
    ] {
        std::fs::write(&p.gateway_config, with(&section)).expect("config");
        let (ok, out) = check(&p.gateway_config);
        assert!(!ok, "{section}: {out}");
        assert!(out.contains(key) && out.contains(says), "{section}: {out}");
    }
    // The ESIA client's own key wins over [tls] and is named when wrong.
    let esia_own = text.replace(
        "timeout_seconds = 3\n",
        &format!("timeout_seconds = 3\nca_file = \"{}\"\n", not_pem.display()),
    );
    std::fs::write(
        &p.gateway_config,
        format!("{esia_own}\n[tls]\nca_file = \"{}\"\n", ca.ca.display()),
    )
    .expect("config");
    let (ok, out) = check(&p.gateway_config);
    assert!(!ok && out.contains("esia.ca_file"), "{out}");
    // A good CA, with the system's roots.
    std::fs::write(
        &p.gateway_config,
        with(&format!(
            "[tls]\nca_file = \"{}\"\nroots = \"system\"",
            ca.ca.display()
        )),
    )
    .expect("config");
    let (ok, out) = check(&p.gateway_config);
    assert!(ok, "{out}");
}
