//! The schools' reports in a real headless Chromium, as school staff open
//! them on a desktop (1280 × 800) and on a phone: who has not come in
//! through Госуслуги yet, a class teacher's parents of 7Б, the failed
//! matches with whom they are about and where to fix them, and the page a
//! mistyped filter gets. Screenshots go to `target/screenshots/reports-*`.

mod support;

use std::time::{Duration, Instant};

use support::browser::Driver;
use support::{Browser, Options, Stack, persons};

const ESIA_LOGIN: &str = "/esia-gate/login?return_to=%2Fgrades";

/// Yaroslavl before its cut-over (password logins are recorded), the
/// directory re-read every second.
fn options() -> Options {
    Options {
        config_extra: format!(
            "[policy]\nfile = \"{}/policies/yaroslavl-2019.toml\"\nrehearse_date = \"2018-12-15\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        config_replace: vec![(
            "[directory]\n".into(),
            "[directory]\ncsv_reload_seconds = 1\n".into(),
        )],
        ..Options::default()
    }
}

/// A week of logins: Иванова through ESIA, Петров by password, Сидоров
/// (not in the diary), Кузнецова (no SNILS at ESIA) and Смирнов (his
/// surname mistyped in the diary) finding no account.
async fn a_week(stack: &Stack) {
    Browser::new()
        .login(stack, ESIA_LOGIN, persons::IVANOVA)
        .await;
    let teacher = Browser::new()
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(teacher.status, 302, "{}", teacher.body);
    let path = stack.dir.path().join("data").join("accounts.csv");
    let text = std::fs::read_to_string(&path).expect("accounts.csv");
    let aside = path.with_extension("csv.new");
    std::fs::write(
        &aside,
        text.replace("smirnov.d,СМИРНОВ,", "smirnov.d,СМИРНОВА,"),
    )
    .expect("write");
    std::fs::rename(&aside, &path).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = reqwest::get(stack.admin_url("/reports/adoption.json?role=staff"))
            .await
            .expect("admin")
            .text()
            .await
            .expect("text");
        if page.contains("СМИРНОВА") {
            break;
        }
        assert!(Instant::now() < deadline, "the directory was not reloaded");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for oid in [persons::SIDOROV, persons::KUZNETSOVA, persons::SMIRNOV] {
        Browser::new().login(stack, ESIA_LOGIN, oid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn school_staff_read_the_reports_in_a_browser() {
    let stack = Stack::start_with(options()).await;
    a_week(&stack).await;
    let d = Driver::start_sized(1280, 800).await;

    // Who has not come in yet: the state filter, in words.
    d.goto(&stack.admin_url("/reports/adoption?state=never"))
        .await;
    d.expect_text("h1", "Вход через Госуслуги: кто уже перешёл")
        .await;
    let source = d.page_source().await;
    assert!(
        source.contains("<option value=\"never\" selected=\"\">ещё не входили</option>")
            || source.contains("<option value=\"never\" selected>ещё не входили</option>")
    );
    assert!(source.contains("<td>orlova.t</td>"), "not yet come");
    assert!(!source.contains("<td>ivanova.m</td>"), "came through ESIA");
    assert!(!source.contains("<td>never</td>") && !source.contains("<td>parent</td>"));
    d.screenshot("reports-adoption-never-desktop.png").await;

    // A class teacher of 7Б: her class's parents.
    d.goto(&stack.admin_url("/reports/adoption?class=7%D0%91&role=parent"))
        .await;
    let source = d.page_source().await;
    assert!(source.contains("<td>petrov.parent</td>"), "{source}");
    d.screenshot("reports-adoption-7b-parents-desktop.png")
        .await;

    // Failed matches: whom, why, where to fix it.
    d.goto(&stack.admin_url("/reports/match-failures")).await;
    d.expect_text("h1", "Неудачные сопоставления с Госуслугами")
        .await;
    let source = d.page_source().await;
    for name in [
        "Сидоров Алексей Николаевич",
        "Кузнецова Ольга Владимировна",
        "Смирнов Дмитрий Алексеевич",
    ] {
        assert!(source.contains(&format!("<td>{name}</td>")), "{name}");
    }
    assert!(source.contains("<td>на Госуслугах (сам человек)</td>"));
    assert!(source.contains("<td>в дневнике (школа)</td>"));
    d.screenshot("reports-match-failures-desktop.png").await;

    // A mistyped filter: a page that says what is allowed.
    d.goto(&stack.admin_url("/reports/adoption?state=nevr"))
        .await;
    d.expect_text_containing("#bad-parameter", "never (ещё не входили)")
        .await;
    d.screenshot("reports-bad-parameter-desktop.png").await;
    d.quit().await;

    // The same on a phone.
    let phone = Driver::start().await;
    phone
        .goto(&stack.admin_url("/reports/match-failures"))
        .await;
    phone
        .expect_text("h1", "Неудачные сопоставления с Госуслугами")
        .await;
    phone.screenshot("reports-match-failures-phone.png").await;
    phone
        .goto(&stack.admin_url("/reports/adoption?state=not_esia"))
        .await;
    phone.screenshot("reports-adoption-not-yet-phone.png").await;
    phone.quit().await;
}
