//! The seeds' stories of how people end up in the right diary account after
//! ESIA, against the emulator, the sample diary and the gateway binary:
//! account choice, manual linking, children, brute force, durable links.

mod support;

use support::{Answer, Browser, Options, Stack, counter, element_text, hidden_value, persons};

fn csrf(page: &Answer) -> String {
    hidden_value(&page.body, "csrf").expect("the page's csrf token")
}

impl Browser {
    async fn gate_post(&self, stack: &Stack, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_form(&stack.url(path), form).await
    }
}

async fn follow_location(b: &Browser, stack: &Stack, a: &Answer) -> Answer {
    let loc = a
        .location()
        .unwrap_or_else(|| panic!("a redirect, got {}: {}", a.status, a.body));
    let url = reqwest::Url::parse(&stack.public_url)
        .expect("url")
        .join(&loc)
        .expect("join");
    b.follow(url.as_str()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_who_is_also_a_parent_chooses_the_parent_account_then_switches() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let choice = b.login(&stack, "/grades", persons::PETROV).await;
    assert_eq!(choice.status, 200, "{}", choice.body);
    assert!(
        choice.url.ends_with("/esia-gate/accounts"),
        "{}",
        choice.url
    );
    assert!(choice.body.contains("Выбор учётной записи"));
    assert!(choice.body.contains("сотрудник") && choice.body.contains("родитель"));
    assert!(choice.body.contains("МОУ СШ №5"));
    let token = csrf(&choice);

    // The diary stays closed until a choice is made.
    let before = b.get(&stack.url("/grades")).await;
    assert_eq!(before.status, 302);

    let chosen = b
        .gate_post(
            &stack,
            "/esia-gate/accounts/select",
            &[("csrf", &token), ("login", "petrov.parent")],
        )
        .await;
    let page = follow_location(&b, &stack, &chosen).await;
    // A parent with one child goes straight to the grades.
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("petrov.parent")
    );
    // The diary's pages carry the gateway's bar to switch later.
    assert!(
        page.body.contains("id=\"esia-gate-account\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("/esia-gate/accounts"));

    // Later: switch to the teacher account from the gateway page, no new login.
    let again = b.get(&stack.url("/esia-gate/accounts")).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("открыта сейчас"));
    let switched = b
        .gate_post(
            &stack,
            "/esia-gate/accounts/select",
            &[("csrf", &csrf(&again)), ("login", "petrov.teacher")],
        )
        .await;
    let page = follow_location(&b, &stack, &switched).await;
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("petrov.teacher")
    );

    // A forged choice of somebody else's account is refused.
    let forged = b
        .gate_post(
            &stack,
            "/esia-gate/accounts/select",
            &[("csrf", &csrf(&again)), ("login", "ivanova.m")],
        )
        .await;
    assert_eq!(forged.status, 403);
    // And a choice without the page's token too.
    let no_token = b
        .gate_post(
            &stack,
            "/esia-gate/accounts/select",
            &[("login", "petrov.parent")],
        )
        .await;
    assert_eq!(no_token.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_with_two_children_attached_by_snils_picks_the_second() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let chooser = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    assert!(
        chooser.url.ends_with("/esia-gate/children"),
        "{}",
        chooser.url
    );
    assert!(chooser.body.contains("Выбор ребёнка"));
    let kids: Vec<&str> = ["ivanov.n", "ivanova.a"]
        .into_iter()
        .filter(|k| chooser.body.contains(&format!("value=\"{k}\"")))
        .collect();
    assert_eq!(kids.len(), 2, "both children listed: {}", chooser.body);
    let second = kids[1];
    let picked = b
        .gate_post(
            &stack,
            "/esia-gate/children/select",
            &[("csrf", &csrf(&chooser)), ("login", second)],
        )
        .await;
    let echo_after = follow_location(&b, &stack, &picked).await;
    assert_eq!(echo_after.status, 200, "{}", echo_after.body);
    let echo = b.get_with(&stack.url("/echo"), &[]).await;
    let v: serde_json::Value = serde_json::from_str(&echo.body).expect("json");
    assert_eq!(v["headers"]["x-remote-user"], "ivanova.m");
    assert_eq!(v["headers"]["x-child-user"], second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_attaches_a_third_child_by_login_and_password() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let chooser = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert!(
        chooser.url.ends_with("/esia-gate/children"),
        "{}",
        chooser.url
    );
    let token = csrf(&chooser);

    // A wrong password, then a login that is not a student's.
    let wrong = b
        .gate_post(
            &stack,
            "/esia-gate/children/attach",
            &[
                ("csrf", &token),
                ("login", "kuznetsov.i"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    let not_student = b
        .gate_post(
            &stack,
            "/esia-gate/children/attach",
            &[
                ("csrf", &token),
                ("login", "smirnov.d"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(not_student.status, 400);
    assert!(
        not_student.body.contains("не учётная запись ученика"),
        "{}",
        not_student.body
    );

    let third = b
        .gate_post(
            &stack,
            "/esia-gate/children/attach",
            &[
                ("csrf", &token),
                ("login", "kuznetsov.i"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(third.status, 302, "{}", third.body);
    let list = b.get(&stack.url("/esia-gate/children")).await;
    assert!(list.body.contains("value=\"kuznetsov.i\""), "{}", list.body);
    assert!(
        list.body.contains("Отвязать"),
        "password-attached child can be removed"
    );

    // The parent can edit the list: remove the attached child.
    let removed = b
        .gate_post(
            &stack,
            "/esia-gate/children/remove",
            &[("csrf", &csrf(&list)), ("login", "kuznetsov.i")],
        )
        .await;
    assert_eq!(removed.status, 302);
    let list = b.get(&stack.url("/esia-gate/children")).await;
    assert!(!list.body.contains("value=\"kuznetsov.i\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_snils_in_the_diary_links_manually_and_next_time_goes_straight_in() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    assert_eq!(link.status, 200, "{}", link.body);
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    assert!(link.body.contains("СНИЛС"), "{}", link.body);
    let linked = b
        .gate_post(
            &stack,
            "/esia-gate/link",
            &[
                ("csrf", &csrf(&link)),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    let page = follow_location(&b, &stack, &linked).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.url.ends_with("/grades"), "{}", page.url);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );

    // Next time, in a new browser: straight to the diary.
    let next = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(
        element_text(&next.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );
    // The password never reaches a log.
    assert!(!stack.log_text().contains("password=demo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_linked_to_another_person_is_refused_with_whom_to_ask() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    b.gate_post(
        &stack,
        "/esia-gate/link",
        &[
            ("csrf", &csrf(&link)),
            ("login", "kuznetsova.o"),
            ("password", "demo"),
        ],
    )
    .await;
    // Сидоров (not in the diary) tries to take Кузнецова's account.
    let other = Browser::new();
    let link = other.login(&stack, "/grades", persons::SIDOROV).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    let refused = other
        .gate_post(
            &stack,
            "/esia-gate/link",
            &[
                ("csrf", &csrf(&link)),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("администратору"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_wrong_password_is_refused_with_the_waiting_page() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::SIDOROV).await;
    let token = csrf(&link);
    for i in 1..=5 {
        let a = b
            .gate_post(
                &stack,
                "/esia-gate/link",
                &[
                    ("csrf", &token),
                    ("login", "kuznetsova.o"),
                    ("password", "wrong"),
                ],
            )
            .await;
        assert_eq!(a.status, 400, "attempt {i}: {}", a.body);
        assert!(a.body.contains("Неверный логин или пароль"));
    }
    // Even the right password is not checked now.
    let sixth = b
        .gate_post(
            &stack,
            "/esia-gate/link",
            &[
                ("csrf", &token),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(sixth.status, 429, "{}", sixth.body);
    assert!(
        sixth.body.contains("Попробуйте снова через"),
        "{}",
        sixth.body
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_links_total{action=\"check\",result=\"wrong_password\"}"
        ),
        5.0
    );
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_links_total{action=\"check\",result=\"rate_limited\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_can_unlink_an_account_from_their_list() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    b.gate_post(
        &stack,
        "/esia-gate/link",
        &[
            ("csrf", &csrf(&link)),
            ("login", "kuznetsova.o"),
            ("password", "demo"),
        ],
    )
    .await;
    let list = b.get(&stack.url("/esia-gate/accounts")).await;
    assert!(list.body.contains("Отвязать"), "{}", list.body);
    let gone = b
        .gate_post(
            &stack,
            "/esia-gate/accounts/unlink",
            &[("csrf", &csrf(&list)), ("login", "kuznetsova.o")],
        )
        .await;
    assert_eq!(gone.status, 302);
    // Next login needs linking again.
    let next = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert!(next.url.ends_with("/esia-gate/link"), "{}", next.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_diary_login_form_loses_nothing() {
    let stack = support::Stack::start_with(support::Options {
        start_diary: false,
        ..support::Options::default()
    })
    .await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    let a = b
        .gate_post(
            &stack,
            "/esia-gate/link",
            &[
                ("csrf", &csrf(&link)),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.body.contains("Не удалось проверить пароль"));
}

/// On a diary that does not read `X-Child-User` (the default,
/// `choose_at_login = false`), a parent with two children opens her own
/// account at once; the bar on the diary's pages leads to the children
/// page, where a child is chosen or attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_parent_opens_her_own_account_and_finds_her_children_in_the_bar() {
    let stack = Stack::start_with(Options {
        config_replace: vec![(
            "choose_at_login = true".to_string(),
            "choose_at_login = false".to_string(),
        )],
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.url.ends_with("/grades"), "{}", page.url);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("ivanova.m")
    );
    assert!(
        page.body.contains("/esia-gate/children"),
        "the bar leads to the children page"
    );
    assert!(!page.body.contains("Оценки: Никита"), "her own grades");
    // A parent whose ESIA account lists no child finds the page too.
    let children = b.get(&stack.url("/esia-gate/children")).await;
    assert!(
        children.body.contains("Привязать ребёнка"),
        "{}",
        children.body
    );
}

/// Someone with no diary account at all (Сидоров) is not left on a form he
/// cannot fill: the linking page leads to who creates accounts, how to get
/// one, whom to ask, and out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_a_diary_account_learns_who_helps_and_can_log_out() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let link = b.login(&stack, "/grades", persons::SIDOROV).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    assert!(link.body.contains("/esia-gate/no-account"), "{}", link.body);
    assert!(link.body.contains("/esia-gate/logout"), "a way out");
    let help = b.get(&stack.url("/esia-gate/no-account")).await;
    assert_eq!(help.status, 200, "{}", help.body);
    assert!(help.body.contains("создаёт школа"), "{}", help.body);
    assert!(help.body.contains("Помощь"), "the region's contacts");
    assert!(help.body.contains("/esia-gate/logout"));
    let out = b.logout(&stack.url("/esia-gate/logout")).await;
    assert_eq!(out.status, 302, "{}", out.body);
}
