//! The sample diary alone (no gateway) in each of its modes: a normal diary
//! is strict, an IIS-like one reads paths, methods, fields and cookies as
//! ASP.NET does, a PHP-like one as PHP does. The gateway's adversarial tests
//! rely on these behaviours being there.

use esia_gate_dev::diary::{self, DiaryMode, SESSION_COOKIE};
use esia_gate_dev::fixtures;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A diary of `mode` on a loopback port, with the demo fixtures.
struct Diary {
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Diary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

impl Diary {
    async fn start(mode: DiaryMode) -> Diary {
        let dir = tempfile::tempdir().expect("tempdir");
        fixtures::write_demo_fixtures(dir.path()).expect("fixtures");
        let port = esia_gate_dev::ports::free_port().expect("a free port");
        let cfg = diary::DiaryConfig {
            listen: ([127, 0, 0, 1], port).into(),
            users: dir.path().join(fixtures::DIARY_USERS_FILE),
            accounts: Some(dir.path().join(fixtures::ACCOUNTS_FILE)),
            mode,
            login_token: false,
            relative_redirect: false,
        };
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .expect("bind");
        let task = tokio::spawn(async move {
            let _ = diary::serve(cfg, listener).await;
        });
        Diary {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            task,
            _dir: dir,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, FORM).body(b.to_string());
        }
        let r = req.send().await.expect("the diary answers");
        let (status, h) = (r.status(), r.headers().clone());
        (status, h, r.text().await.expect("body"))
    }

    /// `POST path` with a raw form body; the session cookie (`NAME=value`)
    /// when the diary logged someone in.
    async fn login_at(&self, path: &str, body: &str) -> Option<String> {
        let (status, h, _) = self.send("POST", path, &[], Some(body)).await;
        if status != StatusCode::FOUND {
            assert_eq!(status, StatusCode::OK, "a login answer");
            return None;
        }
        let set = h.get(SET_COOKIE)?.to_str().ok()?;
        set.split(';').next().map(str::to_string)
    }

    async fn login(&self, body: &str) -> Option<String> {
        self.login_at("/login", body).await
    }

    /// A session of `ivanova.m`.
    async fn session(&self) -> String {
        self.login("login=ivanova.m&password=demo")
            .await
            .expect("ivanova.m logs in")
    }

    /// Who the diary's grade API says a cookie belongs to.
    async fn who(&self, cookie: &str) -> Option<String> {
        let (status, _, body) = self
            .send("GET", "/api/grades", &[("Cookie", cookie)], None)
            .await;
        if status != StatusCode::OK {
            return None;
        }
        let v: Value = serde_json::from_str(&body).expect("json");
        v["login"].as_str().map(str::to_string)
    }
}

fn is_grades_page(body: &str) -> bool {
    body.contains("<title>Дневник — оценки</title>") && body.contains("Иванова Мария Петровна")
}

fn is_grades_json(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["login"] == "ivanova.m")
}

#[tokio::test]
async fn a_normal_diary_is_strict() {
    let d = Diary::start(DiaryMode::Normal).await;
    let c = d.session().await;
    let cookie: &[(&str, &str)] = &[("Cookie", &c)];
    let (s, _, body) = d.send("GET", "/grades", cookie, None).await;
    assert_eq!(s, 200);
    assert!(is_grades_page(&body));
    for path in [
        "/GRADES",
        "/grades.",
        "/grades%20",
        "/index.php?page=grades",
    ] {
        let (s, _, _) = d.send("GET", path, cookie, None).await;
        assert_eq!(s, 404, "{path}");
    }
    for m in ["POST", "PROPFIND", "DELETE"] {
        let (s, _, _) = d.send(m, "/grades", cookie, None).await;
        assert_eq!(s, 405, "{m}");
    }
    // Cookie names are exact, values as sent.
    let lower = c.replacen(SESSION_COOKIE, "diarysessid", 1);
    assert_eq!(d.who(&lower).await, None);
    // The first field wins, the query string is not read.
    assert!(
        d.login("login=ivanova.m&password=demo&login=")
            .await
            .is_some()
    );
    assert!(
        d.login_at("/login?login=ivanova.m", "password=demo")
            .await
            .is_none()
    );
    assert!(d.login("LOGIN=ivanova.m&PASSWORD=demo").await.is_none());
}

#[tokio::test]
async fn an_iis_diary_serves_grades_dot_to_any_method() {
    let d = Diary::start(DiaryMode::Iis).await;
    let c = d.session().await;
    let cookie: &[(&str, &str)] = &[("Cookie", &c)];
    let (s, _, body) = d.send("PROPFIND", "/GRADES.", cookie, None).await;
    assert_eq!(s, 200);
    assert!(is_grades_page(&body));
    for path in [
        "/grades",
        "/Grades",
        "/GRADES",
        "/grades.",
        "/grades%20",
        "/grades.%20.%20",
        "/grade%C5%BF",
    ] {
        for m in ["GET", "POST", "PUT", "OPTIONS", "PROPFIND", "DELETE"] {
            let (s, _, body) = d.send(m, path, cookie, None).await;
            assert_eq!(s, 200, "{m} {path}");
            assert!(is_grades_page(&body), "{m} {path}");
        }
    }
    for path in ["/api/Grades", "/API/GRADES.", "/api%2Fgrades%20"] {
        let (s, _, body) = d.send("DELETE", path, cookie, None).await;
        assert_eq!(s, 200, "{path}");
        assert!(is_grades_json(&body), "{path}");
    }
    // HEAD is answered by the GET handler, without a body.
    let (s, _, body) = d.send("HEAD", "/GRADES", cookie, None).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, ""));
    // Decoded once only.
    let (s, _, _) = d.send("GET", "/grades%252e", cookie, None).await;
    assert_eq!(s, 404);
    // Still no grades without a session.
    let (s, h, _) = d.send("PROPFIND", "/GRADES.", &[], None).await;
    assert_eq!(s, 302);
    assert_eq!(h[LOCATION], "/login");
}

#[tokio::test]
async fn an_iis_diary_takes_a_post_to_login_in_any_case_and_honours_method_override() {
    let d = Diary::start(DiaryMode::Iis).await;
    for path in ["/login", "/LOGIN", "/Login.", "/login%20"] {
        let c = d.login_at(path, "login=ivanova.m&password=demo").await;
        assert!(c.is_some(), "{path}");
    }
    // Any other method at /login is the form.
    let (s, h, body) = d
        .send("PUT", "/login", &[], Some("login=ivanova.m&password=demo"))
        .await;
    assert_eq!(s, 200);
    assert!(h.get(SET_COOKIE).is_none());
    assert!(body.contains("Вход в дневник") && !body.contains("login-error"));
    // A POST tunnelling GET is a GET: the form, not a login.
    for name in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ] {
        let (s, h, body) = d
            .send(
                "POST",
                "/login",
                &[(name, "GET")],
                Some("login=ivanova.m&password=demo"),
            )
            .await;
        assert_eq!(s, 200, "{name}");
        assert!(h.get(SET_COOKIE).is_none(), "{name}");
        assert!(!body.contains("login-error"), "{name}");
    }
    // A PUT tunnelled in a POST reaches grades like any method.
    let c = d.session().await;
    let (s, _, body) = d
        .send(
            "POST",
            "/Grades",
            &[("Cookie", &c), ("X-HTTP-Method-Override", "PUT")],
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(is_grades_page(&body));
}

#[tokio::test]
async fn an_iis_diary_takes_the_first_field_in_any_case_and_the_query_first() {
    let d = Diary::start(DiaryMode::Iis).await;
    let c = d.login("login=ivanova.m&password=demo&login=").await;
    assert_eq!(
        d.who(&c.expect("first login wins")).await.as_deref(),
        Some("ivanova.m")
    );
    let c = d.login("LOGIN=ivanova.m&Password=demo").await;
    assert_eq!(
        d.who(&c.expect("names in any case")).await.as_deref(),
        Some("ivanova.m")
    );
    // ASP.NET's Request["login"] reads the query string before the form.
    let c = d
        .login_at(
            "/login?login=petrov.teacher",
            "login=ivanova.m&password=demo",
        )
        .await;
    assert_eq!(
        d.who(&c.expect("the query's login")).await.as_deref(),
        Some("petrov.teacher")
    );
    let c = d.login_at("/login?Login=ivanova.m", "password=demo").await;
    assert_eq!(
        d.who(&c.expect("query only")).await.as_deref(),
        Some("ivanova.m")
    );
}

#[tokio::test]
async fn an_iis_diary_reads_cookie_names_in_any_case() {
    let d = Diary::start(DiaryMode::Iis).await;
    let c = d.session().await;
    let lower = c.replacen(SESSION_COOKIE, "diarysessid", 1);
    assert_eq!(d.who(&lower).await.as_deref(), Some("ivanova.m"));
    let (s, _, body) = d.send("GET", "/GRADES", &[("Cookie", &lower)], None).await;
    assert_eq!(s, 200);
    assert!(is_grades_page(&body));
}

#[tokio::test]
async fn a_php_diary_serves_grades_at_index_php() {
    let d = Diary::start(DiaryMode::Php).await;
    let c = d.session().await;
    let cookie: &[(&str, &str)] = &[("Cookie", &c)];
    let (_, _, direct) = d.send("GET", "/grades", cookie, None).await;
    assert!(is_grades_page(&direct));
    for path in [
        "/index.php?page=grades",
        "/index.php?page=GRADES",
        "/index.php?page=Grades",
        "/index.php?page=logout&page=grades",
    ] {
        let (s, _, body) = d.send("GET", path, cookie, None).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(body, direct, "{path}");
    }
    for path in ["/index.php?page=api_grades", "/index.php?page=API_Grades"] {
        let (s, _, body) = d.send("GET", path, cookie, None).await;
        assert_eq!(s, 200, "{path}");
        assert!(is_grades_json(&body), "{path}");
    }
    // $_REQUEST: a form body's page, over the query's.
    let (s, _, body) = d
        .send("POST", "/index.php", cookie, Some("page=grades"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(body, direct);
    let (_, _, body) = d
        .send("POST", "/index.php?page=login", cookie, Some("page=grades"))
        .await;
    assert_eq!(body, direct);
    // Paths keep their case; the old routes keep working.
    let (s, _, _) = d.send("GET", "/GRADES", cookie, None).await;
    assert_eq!(s, 404);
    let (s, _, body) = d.send("GET", "/api/grades", cookie, None).await;
    assert_eq!(s, 200);
    assert!(is_grades_json(&body));
    let (s, _, _) = d.send("POST", "/grades", cookie, None).await;
    assert_eq!(s, 405);
    // No session, no grades.
    let (s, h, _) = d.send("GET", "/index.php?page=grades", &[], None).await;
    assert_eq!(s, 302);
    assert_eq!(h[LOCATION], "/login");
    let (s, _, _) = d.send("GET", "/index.php?page=api_grades", &[], None).await;
    assert_eq!(s, 401);
    // An unknown page is not found; no page is the home page.
    let (s, _, _) = d.send("GET", "/index.php?page=nothing", cookie, None).await;
    assert_eq!(s, 404);
    let (s, _, body) = d.send("GET", "/index.php", cookie, None).await;
    assert_eq!(s, 200);
    assert!(body.contains("Здравствуйте"));
}

#[tokio::test]
async fn a_php_diary_has_its_login_page_and_logout_at_index_php() {
    let d = Diary::start(DiaryMode::Php).await;
    let (s, _, body) = d.send("GET", "/index.php?page=login", &[], None).await;
    assert_eq!(s, 200);
    assert!(body.contains("<form method=\"post\" action=\"/login\">"));
    let c = d.session().await;
    let (s, h, _) = d
        .send("GET", "/index.php?page=logout", &[("Cookie", &c)], None)
        .await;
    assert_eq!(s, 302);
    assert!(
        h[SET_COOKIE]
            .to_str()
            .is_ok_and(|v| v.starts_with("DIARYSESSID=;"))
    );
    assert_eq!(d.who(&c).await, None, "the session ended");
}

#[tokio::test]
async fn a_php_diary_takes_the_last_login_field() {
    let d = Diary::start(DiaryMode::Php).await;
    assert!(
        d.login("login=ivanova.m&password=demo&login=")
            .await
            .is_none(),
        "the last, empty login wins"
    );
    let c = d.login("login=nobody&login=ivanova.m&password=demo").await;
    assert_eq!(
        d.who(&c.expect("the last login")).await.as_deref(),
        Some("ivanova.m")
    );
    // An array is no login.
    for body in [
        "login[]=ivanova.m&password=demo",
        "login[0]=ivanova.m&password=demo",
        "login=ivanova.m&password[]=demo",
        "login=ivanova.m&login[x]=y&password=demo",
    ] {
        assert!(d.login(body).await.is_none(), "{body}");
    }
    // PHP drops leading spaces of a name.
    let c = d.login("+login=ivanova.m&password=demo").await;
    assert_eq!(
        d.who(&c.expect("' login' is login")).await.as_deref(),
        Some("ivanova.m")
    );
    // $_REQUEST: the query fills in, the body wins.
    let c = d.login_at("/login?login=ivanova.m", "password=demo").await;
    assert_eq!(
        d.who(&c.expect("query fills in")).await.as_deref(),
        Some("ivanova.m")
    );
    let c = d
        .login_at(
            "/login?login=petrov.teacher",
            "login=ivanova.m&password=demo",
        )
        .await;
    assert_eq!(
        d.who(&c.expect("body wins")).await.as_deref(),
        Some("ivanova.m")
    );
    // Names are case-sensitive.
    assert!(d.login("LOGIN=ivanova.m&password=demo").await.is_none());
}

#[tokio::test]
async fn a_php_diary_percent_decodes_cookie_values() {
    for (mode, expected) in [
        (DiaryMode::Php, Some("ivanova.m")),
        (DiaryMode::Normal, None),
        (DiaryMode::Iis, None),
    ] {
        let d = Diary::start(mode).await;
        let c = d.session().await;
        // The session id is hex: write its first character as %XX.
        let (name, sid) = c.split_once('=').expect("name=value");
        let (first, rest) = sid.split_at(1);
        let encoded = format!("{name}=%{:02X}{rest}", first.as_bytes()[0]);
        assert_eq!(d.who(&encoded).await.as_deref(), expected, "{mode}");
    }
}

/// The status line of a request written by hand (paths no client library
/// would send as they are).
async fn raw_status(d: &Diary, request_line: &str, cookie: &str) -> String {
    let addr = d.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req =
        format!("{request_line}\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_iis_diary_resolves_dot_segments_and_backslashes_a_client_would_not_send() {
    let iis = Diary::start(DiaryMode::Iis).await;
    let normal = Diary::start(DiaryMode::Normal).await;
    for (d, ok) in [(&iis, "200"), (&normal, "404")] {
        let c = d.session().await;
        for line in [
            "PROPFIND /x/../GRADES. HTTP/1.1",
            "GET /api\\Grades%20 HTTP/1.1",
            "GET /x/%2e%2e/grades HTTP/1.1",
        ] {
            let status = raw_status(d, line, &c).await;
            assert!(status.contains(ok), "{line}: {status}");
        }
    }
}

#[test]
fn an_unknown_mode_is_a_configuration_error() {
    let base = "listen = \"127.0.0.1:8000\"\nusers = \"u.csv\"\n";
    let cfg: diary::DiaryConfig = toml::from_str(base).expect("no mode");
    assert_eq!(cfg.mode, DiaryMode::Normal);
    for (text, mode) in [
        ("iis", DiaryMode::Iis),
        ("php", DiaryMode::Php),
        ("normal", DiaryMode::Normal),
    ] {
        let cfg: diary::DiaryConfig =
            toml::from_str(&format!("{base}mode = \"{text}\"\n")).expect(text);
        assert_eq!(cfg.mode, mode);
    }
    for bad in ["mode = \"asp\"\n", "mode = \"IIS\"\n", "modes = \"iis\"\n"] {
        assert!(
            toml::from_str::<diary::DiaryConfig>(&format!("{base}{bad}")).is_err(),
            "{bad}"
        );
    }
}
