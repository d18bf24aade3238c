//! The walking skeleton's story against the real ESIA emulator, the sample
//! diary and the gateway binary on loopback: a parent opens a diary page,
//! is sent to ESIA, consents, comes back, is matched by FIO + SNILS and sees
//! the diary as herself; and every bad input ends on a clear Russian page.

mod support;

use support::{Browser, Options, Stack, counter, element_text, persons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_logs_in_through_esia_and_sees_her_grades() {
    let stack = Stack::start().await;
    let b = Browser::new();

    // Anonymous: the diary page sends her to the gateway's login, then ESIA.
    let first = b.get(&stack.url("/grades")).await;
    assert_eq!(first.status, 302);
    let to_login = first.location().expect("redirect");
    assert!(
        to_login.starts_with("/esia-gate/login?return_to="),
        "{to_login}"
    );
    let to_esia = b.get(&stack.url(&to_login)).await;
    assert_eq!(to_esia.status, 302);
    let ac = to_esia.location().expect("ESIA URL");
    assert!(
        ac.starts_with(&format!("{}/aas/oauth2/v2/ac?", stack.esia_url)),
        "{ac}"
    );
    for p in [
        "client_id=DIARY",
        "client_secret=",
        "client_certificate_hash=",
        "response_type=code",
        "access_type=online",
        "timestamp=",
        "state=",
    ] {
        assert!(ac.contains(p), "authorization URL lacks {p}: {ac}");
    }
    let cookie = to_esia
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("esia_gate_login="))
        .expect("browser binding cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // ESIA: login as Иванова, consent, back to the gateway, on to /grades.
    let callback = b
        .login_until_callback(&stack, "/grades", persons::IVANOVA)
        .await;
    assert!(
        callback.starts_with(&stack.url("/esia-gate/callback?code=")),
        "{callback}"
    );
    let back = b.get(&callback).await;
    assert_eq!(back.status, 302, "{}", back.body);
    // She has two children at ESIA, both in the diary: she picks one first.
    assert_eq!(
        back.location().as_deref(),
        Some(stack.url("/esia-gate/children").as_str())
    );
    let session_cookie = back
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("esia_gate_session="))
        .expect("session cookie")
        .to_string();
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    assert!(
        !session_cookie.contains("Secure"),
        "plain http origin: {session_cookie}"
    );

    let chooser = b.get(&stack.url("/esia-gate/children")).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    let csrf = support::hidden_value(&chooser.body, "csrf").expect("csrf");
    let picked = b
        .post_form(
            &stack.url("/esia-gate/children/select"),
            &[("csrf", &csrf), ("login", "ivanova.a")],
        )
        .await;
    assert_eq!(picked.status, 302);
    assert_eq!(
        picked.location().as_deref(),
        Some(stack.url("/grades").as_str())
    );

    let page = b.get(&stack.url("/grades")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("ivanova.m")
    );
    assert_eq!(
        element_text(&page.body, "esia-oid").as_deref(),
        Some(persons::IVANOVA)
    );
    assert_eq!(
        element_text(&page.body, "auth-method").as_deref(),
        Some("esia")
    );
    assert_eq!(
        element_text(&page.body, "esia-trusted").as_deref(),
        Some("true")
    );
    assert_eq!(
        element_text(&page.body, "assertion").as_deref(),
        Some("present")
    );
    assert_eq!(
        element_text(&page.body, "gate-cookie").as_deref(),
        Some("absent")
    );

    // The JSON API works in the same session.
    let api = b
        .get_with(&stack.url("/api/grades"), &[("Accept", "application/json")])
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    let v: serde_json::Value = serde_json::from_str(&api.body).expect("json");
    assert_eq!(v["login"], "ivanova.m");
    assert_eq!(v["via"], "esia");

    let scrape = stack.metrics().await;
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"success\"}"),
        1.0
    );
    assert_eq!(
        counter(&scrape, "esia_gate_match_outcomes_total{outcome=\"one\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_spelling_of_fio_and_snils_still_matches() {
    let stack = Stack::start().await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_consent_explains_what_the_diary_needs() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let (_, request) = b.to_consent(&stack, "/grades", persons::IVANOVA).await;
    let callback = b.decide(&stack, &request, "deny").await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let page = b.get(&callback).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Вы не дали согласие"), "{}", page.body);
    // Without a policy the region's ways without ESIA are unknown: the
    // class teacher knows them. No «На главную»: without a session the
    // diary's front page leads straight back to ESIA.
    assert!(
        page.body.contains("классного руководителя"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("href=\"/\""), "{}", page.body);
    // And still no way into the diary.
    assert_eq!(b.get(&stack.url("/grades")).await.status, 302);
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_logins_total{outcome=\"consent_refused\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_state_asks_to_start_again() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.get(&stack.url("/esia-gate/callback?code=abc")).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Вход не завершён"), "{}", page.body);

    let callback = b
        .login_until_callback(&stack, "/grades", persons::IVANOVA)
        .await;
    let forged = callback.replace("state=", "state=x");
    assert_eq!(b.get(&forged).await.status, 400);

    // A callback carried to another browser (login CSRF) is refused.
    let other = Browser::new();
    let page = other.get(&callback).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Вход не завершён"));
    let scrape = stack.metrics().await;
    assert!(counter(&scrape, "esia_gate_logins_total{outcome=\"bad_state\"}") >= 2.0);
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"bad_binding\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_code_is_refused_by_esia_and_explained() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let first = b
        .login_until_callback(&stack, "/grades", persons::IVANOVA)
        .await;
    assert_eq!(b.get(&first).await.status, 302);
    // A second login in the same browser, answered with the first code.
    let second = b
        .login_until_callback(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::IVANOVA,
        )
        .await;
    let code = |u: &str| {
        url::Url::parse(u)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code")
    };
    let replay = second.replace(&code(&second), &code(&first));
    let page = b.get(&replay).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Вход не завершён"));
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_esia_errors_total{code=\"ESIA-007011\",endpoint=\"te\",kind=\"esia_error\"}"
        ),
        1.0,
        "{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused_and_explained() {
    let stack = Stack::start_with(Options {
        code_ttl_seconds: 1,
        ..Options::default()
    })
    .await;
    let b = Browser::new();
    let callback = b
        .login_until_callback(&stack, "/grades", persons::IVANOVA)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let page = b.get(&callback).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Вход не завершён"));
}

async fn login_with_token_fault(mode: &str) -> (Stack, support::Answer) {
    let stack = Stack::start().await;
    stack.esia_fault("te", mode).await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::IVANOVA).await;
    (stack, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_bad_signature_is_not_trusted() {
    let (stack, page) = login_with_token_fault("bad_signature").await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("Не удалось проверить вход"));
    assert!(
        stack.log_text().contains("signature"),
        "{}",
        stack.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_another_issuer_is_not_trusted() {
    let (stack, page) = login_with_token_fault("wrong_issuer").await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("Не удалось проверить вход"));
    assert!(stack.log_text().contains("issuer"), "{}", stack.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esia_answering_5xx_gets_a_try_again_page() {
    let (stack, page) = login_with_token_fault("status500").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("Госуслуги сейчас не отвечают"));
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_logins_total{outcome=\"esia_unavailable\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esia_timing_out_gets_a_try_again_page_not_a_hang() {
    let (_stack, page) = login_with_token_fault("hang").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("Госуслуги сейчас не отвечают"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_snils_is_offered_manual_linking() {
    let stack = Stack::start().await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.url.ends_with("/esia-gate/link"), "{}", page.url);
    assert!(
        page.body.contains("не указан или не подтверждён СНИЛС"),
        "{}",
        page.body
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_match_outcomes_total{outcome=\"no_snils_from_esia\"}"
        ),
        1.0
    );
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"needs_link\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_not_in_the_diary_is_told_why_and_offered_linking() {
    let stack = Stack::start().await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SIDOROV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.url.ends_with("/esia-gate/link"), "{}", page.url);
    assert!(
        page.body.contains("Привязка учётной записи"),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_diary_gets_a_page_not_a_hang() {
    let stack = Stack::start_with(Options {
        start_diary: false,
        ..Options::default()
    })
    .await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(
        page.body.contains("дневник сейчас недоступен"),
        "{}",
        page.body
    );
    let ready = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_api_calls_get_401_json() {
    let stack = Stack::start().await;
    let b = Browser::new();
    for headers in [
        vec![("Accept", "application/json")],
        vec![("Sec-Fetch-Mode", "cors"), ("Accept", "*/*")],
    ] {
        let a = b.get_with(&stack.url("/api/grades"), &headers).await;
        assert_eq!(a.status, 401, "{headers:?}");
        let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
        assert_eq!(v["error"], "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sent_identity_headers_never_reach_the_diary() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let forged = [
        ("X-Remote-User", "director"),
        ("x_remote_user", "director"),
        ("X-ESIA-OID", "1"),
        ("x-auth_method", "esia"),
        ("X_Esia_Trusted", "true"),
        ("X-Esia-Assertion", "forged"),
        ("X-Forwarded-For", "6.6.6.6"),
    ];
    // Anonymous with forged headers: still sent to login.
    let a = b.get_with(&stack.url("/echo"), &forged).await;
    assert_eq!(a.status, 302);

    let page = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200);
    let echo = b.get_with(&stack.url("/echo"), &forged).await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let v: serde_json::Value = serde_json::from_str(&echo.body).expect("json");
    let h = &v["headers"];
    assert_eq!(h["x-remote-user"], "ivanova.m", "{v}");
    assert_eq!(h["x-esia-oid"], persons::IVANOVA);
    assert_eq!(h["x-auth-method"], "esia");
    assert_eq!(h["x-esia-trusted"], "true");
    // No trusted proxies configured: the peer is the client.
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{v}");
    assert_ne!(h["x-esia-assertion"], "forged");
    for underscore in ["x_remote_user", "x-auth_method", "x_esia_trusted"] {
        assert!(
            h.get(underscore).is_none(),
            "{underscore} reached the diary: {v}"
        );
    }
    let cookies = v["cookies"].as_array().expect("cookies");
    assert!(
        cookies.iter().all(|c| c != "esia_gate_session"),
        "the gateway cookie reached the diary: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diary_hears_the_public_host_and_client_never_the_clients_claims() {
    // Host header injection: a diary that builds links or reset mails from
    // `Host` must not be handed an attacker's host name.
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200);
    let echo = b
        .get_with(
            &stack.url("/echo"),
            &[
                ("Host", "evil.example"),
                ("X-Forwarded-Host", "evil.example"),
                ("Forwarded", "for=6.6.6.6;host=evil.example"),
                ("X-Real-IP", "6.6.6.6"),
                ("True-Client-IP", "6.6.6.6"),
                // IIS URL Rewrite would serve this path instead of /echo.
                ("X-Original-URL", "/grades"),
                ("X-Rewrite-URL", "/grades"),
            ],
        )
        .await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let v: serde_json::Value = serde_json::from_str(&echo.body).expect("json");
    let h = &v["headers"];
    let public = stack.public_url.trim_start_matches("http://");
    assert_eq!(h["host"], public, "{v}");
    assert_eq!(h["x-forwarded-host"], public, "{v}");
    assert_eq!(h["x-real-ip"], "127.0.0.1", "{v}");
    for claim in [
        "forwarded",
        "true-client-ip",
        "x-original-url",
        "x-rewrite-url",
    ] {
        assert!(h.get(claim).is_none(), "{claim} reached the diary: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_page_is_never_left_to_a_shared_cache() {
    // The diary tells pages apart by identity headers a shared cache in
    // front of the gateway never sees.
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200);
    let cache = |a: &support::Answer| {
        a.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    // No word from the diary (its old windows-1251 page says nothing about
    // caching): private.
    let old = b.get(&stack.url("/legacy/cp1251")).await;
    assert_eq!(old.status, 200);
    assert_eq!(cache(&old), "private");
    // The diary's own word stands.
    assert_eq!(cache(&b.get(&stack.url("/grades")).await), "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_named_in_connection_still_reach_the_diary() {
    // Hop-by-hop header abuse: the client lists the identity headers in
    // `Connection`, hoping a proxy between the gateway and the diary drops
    // them after the gateway added them. Pingora drops nominated headers and
    // `Connection` itself before our filter adds the identity; this test
    // keeps that true across Pingora upgrades.
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200);
    let echo = b
        .get_with(
            &stack.url("/echo"),
            &[
                (
                    "Connection",
                    "keep-alive, X-Remote-User, X-Esia-Assertion, X-Request-Id",
                ),
                ("X-Remote-User", "director"),
            ],
        )
        .await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let v: serde_json::Value = serde_json::from_str(&echo.body).expect("json");
    let h = &v["headers"];
    assert_eq!(h["x-remote-user"], "ivanova.m", "{v}");
    assert!(
        h["x-esia-assertion"].as_str().is_some_and(|a| a.len() > 20),
        "{v}"
    );
    assert!(h["x-request-id"].as_str().is_some(), "{v}");
    let connection = h["connection"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        !connection.contains("x-remote-user") && !connection.contains("assertion"),
        "the diary was told to drop identity headers: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_hold_snils_or_tokens() {
    let stack = Stack::start().await;
    for oid in [
        persons::IVANOVA,
        persons::SIDOROV,
        persons::SMIRNOV,
        persons::KUZNETSOVA,
    ] {
        Browser::new().login(&stack, "/grades", oid).await;
    }
    let log = stack.log_text();
    assert!(log.contains("login_result"), "audit lines expected:\n{log}");
    for p in esia_gate_dev::fixtures::demo_persons() {
        let Some(snils) = p.snils.as_deref() else {
            continue;
        };
        let d: String = snils.chars().filter(|c| c.is_ascii_digit()).collect();
        for spelling in [
            d.clone(),
            format!("{}-{}-{} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
            format!("{}-{}-{}-{}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
            format!("{} {} {} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
        ] {
            assert!(!log.contains(&spelling), "a SNILS in the log");
        }
    }
    assert!(!log.contains("eyJ"), "a JWT in the log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_the_diary_cookie_and_goes_through_esia() {
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200);
    // Another site cannot log the person out: a link or an image (GET)
    // only shows the «Выйти?» page, and a form posted without the
    // session's token changes nothing.
    let forged = b.get(&stack.url("/esia-gate/logout")).await;
    assert_eq!(forged.status, 200, "{}", forged.body);
    assert!(forged.headers.get("set-cookie").is_none());
    for csrf in ["", "forged"] {
        let forged = b
            .post_form(&stack.url("/esia-gate/logout"), &[("csrf", csrf)])
            .await;
        assert_eq!(forged.status, 200, "{}", forged.body);
        assert!(forged.headers.get("set-cookie").is_none());
    }
    assert_eq!(b.get(&stack.url("/grades")).await.status, 200, "still in");
    let out = b.logout(&stack.url("/esia-gate/logout")).await;
    assert_eq!(out.status, 302);
    let to_esia = out.location().expect("ESIA logout");
    assert!(
        to_esia.starts_with(&format!(
            "{}/idp/ext/Logout?client_id=DIARY&redirect_url=",
            stack.esia_url
        )),
        "{to_esia}"
    );
    assert_cookie_cleared(&out, "esia_gate_session");
    assert_cookie_cleared(&out, "DIARYSESSID");
    let back = b.follow(&to_esia).await;
    assert_eq!(back.status, 200);
    assert!(back.url.ends_with("/esia-gate/logged-out"), "{}", back.url);
    assert!(back.body.contains("Вы вышли из дневника"));
    // The old session no longer opens the diary.
    assert_eq!(b.get(&stack.url("/grades")).await.status, 302);
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"logout\"}"),
        1.0
    );
}

/// The answer clears the cookie `name` (empty value, `Max-Age=0`).
fn assert_cookie_cleared(out: &support::Answer, name: &str) {
    let cleared: Vec<&str> = out
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
        "{name} not cleared: {cleared:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diarys_own_logout_link_ends_the_gateway_session_too() {
    // A parent at a school computer presses the diary's own «Выйти», not
    // the gateway's: the next person must not find her diary open.
    let stack = Stack::start().await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200);
    let out = b.get(&stack.url("/logout")).await;
    assert_eq!(out.status, 302, "{}", out.body);
    let to_esia = out.location().expect("ESIA logout");
    assert!(
        to_esia.starts_with(&format!("{}/idp/ext/Logout?", stack.esia_url)),
        "the diary's redirect goes on through ESIA's logout: {to_esia}"
    );
    assert_cookie_cleared(&out, "esia_gate_session");
    let back = b.follow(&to_esia).await;
    assert!(back.body.contains("Вы вышли из дневника"), "{}", back.body);
    assert_eq!(b.get(&stack.url("/grades")).await.status, 302);
    let log = stack.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"logout\"") && l.contains("\"via\":\"diary\"")),
        "audited as a logout through the diary:\n{log}"
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"logout\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_alone_on_a_school_computer_ends_by_itself() {
    // A parent opens the diary at a school computer and walks away without
    // «Выйти»: the next person must not find her diary open. Using the
    // session keeps it alive; leaving it alone ends it.
    let stack = Stack::start_with(support::Options {
        config_extra: "\n[session]\nidle_seconds = 2\n".into(),
        ..support::Options::default()
    })
    .await;
    let b = Browser::new();
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // In use for longer than the idle timeout: still open.
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(b.get(&stack.url("/grades")).await.status, 200);
    }
    // Left alone for longer than the timeout: sent to ESIA again.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let after = b.get(&stack.url("/grades")).await;
    assert_eq!(after.status, 302, "{}", after.body);
    assert!(
        after
            .location()
            .is_some_and(|l| l.contains("/esia-gate/login")),
        "{:?}",
        after.location()
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(&scrape, "esia_gate_logins_total{outcome=\"idle_expired\"}"),
        1.0
    );
    let log = stack.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"logout\"") && l.contains("\"outcome\":\"idle\"")),
        "audited:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_signing_command_signs_a_login_esia_accepts() {
    let mut stack = Stack::start().await;
    // Replace the in-process signer with the openssl command (as a region
    // would plug in CryptoPro's csptest), without a private_key entry.
    let key = stack.dir.path().join("keys/client-key.pem");
    stack.use_external_signer(
        &format!(
            "command = [\"openssl\", \"dgst\", \"-engine\", \"gost\", \"-md_gost12_256\", \"-sign\", \"{}\"]\n",
            key.display()
        ),
    )
    .await;
    smirnov_opens_his_grades(&stack).await;
}

async fn smirnov_opens_his_grades(stack: &Stack) {
    let page = Browser::new()
        .login(stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("smirnov.d")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_signing_service_signs_a_login_esia_accepts_and_its_outage_is_explained() {
    let mut stack = Stack::start().await;
    // A signing service holds the key (as a region's CryptoPro DSS or
    // signing box would); the gateway has no private_key entry.
    let keys = stack.dir.path().join("keys");
    // Its own runtime: shutting that down ends every connection too.
    let service = tokio::runtime::Runtime::new().expect("runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/sign", listener.local_addr().expect("addr"));
    let listener = {
        let _in = service.enter();
        tokio::net::TcpListener::from_std(listener).expect("listener")
    };
    let signed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    service.spawn(esia_gate_dev::signing_service::serve(
        listener,
        keys.join("client-cert.pem"),
        keys.join("client-key.pem"),
        Some("s3cret-token".into()),
        signed.clone(),
    ));
    std::fs::write(stack.dir.path().join("signer-token"), "s3cret-token\n").expect("token");
    stack
        .use_external_signer(&format!(
            "url = \"{url}\"\ntoken_file = \"signer-token\"\noutput = \"base64\"\n"
        ))
        .await;
    smirnov_opens_his_grades(&stack).await;
    // The authorization request and the token request were both signed.
    assert_eq!(signed.load(std::sync::atomic::Ordering::Relaxed), 2);

    // The service goes away: a Russian page, the reason in the log and a
    // metric, never the token.
    service.shutdown_background();
    let b = Browser::new();
    let page = b.follow(&stack.url("/grades")).await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert!(page.body.contains("Что-то пошло не так"), "{}", page.body);
    let scrape = stack.metrics().await;
    assert!(
        scrape
            .lines()
            .any(|l| l.starts_with("esia_gate_esia_errors_total{") && l.contains("signer")),
        "{scrape}"
    );
    let log = stack.log_text();
    assert!(log.contains("cannot reach the signing service"), "{log}");
    assert!(!log.contains("s3cret-token"), "the token in the log");
}

/// SIGHUP the gateway and wait until the reload counter `series` moved.
async fn hup_and_wait(stack: &Stack, series: &str) {
    let before = counter(&stack.metrics().await, series);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &stack.gateway.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    stack.wait_for_counter(series, before + 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esias_token_certificate_rotates_on_sighup_and_a_bad_file_changes_nothing() {
    let stack = Stack::start().await;
    let cert = stack.dir.path().join("keys/esia.pem");
    let good = std::fs::read(&cert).expect("cert");

    // A broken file: refused, the old certificate stays, logins work.
    std::fs::write(&cert, b"not a certificate").expect("write");
    hup_and_wait(&stack, "esia_gate_trust_reloads_total{result=\"error\"}").await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Another certificate (ESIA rotated its key, ours is not updated yet):
    // tokens signed with the old key are no longer trusted.
    let other = stack.dir.path().join("other");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ESIA",
        ])
        .arg("-keyout")
        .arg(other.with_extension("key"))
        .arg("-out")
        .arg(other.with_extension("pem"))
        .output()
        .expect("openssl");
    assert!(status.status.success());
    std::fs::copy(other.with_extension("pem"), &cert).expect("copy");
    hup_and_wait(&stack, "esia_gate_trust_reloads_total{result=\"ok\"}").await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("Не удалось проверить вход"));

    // And back: the right certificate is picked up without a restart.
    std::fs::write(&cert, good).expect("write");
    hup_and_wait(&stack, "esia_gate_trust_reloads_total{result=\"ok\"}").await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        counter(
            &stack.metrics().await,
            "esia_gate_trust_reloads_total{result=\"ok\"}"
        ) >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_ends_with_the_browser_unless_the_region_keeps_it() {
    for (persistent, extra) in [(false, ""), (true, "[session]\npersistent = true\n")] {
        let stack = Stack::start_with(Options {
            config_extra: extra.to_string(),
            ..Options::default()
        })
        .await;
        let b = Browser::new();
        let callback = b
            .login_until_callback(&stack, "/grades", persons::SMIRNOV)
            .await;
        let answer = b.get(&callback).await;
        let session: Vec<String> = answer
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|c| c.starts_with("esia_gate_session="))
            .map(str::to_string)
            .collect();
        assert_eq!(session.len(), 1, "{session:?}");
        assert_eq!(
            session[0].contains("Max-Age") || session[0].contains("Expires"),
            persistent,
            "{}",
            session[0]
        );
    }
}
