//! The regions' cut-overs, enforced on the sample diary's own pages through
//! the gateway binary. The date is injected through the gateway's rehearsal
//! mode (`policy.rehearse_date`, moved with `PUT /rehearse-date` on the
//! admin listener), so one password session lives across the cut-over.

mod support;

use support::{Answer, Browser, Options, Stack, counter, element_text, persons};

fn policy(file: &str, date: &str) -> Options {
    support::policy_options(file, date)
}

/// Log in with the diary's own form, through the gateway.
async fn password_login(b: &Browser, stack: &Stack, login: &str) -> Answer {
    b.post_form(
        &stack.url("/login"),
        &[("login", login), ("password", "demo")],
    )
    .await
}

/// A password login the stage refuses: a page saying why, with the button
/// to log in through ESIA; no diary session.
fn assert_password_login_closed(a: &Answer) {
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("Вход по логину и паролю закрыт"),
        "{}",
        a.body
    );
    assert!(a.body.contains("/esia-gate/login"), "a button to ESIA");
    assert!(a.headers.get("set-cookie").is_none(), "no diary session");
}

async fn api(b: &Browser, stack: &Stack) -> Answer {
    b.get_with(&stack.url("/api/grades"), &[("Accept", "application/json")])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_before_and_after_the_first_of_january_2019() {
    let stack = Stack::start_with(policy("yaroslavl-2019", "2018-12-15")).await;
    let b = Browser::new();

    // 2018-12-15: the diary's login page carries the ESIA button, the
    // password login works and grades show with the banner.
    let login_page = b.get(&stack.url("/login")).await;
    assert_eq!(login_page.status, 200, "{}", login_page.body);
    assert!(
        login_page.body.contains("id=\"esia-gate-login\""),
        "{}",
        login_page.body
    );
    assert!(login_page.body.contains("Войти через госуслуги"));
    let logged_in = password_login(&b, &stack, "petrov.teacher").await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);
    let grades = b.get(&stack.url("/grades")).await;
    assert_eq!(grades.status, 200, "{}", grades.body);
    assert!(
        grades.body.contains("id=\"esia-gate-banner\""),
        "{}",
        grades.body
    );
    assert!(grades.body.contains("С 01.01.2019"));
    let json = api(&b, &stack).await;
    assert_eq!(json.status, 200);
    assert!(
        !json.body.contains("esia-gate-banner"),
        "JSON is never touched"
    );
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(v["login"], "petrov.teacher");

    // 2019-01-02: the same session still opens the diary, but not grades.
    stack.set_date("2019-01-02").await;
    let home = b.get(&stack.url("/")).await;
    assert_eq!(home.status, 200, "{}", home.body);
    let closed = b.get(&stack.url("/grades")).await;
    assert_eq!(closed.status, 403, "{}", closed.body);
    assert!(
        closed
            .body
            .contains("Текущая успеваемость доступна только через Госуслуги")
    );
    assert!(
        closed.body.contains("Бумажный дневник"),
        "the alternatives are offered"
    );
    assert!(closed.body.contains("/esia-gate/login"), "a button to ESIA");
    let json = api(&b, &stack).await;
    assert_eq!(json.status, 200, "{}", json.body);
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(v["esia_required"], true, "{v}");

    // An ESIA session sees grades on the same day (anonymous visitors reach
    // the diary's own login page in this stage, so the ESIA login starts at
    // the gateway's button).
    let esia = Browser::new()
        .login(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::SMIRNOV,
        )
        .await;
    assert_eq!(esia.status, 200, "{}", esia.body);
    assert_eq!(
        element_text(&esia.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );

    // A new user's password login never reaches the diary: the person
    // reads why, with the button to Госуслуги.
    let newcomer = Browser::new();
    let refused = password_login(&newcomer, &stack, "orlova.t").await;
    assert_password_login_closed(&refused);
    assert!(
        refused.headers.get("set-cookie").is_none(),
        "no diary session"
    );
    // The existing user may still log in with a password (grades stay closed).
    let again = password_login(&Browser::new(), &stack, "petrov.teacher").await;
    assert_eq!(again.status, 302);
    assert_eq!(again.location().as_deref(), Some("/grades"));

    let scrape = stack.metrics().await;
    assert!(
        counter(
            &scrape,
            "esia_gate_policy_decisions_total{action=\"hide\",mode=\"enforce\",role=\"staff\",route=\"grades_html\"}"
        ) >= 1.0,
        "{scrape}"
    );
    assert!(
        counter(
            &scrape,
            "esia_gate_policy_decisions_total{action=\"deny_password_login\",mode=\"enforce\",role=\"staff\",route=\"login_submit\"}"
        ) >= 1.0,
        "{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irkutsk_a_student_of_13_keeps_the_password_one_of_15_does_not() {
    let stack = Stack::start_with(policy("irkutsk-2018", "2018-12-02")).await;
    let younger = password_login(&Browser::new(), &stack, "sokolov.m").await;
    assert_eq!(younger.status, 302, "{}", younger.body);
    assert_eq!(younger.location().as_deref(), Some("/grades"));
    let older = password_login(&Browser::new(), &stack, "sokolova.e").await;
    assert_password_login_closed(&older);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arkhangelsk_an_unconfirmed_esia_account_gets_the_confirmation_page() {
    let stack = Stack::start_with(policy("arkhangelsk-2024", "2024-07-01")).await;
    // Морозова has a standard account and a parent account in the diary:
    // she is told, in the region's words, to confirm it before any grades.
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::MOROZOVA).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("Нужна подтверждённая учётная запись"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 июля 2024 года"), "{}", page.body);
    assert!(
        page.body.contains("детскую учётную запись"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Сейчас у вас <b>стандартная</b>"));
    // Кузнецова (simplified, no SNILS, nothing matched) could open no
    // diary account with it, whatever its role: she is told how to confirm
    // it before she is ever asked for her diary password.
    let b = Browser::new();
    let first = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    assert_eq!(first.status, 403, "{}: {}", first.url, first.body);
    assert!(first.url.ends_with("/esia-gate/link"), "{}", first.url);
    assert!(first.body.contains("Нужна подтверждённая учётная запись"));
    assert!(first.body.contains("Сейчас у вас <b>упрощённая</b>"));
    assert!(!first.body.contains("type=\"password\""), "{}", first.body);
    // A password posted all the same is not checked.
    let posted = b
        .post_form(
            &stack.url("/esia-gate/link"),
            &[("login", "kuznetsova.o"), ("password", "demo")],
        )
        .await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    assert!(posted.body.contains("Нужна подтверждённая учётная запись"));
    assert_eq!(
        counter(
            &stack.metrics().await,
            "esia_gate_logins_total{outcome=\"below_trust\"}"
        ),
        1.0
    );
    // A confirmed account sees grades.
    let ok = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnevnik_poo_a_simplified_account_is_asked_for_a_standard_one() {
    let stack = Stack::start_with(policy("dnevnik-poo", "2018-01-02")).await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::KUZNETSOVA).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("Нужна стандартная учётная запись"),
        "{}",
        page.body
    );
    assert!(page.body.contains("от 15 минут до 5 дней"), "{}", page.body);
    // A standard account is enough there.
    let ok = Browser::new()
        .login(&stack, "/grades", persons::MOROZOVA)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_counts_what_the_cut_over_would_do_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/yaroslavl-2019.toml"
    ))
    .expect("policy");
    // The 2019 stage in shadow, its date brought forward before today's.
    let shadow = src.replace("from = 2019-01-01", "from = 2018-12-01\nenforce = false");
    let file = dir.path().join("yaroslavl-shadow.toml");
    std::fs::write(&file, shadow).expect("write");
    let stack = Stack::start_with(Options {
        config_extra: format!(
            "\n[policy]\nfile = \"{}\"\nrehearse_date = \"2018-12-15\"\n",
            file.display()
        ),
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(
        password_login(&b, &stack, "petrov.teacher").await.status,
        302
    );
    let series = "esia_gate_policy_decisions_total{action=\"hide\",mode=\"shadow\",role=\"staff\",route=\"grades_html\"}";
    let before = counter(&stack.metrics().await, series);
    for i in 1..=3 {
        let grades = b.get(&stack.url("/grades")).await;
        assert_eq!(grades.status, 200, "still shown in shadow mode");
        assert_eq!(
            counter(&stack.metrics().await, series),
            before + f64::from(i)
        );
    }
    assert!(stack.log_text().contains("policy_shadow"), "audit-logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_drop_nothing_and_a_broken_file_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/yaroslavl-2019.toml"
    ))
    .expect("policy");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, &src).expect("write");
    let stack = Stack::start_with(Options {
        config_extra: format!(
            "\n[policy]\nfile = \"{}\"\nrehearse_date = \"2018-12-15\"\ncheck_seconds = 1\n",
            file.display()
        ),
        ..Options::default()
    })
    .await;
    let gateway_pid = stack.gateway.id();
    let b = Browser::new();
    assert_eq!(
        password_login(&b, &stack, "petrov.teacher").await.status,
        302
    );

    // A request loop runs while the policy is reloaded 50 times; it stops
    // when the reloads are done, and is bounded in count in any case.
    let url = stack.url("/grades");
    let client = b.http.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_load = stop.clone();
    let load = tokio::spawn(async move {
        let mut failed = 0;
        let mut ok = 0;
        for _ in 0..20_000 {
            if stop_load.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    });
    let reloads_ok = "esia_gate_policy_reloads_total{result=\"ok\"}";
    for i in 0..50 {
        // Alternate two valid versions (the banner text differs).
        let text = if i % 2 == 0 {
            src.replace("<b>Внимание!</b>", "<b>Внимание!!</b>")
        } else {
            src.clone()
        };
        let before = counter(&stack.metrics().await, reloads_ok);
        std::fs::write(&file, text).expect("write");
        let _ = std::process::Command::new("kill")
            .args(["-HUP", &gateway_pid.to_string()])
            .status();
        // Each change is really loaded before the next one is written.
        stack.wait_for_counter(reloads_ok, before + 1.0).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load");
    assert_eq!(failed, 0, "{ok} ok");
    assert!(ok > 0, "the load ran during the reloads");
    let scrape = stack.metrics().await;
    assert!(counter(&scrape, reloads_ok) >= 50.0, "{scrape}");

    // A broken file: the old policy stays, the failure is counted.
    let ready_before: serde_json::Value = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    std::fs::write(&file, src.replace("[[stages]]", "[[stagez]]")).expect("write");
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &gateway_pid.to_string()])
        .status();
    stack
        .wait_for_counter("esia_gate_policy_reloads_total{result=\"error\"}", 1.0)
        .await;
    let grades = b.get(&stack.url("/grades")).await;
    assert_eq!(grades.status, 200);
    assert!(
        grades.body.contains("esia-gate-banner"),
        "the old policy still in force"
    );
    let ready_after: serde_json::Value = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ready_before["policy"]["hash"],
        ready_after["policy"]["hash"]
    );
    assert!(stack.log_text().contains("policy file rejected"));
}

/// Body of an answer as raw bytes, with the headers the client saw.
async fn raw(b: &Browser, url: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = b
        .http
        .get(url)
        .header("Accept", "text/html")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("get");
    let status = r.status();
    let headers = r.headers().clone();
    let body = r
        .bytes()
        .await
        .expect("a whole body, framed right")
        .to_vec();
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_goes_into_legacy_pages_without_breaking_them() {
    let stack = Stack::start_with(policy("yaroslavl-2019", "2018-12-15")).await;
    let b = Browser::new();
    assert_eq!(
        password_login(&b, &stack, "petrov.teacher").await.status,
        302
    );

    // windows-1251: still windows-1251, banner readable after decoding.
    let (status, headers, body) = raw(&b, &stack.url("/legacy/cp1251")).await;
    assert_eq!(status, 200);
    let (text, _, bad) = encoding_rs::WINDOWS_1251.decode(&body);
    assert!(!bad, "valid windows-1251");
    assert!(text.contains("esia-gate-banner"), "{text}");
    assert!(
        text.contains("С 01.01.2019"),
        "Cyrillic banner survives: {text}"
    );
    assert!(text.contains("Дневник: оценки за четверть"));
    if let Some(len) = headers.get("content-length") {
        assert_eq!(len.to_str().ok(), Some(body.len().to_string().as_str()));
    }

    // gzip: still gzip, banner inside.
    let (status, headers, body) = raw(&b, &stack.url("/legacy/gzip")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
        .expect("valid gzip");
    assert!(
        text.contains("esia-gate-banner") && text.contains("Сжатая страница"),
        "{text}"
    );

    // chunked: reassembled, banner once, page whole.
    let (status, _, body) = raw(&b, &stack.url("/legacy/chunked")).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    assert_eq!(text.matches("esia-gate-banner").count(), 1, "{text}");
    assert!(text.ends_with("</body></html>"), "{text}");

    // No </body>: the banner still arrives, the page is not cut.
    let (status, _, body) = raw(&b, &stack.url("/legacy/no-body-close")).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    assert!(
        text.contains("esia-gate-banner") && text.contains("оценки за четверть"),
        "{text}"
    );

    // JSON is never touched.
    let json = api(&b, &stack).await;
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("still JSON");
    assert_eq!(v["login"], "petrov.teacher");
}

/// Yaroslavl's cut-over on the gateway's first day: the diary's directory
/// says who has logged in before (`last_login`), so parents active for
/// years are not "new users" only because the gateway never saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_existing_users_from_the_diarys_own_record_on_the_first_day() {
    let stack = Stack::start_with(policy("yaroslavl-2019", "2019-01-02")).await;
    let csv = stack.dir.path().join("data/accounts.csv");
    let text = std::fs::read_to_string(&csv).expect("accounts");
    let mut lines = text.lines();
    let header = format!("{},last_login", lines.next().expect("header"));
    let rows: Vec<String> = lines
        .map(|l| {
            if l.starts_with("petrov.teacher,") {
                format!("{l},2018-11-30")
            } else {
                format!("{l},")
            }
        })
        .collect();
    let series = "esia_gate_directory_reloads_total{result=\"ok\",source=\"csv\"}";
    let before = counter(&stack.metrics().await, series);
    let aside = csv.with_extension("new");
    std::fs::write(&aside, format!("{header}\n{}\n", rows.join("\n"))).expect("write");
    std::fs::rename(&aside, &csv).expect("rename");
    stack.wait_for_counter(series, before + 1.0).await;

    let known = password_login(&Browser::new(), &stack, "petrov.teacher").await;
    assert_eq!(known.status, 302, "{}", known.body);
    assert_eq!(known.location().as_deref(), Some("/grades"));
    let newcomer = password_login(&Browser::new(), &stack, "orlova.t").await;
    assert_password_login_closed(&newcomer);
}

/// The diary's answer to a failed password login (its form again, with an
/// error) carries the banner with its link and the «Войти через
/// госуслуги» button: the moment a password stops working is when a person
/// needs the way to ESIA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_a_failed_password_login_shows_the_banner_and_the_button() {
    let stack = Stack::start_with(policy("yaroslavl-2019", "2018-12-15")).await;
    let failed = Browser::new()
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "wrong")],
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert!(
        failed.body.contains("id=\"esia-gate-banner\""),
        "{}",
        failed.body
    );
    assert!(failed.body.contains("С 01.01.2019"), "{}", failed.body);
    assert!(
        failed.body.contains("id=\"esia-gate-login\""),
        "{}",
        failed.body
    );
    // A successful one is a redirect: nothing to insert, the session is
    // learned as before.
    let ok = password_login(&Browser::new(), &stack, "petrov.teacher").await;
    assert_eq!(ok.status, 302, "{}", ok.body);
}
