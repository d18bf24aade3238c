//! The diary's grades and cookie parsing, and a password login with the
//! gateway's identity headers and the echo, against a running diary.

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};

use super::grades::{SUBJECTS, grades_for};
use super::visitor::{cookies, session_id};
use super::{DiaryConfig, DiaryMode, serve};

#[test]
fn grades_are_deterministic_and_plausible() {
    let a = grades_for("ivanova.m");
    assert_eq!(a, grades_for("ivanova.m"));
    assert_ne!(a, grades_for("petrov.parent"));
    assert_eq!(a.len(), SUBJECTS.len());
    for (_, marks) in &a {
        assert!((3..=6).contains(&marks.len()));
        assert!(marks.iter().all(|m| (2..=5).contains(m)));
    }
}

#[test]
fn cookie_header_is_split() {
    let mut h = HeaderMap::new();
    h.append(
        header::COOKIE,
        HeaderValue::from_static("a=1; DIARYSESSID=abc"),
    );
    h.append(
        header::COOKIE,
        HeaderValue::from_static("esia_gate_session=x"),
    );
    let c = cookies(&h);
    assert_eq!(c.len(), 3);
    assert_eq!(session_id(DiaryMode::Normal, &h).as_deref(), Some("abc"));
}

async fn start() -> (String, tempfile::TempDir) {
    start_with(|_| {}).await
}

async fn start_with(tweak: fn(&mut DiaryConfig)) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    super::super::fixtures::write_demo_fixtures(dir.path()).expect("fixtures");
    let cfg = DiaryConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        users: dir.path().join(super::super::fixtures::DIARY_USERS_FILE),
        accounts: Some(dir.path().join(super::super::fixtures::ACCOUNTS_FILE)),
        mode: DiaryMode::Normal,
        login_token: false,
        relative_redirect: false,
    };
    let mut cfg = cfg;
    tweak(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = serve(cfg, listener).await;
    });
    (base, dir)
}

#[tokio::test]
async fn password_login_headers_and_echo() {
    let (base, _dir) = start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let r = http
        .get(format!("{base}/__diary/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{base}/grades"))
        .send()
        .await
        .expect("grades");
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[header::LOCATION], "/login");
    let r = http
        .get(format!("{base}/api/grades"))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!({"error": "unauthorized"}));

    let r = http
        .post(format!("{base}/login"))
        .form(&[("login", "ivanova.m"), ("password", "wrong")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("Неверный логин или пароль")
    );

    let r = http
        .post(format!("{base}/login"))
        .form(&[("login", "ivanova.m"), ("password", "demo")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 302);
    let v: Value = http
        .get(format!("{base}/__diary/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(v, json!({"login_posts": 2}), "a wrong and a right login");
    assert_eq!(r.headers()[header::LOCATION], "/grades");
    let set = r.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(set.starts_with("DIARYSESSID=") && set.contains("HttpOnly") && set.contains("Path=/"));
    let cookie = set.split(';').next().expect("pair").to_string();

    let r = http
        .get(format!("{base}/grades"))
        .header(header::COOKIE, format!("{cookie}; esia_gate_session=leak"))
        .send()
        .await
        .expect("grades");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("text");
    assert!(html.contains("<title>Дневник — оценки</title>"));
    assert!(html.contains("Иванова Мария Петровна"));
    assert!(html.contains("<dd id=\"remote-user\">absent</dd>"));
    assert!(html.contains("<dd id=\"gate-cookie\">present</dd>"));

    let v: Value = http
        .get(format!("{base}/api/grades"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(v["login"], "ivanova.m");
    assert_eq!(v["via"], "password");

    // The gateway's headers win over anything else.
    let r = http
        .get(format!("{base}/grades"))
        .header("X-Remote-User", "petrov.teacher")
        .header("X-Esia-Oid", "1000002")
        .header("X-Auth-Method", "esia")
        .header("X-Esia-Trusted", "true")
        .header("X-Esia-Assertion", "eyJhbGciOi.secret.value")
        .send()
        .await
        .expect("grades");
    let html = r.text().await.expect("text");
    assert!(html.contains("<dd id=\"remote-user\">petrov.teacher</dd>"));
    assert!(html.contains("<dd id=\"esia-oid\">1000002</dd>"));
    assert!(html.contains("<dd id=\"auth-method\">esia</dd>"));
    assert!(html.contains("<dd id=\"esia-trusted\">true</dd>"));
    assert!(html.contains("<dd id=\"assertion\">present</dd>"));
    assert!(!html.contains("secret.value"));
    assert!(html.contains("<dd id=\"gate-cookie\">absent</dd>"));
    assert!(html.contains("учитель физики"));

    let v: Value = http
        .get(format!("{base}/api/grades"))
        .header("X-Remote-User", "petrov.teacher")
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(v["via"], "esia");

    let v: Value = http
        .get(format!("{base}/echo"))
        .header("X-Custom-Thing", "1")
        .header(header::COOKIE, "a=1; b=2")
        .send()
        .await
        .expect("echo")
        .json()
        .await
        .expect("json");
    assert_eq!(v["headers"]["x-custom-thing"], "1");
    assert_eq!(v["cookies"], json!(["a", "b"]));

    // Logout ends the cookie session.
    let r = http
        .get(format!("{base}/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 302);
    let r = http
        .get(format!("{base}/grades"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("grades");
    assert_eq!(r.status(), 302);
}

#[tokio::test]
async fn a_login_that_needs_its_pages_cookie_and_token() {
    let (base, _dir) = start_with(|c| {
        c.login_token = true;
        c.relative_redirect = true;
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |cookie: Option<String>, form: Vec<(&'static str, String)>| {
        let mut req = http.post(format!("{base}/login")).form(&form);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.send()
    };
    let right = |token: &str| {
        vec![
            ("csrf", token.to_string()),
            ("login", "ivanova.m".to_string()),
            ("password", "demo".to_string()),
        ]
    };
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("page");
    let cookie = page.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    assert!(cookie.starts_with("DIARYPRE="), "{cookie}");
    let html = page.text().await.expect("text");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the form's token")
        .to_string();

    // The right password without the cookie, without the token, or with
    // another token: the same answer as a wrong password.
    let wrong = post(
        Some(cookie.clone()),
        vec![
            ("csrf", token.clone()),
            ("login", "ivanova.m".into()),
            ("password", "nope".into()),
        ],
    )
    .await
    .expect("wrong");
    assert_eq!(wrong.status(), 200);
    for (cookie, form) in [
        (None, right(&token)),
        (Some(cookie.clone()), right("forged")),
        (Some(cookie.clone()), right("")[1..].to_vec()),
    ] {
        let r = post(cookie, form).await.expect("login");
        assert_eq!(r.status(), 200);
        assert!(
            r.text()
                .await
                .expect("text")
                .contains("Неверный логин или пароль")
        );
    }
    // With both: in, redirected relative to the form.
    let r = post(Some(cookie), right(&token)).await.expect("login");
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[header::LOCATION], "grades?welcome=1");
}
