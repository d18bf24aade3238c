//! «Every page says what to do next, in the region's own words», in a real
//! headless Chromium on a 390 px phone: the confirmation page under
//! Voronezh 2017 and Arkhangelsk 2024 speaks of that region's date and
//! ways, and ends with who helps; an account no role lets in is told how
//! to raise it before it is ever asked for a diary password; a simplified
//! account under «Дневник-ПОО» is asked for a standard one; the closed
//! grades say it once with the button on the first screen; a refused
//! consent leaves a way out that does not lead back to ESIA. Screenshots
//! go to `target/screenshots/regions-*.png`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::browser::{Driver, type_into};
use support::{Stack, persons};

/// The phone's screen height (CSS pixels), see `Driver::start`.
const FOLD: f64 = 844.0;

async fn log_in_at_esia(d: &Driver, stack: &Stack, oid: &str) {
    d.goto(&stack.url("/grades")).await;
    d.click(&format!("button[name=\"oid\"][value=\"{oid}\"]"))
        .await;
    d.click("button[name=\"decision\"][value=\"allow\"]").await;
}

/// The bottom edge of the first element matching `css`, in CSS pixels from
/// the top of the page.
async fn bottom_of(d: &Driver, css: &str) -> f64 {
    d.find(css).await;
    let v = d
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "return document.querySelector(arguments[0]).getBoundingClientRect().bottom + window.scrollY;",
                "args": [css],
            })),
        )
        .await;
    v.as_f64()
        .unwrap_or_else(|| panic!("no position for {css}: {v}"))
}

/// Every page ends with who helps: the demo's support, then Госуслуги.
async fn expect_help(d: &Driver) {
    d.expect_text_containing("aside.help", "Служба поддержки электронного дневника")
        .await;
    d.expect_text_containing("aside.help", "8 800 100-70-10")
        .await;
    let src = d.page_source().await;
    assert!(src.contains("href=\"tel:88000000000\""), "{src}");
    assert!(src.contains("href=\"mailto:support@diary.example\""));
    assert!(src.contains("https://www.gosuslugi.ru/help"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_page_speaks_of_its_own_region() {
    // Voronezh, a week after the 29.09.2017 cut-over: Морозова's account
    // is standard, not confirmed.
    let stack = Stack::start_with(support::policy_options("voronezh-2017", "2017-10-06")).await;
    let d = Driver::start().await;
    log_in_at_esia(&d, &stack, persons::MOROZOVA).await;
    d.expect_text("h1", "Нужна подтверждённая учётная запись Госуслуг")
        .await;
    let text = d.text("main").await;
    assert!(text.contains("29 сентября 2017 года"), "{text}");
    assert!(text.contains("388 центров обслуживания"), "{text}");
    assert!(text.contains("Сейчас у вас стандартная"), "{text}");
    assert!(!text.contains("2024"), "another region's date: {text}");
    assert!(!text.contains("Т-Банк"), "a bank of 2024 in 2017: {text}");
    expect_help(&d).await;
    d.screenshot("regions-voronezh-2017-confirm.png").await;
    d.quit().await;
    drop(stack);

    // Arkhangelsk, after 01.07.2024: the same person reads that letter's
    // rule and what a parent does for a child under 14.
    let stack = Stack::start_with(support::policy_options("arkhangelsk-2024", "2024-07-02")).await;
    let d = Driver::start().await;
    log_in_at_esia(&d, &stack, persons::MOROZOVA).await;
    d.expect_text("h1", "Нужна подтверждённая учётная запись Госуслуг")
        .await;
    let text = d.text("main").await;
    assert!(text.contains("1 июля 2024 года"), "{text}");
    assert!(text.contains("детскую учётную запись"), "{text}");
    assert!(!text.contains("2017"), "{text}");
    expect_help(&d).await;
    d.screenshot("regions-arkhangelsk-2024-confirm.png").await;

    // Кузнецова's simplified account matches nobody: she would be asked
    // for her diary password, then refused. She is told at once instead.
    d.clear_cookies().await;
    log_in_at_esia(&d, &stack, persons::KUZNETSOVA).await;
    d.expect_text("h1", "Нужна подтверждённая учётная запись Госуслуг")
        .await;
    assert!(d.text("main").await.contains("Сейчас у вас упрощённая"));
    assert!(!d.page_source().await.contains("type=\"password\""));
    d.screenshot("regions-arkhangelsk-2024-confirm-before-linking.png")
        .await;
    // «Выйти и войти снова» asks, then logs out through ESIA.
    d.click("a.btn").await;
    d.expect_text("h1", "Выйти из дневника?").await;
    d.click("button.primary").await;
    d.expect_text("h1", "Вы вышли из дневника").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnevnik_poo_asks_a_simplified_account_for_a_standard_one() {
    let stack = Stack::start_with(support::policy_options("dnevnik-poo", "2018-01-09")).await;
    let d = Driver::start().await;
    log_in_at_esia(&d, &stack, persons::KUZNETSOVA).await;
    d.expect_text("h1", "Нужна стандартная учётная запись Госуслуг")
        .await;
    let text = d.text("main").await;
    assert!(text.contains("как минимум стандартная"), "{text}");
    assert!(text.contains("от 15 минут до 5 дней"), "{text}");
    assert!(text.contains("Сейчас у вас упрощённая"), "{text}");
    expect_help(&d).await;
    d.screenshot("regions-dnevnik-poo-standard.png").await;
    // A standard account opens the diary there.
    d.clear_cookies().await;
    log_in_at_esia(&d, &stack, persons::MOROZOVA).await;
    d.expect_text("#remote-user", "morozova.n").await;
    d.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_closed_grades_fit_a_phone_and_a_refusal_has_a_way_out() {
    let stack = Stack::start_with(support::policy_options("yaroslavl-2019", "2018-12-15")).await;
    let d = Driver::start().await;
    // A teacher logs in by password before the cut-over...
    d.goto(&stack.url("/login")).await;
    type_into(&d, "input[name=\"login\"]", "petrov.teacher").await;
    type_into(&d, "input[name=\"password\"]", "demo").await;
    d.click("form[action=\"/login\"] button, form[action=\"/login\"] input[type=\"submit\"]")
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !d.current_url().await.ends_with("/grades") {
        assert!(std::time::Instant::now() < deadline, "no grades page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and after it finds the grades closed: the region's words once,
    // the button on the first screen, the alternatives below it.
    stack.set_date("2019-01-02").await;
    d.goto(&stack.url("/grades")).await;
    d.expect_text("h1", "Текущая успеваемость доступна только через Госуслуги")
        .await;
    let text = d.text(".card").await;
    assert_eq!(text.matches("Войдите через Госуслуги").count(), 1, "{text}");
    assert_eq!(text.matches("доступна только через").count(), 1, "{text}");
    let button = bottom_of(&d, "a.btn").await;
    assert!(
        button < FOLD,
        "the button ends at {button} px, below the fold"
    );
    assert!(text.contains("Бумажный дневник"), "{text}");
    assert!(!d.page_source().await.contains("Код обращения"));
    expect_help(&d).await;
    d.screenshot("regions-yaroslavl-2019-grades-closed.png")
        .await;

    // Someone refuses consent at ESIA: the region's alternatives, and the
    // diary's own login page (still open to existing users) as a way out
    // that does not lead back to ESIA.
    d.clear_cookies().await;
    d.goto(&stack.url("/esia-gate/login?return_to=/grades"))
        .await;
    d.click(&format!(
        "button[name=\"oid\"][value=\"{}\"]",
        persons::IVANOVA
    ))
    .await;
    d.click("button[name=\"decision\"][value=\"deny\"]").await;
    d.expect_text("h1", "Вы не дали согласие на передачу данных")
        .await;
    let text = d.text(".card").await;
    assert!(text.contains("Рассылка на e-mail"), "{text}");
    assert!(!d.page_source().await.contains("Код обращения"));
    expect_help(&d).await;
    d.screenshot("regions-yaroslavl-2019-consent-refused.png")
        .await;
    d.click("a.btn.secondary").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !d.current_url().await.ends_with("/login") {
        assert!(
            std::time::Instant::now() < deadline,
            "not the diary's login page: {}",
            d.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.find("input[name=\"password\"]").await;
    d.quit().await;
}
