//! «No parent left stuck», in a real headless Chromium on a 390 px phone:
//! a password user after the cut-over reads why and has the button; a
//! person with no diary account learns who helps and can leave; a parent
//! on a diary that does not read `X-Child-User` opens her own account and
//! finds her children in the bar. Screenshots in `target/screenshots/`.

mod support;

use support::browser::{Driver, type_into};
use support::{Options, Stack, persons, policy_options};

async fn through_esia(d: &Driver, stack: &Stack, oid: &str) {
    d.goto(&stack.url("/grades")).await;
    d.click(&format!("button[name=\"oid\"][value=\"{oid}\"]"))
        .await;
    d.click("button[name=\"decision\"][value=\"allow\"]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_cut_over_a_password_user_reads_why_and_has_the_button() {
    let stack = Stack::start_with(policy_options("yaroslavl-2019", "2019-01-02")).await;
    let d = Driver::start().await;
    d.goto(&stack.url("/login")).await;
    type_into(&d, "input[name=\"login\"]", "orlova.t").await;
    type_into(&d, "input[name=\"password\"]", "demo").await;
    d.click("form[action=\"/login\"] button, form[action=\"/login\"] input[type=\"submit\"]")
        .await;
    d.expect_text("h1", "Вход по логину и паролю закрыт").await;
    d.find("a.btn[href^=\"/esia-gate/login\"]").await;
    d.screenshot("parents-password-login-closed.png").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_a_diary_account_finds_who_helps_and_the_way_out() {
    let stack = Stack::start().await;
    let d = Driver::start().await;
    through_esia(&d, &stack, persons::SIDOROV).await;
    d.expect_text("h1", "Привязка учётной записи дневника")
        .await;
    d.screenshot("parents-link-form.png").await;
    d.click("a[href=\"/esia-gate/no-account\"]").await;
    d.expect_text("h1", "Нет учётной записи в дневнике").await;
    d.expect_text_containing("main", "Помощь").await;
    d.screenshot("parents-no-diary-account.png").await;
    d.click("a[href=\"/esia-gate/logout\"]").await;
    d.expect_text("h1", "Выйти из дневника?").await;
    d.click("button.primary").await;
    d.expect_text("h1", "Вы вышли из дневника").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_unmodified_diary_a_parent_opens_her_own_account_and_finds_her_children() {
    let stack = Stack::start_with(Options {
        config_replace: vec![(
            "choose_at_login = true".to_string(),
            "choose_at_login = false".to_string(),
        )],
        ..Options::default()
    })
    .await;
    let d = Driver::start().await;
    through_esia(&d, &stack, persons::IVANOVA).await;
    d.expect_text("#remote-user", "ivanova.m").await;
    d.expect_text_containing("#esia-gate-account", "Дети").await;
    d.screenshot("parents-own-account-with-bar.png").await;
    d.click("#esia-gate-account a[href=\"/esia-gate/children\"]")
        .await;
    d.expect_text("h1", "Выбор ребёнка").await;
    d.expect_text_containing("main", "Привязать ребёнка").await;
    d.screenshot("parents-children-page.png").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_password_login_carries_the_banner_and_the_button() {
    let stack = Stack::start_with(policy_options("yaroslavl-2019", "2018-12-15")).await;
    let d = Driver::start().await;
    d.goto(&stack.url("/login")).await;
    type_into(&d, "input[name=\"login\"]", "petrov.teacher").await;
    type_into(&d, "input[name=\"password\"]", "wrong").await;
    d.click("form[action=\"/login\"] button, form[action=\"/login\"] input[type=\"submit\"]")
        .await;
    d.expect_text_containing("#esia-gate-banner", "Войти через Госуслуги")
        .await;
    d.find("#esia-gate-login a").await;
    d.screenshot("parents-failed-password-login.png").await;
    d.quit().await;
}
