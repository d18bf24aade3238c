//! «Никогда не менее доступен, чем сам дневник»: ESIA goes down in the
//! middle of a school morning. People already logged in through ESIA and
//! password users the policy still allows keep the diary, the instance
//! stays ready for the balancer, and only a new ESIA login gets the page
//! that says Госуслуги do not answer.

mod support;

use support::{Browser, Stack, persons, policy_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esia_down_stops_new_logins_only() {
    // Yaroslavl before its cut-over: password logins are allowed.
    let mut stack = Stack::start_with(policy_options("yaroslavl-2019", "2018-12-15")).await;
    let esia_user = Browser::new();
    let page = esia_user
        .login(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::SMIRNOV,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let password_user = Browser::new();
    let logged_in = password_user
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);

    // Someone is half-way through an ESIA login when ESIA goes down.
    let newcomer = Browser::new();
    let callback = newcomer
        .login_until_callback(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::IVANOVA,
        )
        .await;

    stack.stop_emulator().await;

    let ready = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(
        ready.status(),
        200,
        "an ESIA outage must not drain the instance"
    );
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["esia"], false, "{ready}");
    assert_eq!(ready["ready"], true, "{ready}");

    for _ in 0..5 {
        let grades = esia_user.get(&stack.url("/grades")).await;
        assert_eq!(grades.status, 200, "{}", grades.body);
        assert!(grades.body.contains("smirnov.d"));
        let grades = password_user.get(&stack.url("/grades")).await;
        assert_eq!(grades.status, 200, "{}", grades.body);
    }

    // The new login gets its page (the code cannot be exchanged), within
    // the ESIA timeout.
    let started = std::time::Instant::now();
    let page = newcomer.follow(&callback).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("Госуслуги сейчас не отвечают"),
        "{}",
        page.body
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    // The instance is still ready afterwards, and the others still in.
    assert_eq!(
        reqwest::get(stack.admin_url("/readyz"))
            .await
            .expect("readyz")
            .status(),
        200
    );
    assert_eq!(esia_user.get(&stack.url("/grades")).await.status, 200);
    let scrape = stack.metrics().await;
    assert!(
        scrape.contains("esia_gate_dependency_up{dependency=\"esia\"} 0"),
        "{scrape}"
    );
}
