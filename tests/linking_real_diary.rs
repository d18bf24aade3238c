//! Manual linking in front of a diary that behaves like real ones
//! (RosarioSIS and other PHP systems): its login form is accepted only with
//! the cookie and the CSRF token its login page hands out, and a successful
//! login answers with a relative `Location`. Кузнецова (no SNILS at ESIA)
//! links her diary account `kuznetsova.o` with its password: the gateway
//! checks it as a browser would, so the right password links and a wrong
//! one is refused — and without the login page first, as the gateway did
//! before, even the right one is refused.

mod support;

use support::{Answer, Browser, Options, Stack, element_text, hidden_value, persons};

/// The login form needs the page's cookie and token (`login_token`).
fn demanding(c: &mut esia_gate_dev::diary::DiaryConfig) {
    c.login_token = true;
}

/// The same, and a successful login redirects to `grades?welcome=1`.
fn demanding_relative(c: &mut esia_gate_dev::diary::DiaryConfig) {
    c.login_token = true;
    c.relative_redirect = true;
}

fn options(setup: fn(&mut esia_gate_dev::diary::DiaryConfig), diary_login: &str) -> Options {
    Options {
        diary_setup: setup,
        config_replace: vec![(
            "success = \"redirect:/grades\"\n".into(),
            diary_login.to_string(),
        )],
        ..Options::default()
    }
}

async fn link(stack: &Stack, b: &Browser, csrf: &str, password: &str) -> Answer {
    b.post_form(
        &stack.url("/esia-gate/link"),
        &[
            ("csrf", csrf),
            ("login", "kuznetsova.o"),
            ("password", password),
        ],
    )
    .await
}

/// Кузнецова comes back from ESIA to the linking page, tries a wrong
/// password (refused, the form again), then the right one: she is in her
/// diary account.
async fn wrong_then_right(stack: &Stack) {
    let b = Browser::new();
    let page = b.login(stack, "/grades", persons::KUZNETSOVA).await;
    assert!(page.url.ends_with("/esia-gate/link"), "{}", page.url);
    let csrf = hidden_value(&page.body, "csrf").expect("the page's csrf token");

    let wrong = link(stack, &b, &csrf, "Demo").await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("Неверный логин или пароль дневника"),
        "{}",
        wrong.body
    );

    let right = link(stack, &b, &csrf, "demo").await;
    assert_eq!(right.status, 302, "{}", right.body);
    let to = right.location().expect("where to go");
    let url = reqwest::Url::parse(&stack.public_url)
        .and_then(|u| u.join(&to))
        .expect("url");
    let grades = b.follow(url.as_str()).await;
    assert_eq!(grades.status, 200, "{}", grades.body);
    assert_eq!(
        element_text(&grades.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );
    let log = stack.log_text();
    assert!(!log.contains("Demo") && !log.contains("password=demo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_whose_login_needs_its_pages_cookie_and_token_links_the_right_password_only() {
    // The demo's own [diary_login]: page fetched first by default.
    let stack = Stack::start_with(options(demanding, "success = \"redirect:/grades\"\n")).await;
    wrong_then_right(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_answering_with_a_relative_location_links_the_right_password_only() {
    // A rule with a query: the relative `grades?welcome=1` is read against
    // the form's address, as a browser reads it.
    let stack = Stack::start_with(options(
        demanding_relative,
        "success = \"redirect:/grades?welcome=1\"\npage_url = \"/login\"\n",
    ))
    .await;
    wrong_then_right(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_login_page_first_the_demanding_diary_refuses_even_the_right_password() {
    // How the gateway checked before: the form posted bare. The diary
    // answers as to a wrong password, so nothing can be linked.
    let stack = Stack::start_with(options(
        demanding,
        "success = \"redirect:/grades\"\nfetch_page = false\n",
    ))
    .await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    let csrf = hidden_value(&page.body, "csrf").expect("the page's csrf token");
    let right = link(&stack, &b, &csrf, "demo").await;
    assert_eq!(right.status, 400, "{}", right.body);
}
