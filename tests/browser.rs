//! The login story in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over the W3C WebDriver protocol. Screenshots
//! of the pages a person sees are saved under `target/screenshots/` for a
//! look.

mod support;

use std::time::Duration;

use support::browser::{Driver, type_into};
use support::{Stack, persons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_logs_in_through_esia_in_a_real_browser() {
    let stack = Stack::start().await;
    let d = Driver::start().await;

    d.goto(&stack.url("/grades")).await;
    d.click(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::IVANOVA
    ))
    .await;
    d.click("button[name=\"decision\"][value=\"allow\"]").await;
    // Two children at ESIA, both in the diary: she picks whose diary to open.
    d.expect_text("h1", "Выбор ребёнка").await;
    d.screenshot("login-story-child-choice.png").await;
    d.click("button[name=\"login\"][value=\"ivanova.a\"]").await;
    d.expect_text("#remote-user", "ivanova.m").await;
    d.expect_text("#auth-method", "esia").await;
    assert!(d.current_url().await.starts_with(&stack.url("/grades")));
    let shot = d.screenshot("login-story-grades.png").await;
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false)
    );

    // She leaves with the diary's own «Выйти»: the gateway session ends as
    // well, so the next person at this computer starts at ESIA's login.
    d.click("header a[href=\"/logout\"]").await;
    d.expect_text("h1", "Вы вышли из дневника").await;
    d.screenshot("login-story-logged-out.png").await;
    d.goto(&stack.url("/grades")).await;
    d.find(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::IVANOVA
    ))
    .await;

    // The refusal story in the same browser, after the session is gone.
    d.clear_cookies().await;
    d.goto(&stack.url("/grades")).await;
    d.click(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::IVANOVA
    ))
    .await;
    d.click("button[name=\"decision\"][value=\"deny\"]").await;
    d.expect_text("h1", "Вы не дали согласие на передачу данных")
        .await;
    let src = d.page_source().await;
    assert!(src.contains("width=device-width"));
    d.screenshot("login-story-refused.png").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choosing_an_account_and_linking_one_in_a_real_browser() {
    let stack = Stack::start().await;
    let d = Driver::start().await;

    // A teacher who is also a parent chooses.
    d.goto(&stack.url("/grades")).await;
    d.click(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::PETROV
    ))
    .await;
    d.click("button[name=\"decision\"][value=\"allow\"]").await;
    d.expect_text("h1", "Выбор учётной записи").await;
    d.screenshot("identity-account-choice.png").await;
    d.click("button[name=\"login\"][value=\"petrov.parent\"]")
        .await;
    d.expect_text("#remote-user", "petrov.parent").await;
    d.expect_text_containing("#esia-gate-account", "Сменить учётную запись")
        .await;
    d.screenshot("identity-account-bar.png").await;

    // Someone without SNILS links by diary login and password.
    d.clear_cookies().await;
    d.goto(&stack.url("/grades")).await;
    d.click(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::KUZNETSOVA
    ))
    .await;
    d.click("button[name=\"decision\"][value=\"allow\"]").await;
    d.expect_text("h1", "Привязка учётной записи дневника")
        .await;
    type_into(&d, "#login", "kuznetsova.o").await;
    type_into(&d, "#password", "wrong").await;
    d.click("button.primary").await;
    d.expect_text_containing(".error", "Неверный логин или пароль")
        .await;
    d.screenshot("identity-link-wrong-password.png").await;
    type_into(&d, "#login", "kuznetsova.o").await;
    type_into(&d, "#password", "demo").await;
    d.click("button.primary").await;
    d.expect_text("#remote-user", "kuznetsova.o").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_banner_and_closed_grades_in_a_real_browser() {
    let stack = Stack::start_with(support::Options {
        config_extra: format!(
            "\n[policy]\nfile = \"{}/policies/yaroslavl-2019.toml\"\nrehearse_date = \"2018-12-15\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        ..support::Options::default()
    })
    .await;
    let d = Driver::start().await;
    // The diary's own login page, with the gateway's button in it.
    d.goto(&stack.url("/login")).await;
    d.expect_text_containing("#esia-gate-login", "Войти через госуслуги")
        .await;
    d.screenshot("policy-login-page-button.png").await;
    type_into(&d, "input[name=\"login\"]", "petrov.teacher").await;
    type_into(&d, "input[name=\"password\"]", "demo").await;
    d.click("form[action=\"/login\"] button, form[action=\"/login\"] input[type=\"submit\"]")
        .await;
    // The login page carries the banner too: wait for the grades page, so
    // the banner read is the new page's, not a stale element of the old one.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !d.current_url().await.ends_with("/grades") {
        assert!(
            std::time::Instant::now() < deadline,
            "no grades page after login"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.expect_text_containing("#esia-gate-banner", "С 01.01.2019")
        .await;
    d.screenshot("policy-banner-before-cut-over.png").await;

    // After the cut-over the same session gets the closed-grades page.
    let r = reqwest::Client::new()
        .put(stack.admin_url("/rehearse-date?date=2019-01-02"))
        .send()
        .await
        .expect("rehearse");
    assert!(r.status().is_success());
    d.goto(&stack.url("/grades")).await;
    // The region's own title, said once, and the button before the fold.
    d.expect_text("h1", "Текущая успеваемость доступна только через Госуслуги")
        .await;
    d.screenshot("policy-grades-closed.png").await;
    d.quit().await;
}
