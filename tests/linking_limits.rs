//! The brute-force limit of manual linking holds when the guesses come all
//! at once: Сидоров (nothing of his in the diary, so he gets the linking
//! page) sends sixty wrong passwords together from one session, and the
//! sample diary is asked at most `max_failures` (5) times; the right
//! password sent after that is refused too and links nothing. Once with the
//! embedded store, once with two gateway instances sharing one Redis. Only
//! wrong passwords count: a right one, or a diary that never answered, does
//! not bring anyone closer to the limit.

mod support;

use support::{Answer, Browser, Options, Stack, counter, hidden_value, persons};

const MAX_FAILURES: u64 = 5;
const GUESSES: usize = 60;

/// `esia_gate_links_total{action="check",result=RESULT}` in a scrape.
fn check_series(scrape: &str, result: &str) -> f64 {
    counter(
        scrape,
        &format!("esia_gate_links_total{{action=\"check\",result=\"{result}\"}}"),
    )
}

/// How many login form submissions the sample diary has seen.
async fn diary_login_posts(stack: &Stack) -> u64 {
    let url = format!("http://127.0.0.1:{}/__diary/stats", stack.ports.diary);
    let v: serde_json::Value = reqwest::get(&url)
        .await
        .expect("diary stats")
        .json()
        .await
        .expect("diary stats json");
    v["login_posts"].as_u64().expect("login_posts")
}

/// Make the diary take `ms` to answer each login form submission, so that
/// guesses sent together are all in flight at the same time (a quick diary
/// would answer each before the next one arrives, hiding a race).
async fn slow_diary_logins(stack: &Stack, ms: u64) {
    let url = format!(
        "http://127.0.0.1:{}/__diary/login-delay?ms={ms}",
        stack.ports.diary
    );
    let r = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .expect("diary login delay");
    assert!(r.status().is_success(), "login delay: {}", r.status());
}

/// Сидоров logs in and lands on the linking page; its csrf token.
async fn sidorov_on_the_linking_page(stack: &Stack, b: &Browser) -> String {
    let link = b.login(stack, "/grades", persons::SIDOROV).await;
    assert_eq!(link.status, 200, "{}", link.body);
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    hidden_value(&link.body, "csrf").expect("the page's csrf token")
}

/// Send every guess at once (one session, as many connections as the
/// client opens) and return the answers.
async fn all_at_once(b: &Browser, urls: &[String], csrf: &str) -> Vec<Answer> {
    let form = [
        ("csrf", csrf),
        ("login", "kuznetsova.o"),
        ("password", "wrong"),
    ];
    let guesses = (0..GUESSES).map(|i| b.post_form(&urls[i % urls.len()], &form));
    futures_util::future::join_all(guesses).await
}

/// The answers to the guesses: exactly the limit were checked at the diary
/// (the linking form again, 400), the rest refused with the waiting page.
fn assert_only_the_limit_went_through(answers: &[Answer]) {
    let wrong = answers.iter().filter(|a| a.status == 400).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(
        (wrong, limited),
        (MAX_FAILURES as usize, GUESSES - MAX_FAILURES as usize),
        "statuses: {:?}",
        answers
            .iter()
            .map(|a| a.status.as_u16())
            .collect::<Vec<_>>()
    );
    for a in answers.iter().filter(|a| a.status == 400) {
        assert!(a.body.contains("Неверный логин или пароль"), "{}", a.body);
    }
    for a in answers.iter().filter(|a| a.status == 429) {
        assert!(a.body.contains("Попробуйте снова через"), "{}", a.body);
    }
}

/// After the limit: the right pair (Кузнецова's own diary login, which is
/// free) is refused unchecked, and Сидоров is still on the linking page.
async fn the_right_password_links_nothing(stack: &Stack, b: &Browser, url: &str, csrf: &str) {
    let posts_before = diary_login_posts(stack).await;
    let right = b
        .post_form(
            url,
            &[
                ("csrf", csrf),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(
        right.body.contains("Попробуйте снова через"),
        "{}",
        right.body
    );
    assert_eq!(
        diary_login_posts(stack).await,
        posts_before,
        "the right password was not even sent to the diary"
    );
    let after = b.follow(&stack.url("/grades")).await;
    assert!(
        after.url.ends_with("/esia-gate/link"),
        "no account was linked: {} {}",
        after.url,
        after.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_wrong_passwords_at_once_reach_the_diary_at_most_five_times() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let csrf = sidorov_on_the_linking_page(&stack, &b).await;
    slow_diary_logins(&stack, 400).await;
    let posts_before = diary_login_posts(&stack).await;

    let answers = all_at_once(&b, &[stack.url("/esia-gate/link")], &csrf).await;

    let asked = diary_login_posts(&stack).await - posts_before;
    assert!(
        asked <= MAX_FAILURES,
        "the diary was asked {asked} times for {GUESSES} guesses sent at once"
    );
    assert_eq!(asked, MAX_FAILURES, "every granted guess was checked");
    assert_only_the_limit_went_through(&answers);

    the_right_password_links_nothing(&stack, &b, &stack.url("/esia-gate/link"), &csrf).await;

    let scrape = stack.metrics().await;
    assert_eq!(check_series(&scrape, "wrong_password"), MAX_FAILURES as f64);
    assert_eq!(
        check_series(&scrape, "rate_limited"),
        (GUESSES - MAX_FAILURES as usize + 1) as f64
    );
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_links_total{action=\"link\",result=\"ok\"}"
        ),
        0.0
    );
    let log = stack.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("password=demo") && !log.contains("password=wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_guesses_split_over_two_instances_sharing_redis_reach_the_diary_at_most_five_times() {
    let redis = support::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let stack = Stack::start_with(Options {
        config_extra: support::redis_store_section(&redis, 500),
        peers: 1,
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    let csrf = sidorov_on_the_linking_page(&stack, &b).await;
    slow_diary_logins(&stack, 400).await;
    let posts_before = diary_login_posts(&stack).await;

    // Cookies ignore the port: one session, sent to both instances.
    let urls = [
        stack.url("/esia-gate/link"),
        stack.peers[0].url("/esia-gate/link"),
    ];
    let answers = all_at_once(&b, &urls, &csrf).await;

    let asked = diary_login_posts(&stack).await - posts_before;
    assert!(
        asked <= MAX_FAILURES,
        "the diary was asked {asked} times for {GUESSES} guesses sent at once"
    );
    assert_eq!(asked, MAX_FAILURES, "every granted guess was checked");
    assert_only_the_limit_went_through(&answers);

    the_right_password_links_nothing(&stack, &b, &urls[1], &csrf).await;
    for log in [stack.log_text(), stack.peers[0].log_text()] {
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_is_not_counted_as_a_failure() {
    let stack = Stack::start().await;
    let b = Browser::new();
    // Иванова attaches a third child by the child's diary login.
    let chooser = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert!(
        chooser.url.ends_with("/esia-gate/children"),
        "{}",
        chooser.url
    );
    let csrf = hidden_value(&chooser.body, "csrf").expect("csrf");
    let attach = |password: &'static str| {
        let form = [
            ("csrf", csrf.as_str()),
            ("login", "kuznetsov.i"),
            ("password", password),
        ];
        let url = stack.url("/esia-gate/children/attach");
        let b = &b;
        async move { b.post_form(&url, &form).await }
    };
    for _ in 0..MAX_FAILURES - 1 {
        assert_eq!(attach("nope").await.status, 400);
    }
    let right = attach("demo").await;
    assert_eq!(right.status, 302, "{}", right.body);
    // The success gave its attempt back: one more failure is still allowed.
    assert_eq!(attach("nope").await.status, 400);
    let scrape = stack.metrics().await;
    assert_eq!(check_series(&scrape, "wrong_password"), MAX_FAILURES as f64);
    assert_eq!(check_series(&scrape, "rate_limited"), 0.0);
    // And that was the last one.
    attach("nope").await;
    let scrape = stack.metrics().await;
    assert_eq!(check_series(&scrape, "wrong_password"), MAX_FAILURES as f64);
    assert_eq!(check_series(&scrape, "rate_limited"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_the_diary_never_answered_are_not_counted() {
    let stack = Stack::start_with(Options {
        start_diary: false,
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    let csrf = sidorov_on_the_linking_page(&stack, &b).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("login", "kuznetsova.o"),
        ("password", "wrong"),
    ];
    for i in 0..2 * MAX_FAILURES {
        let a = b.post_form(&stack.url("/esia-gate/link"), &form).await;
        assert_eq!(a.status, 503, "attempt {i}: {}", a.body);
        assert!(a.body.contains("Не удалось проверить пароль"), "{}", a.body);
    }
    let scrape = stack.metrics().await;
    assert_eq!(check_series(&scrape, "rate_limited"), 0.0);
    assert_eq!(
        check_series(&scrape, "diary_unreachable"),
        (2 * MAX_FAILURES) as f64
    );
}
