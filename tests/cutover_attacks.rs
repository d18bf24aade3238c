//! «После даты перехода успеваемость видна только через Госуслуги», tried
//! as an attacker with curl would: for every shipped policy after its
//! cut-over, against the sample diary in each of its modes (normal,
//! IIS-like, PHP-like), every known way around a path rule — case,
//! encoding, dot segments, trailing dots and spaces, other methods,
//! method-override headers, query-string routes, parameter pollution —
//! with every kind of session that did not come through ESIA: a password
//! session the gateway saw log in before the cut-over, a diary cookie it
//! never saw (from before the gateway, or forged), and such a cookie sent
//! twice or under another spelling. No answer may carry grade data, and a
//! new user's password login never yields a diary session.
//!
//! Requests are written by hand on a socket so that nothing (a client
//! library's URL parser) tidies them up before the gateway sees them.

mod support;

use std::time::Duration;

use esia_gate_dev::diary::DiaryMode;
use support::{Browser, Options, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Region {
    policy: &'static str,
    /// A date before the cut-over (password logins still allowed).
    before: &'static str,
    /// A date after it.
    after: &'static str,
}

const YAROSLAVL: Region = Region {
    policy: "yaroslavl-2019",
    before: "2018-12-15",
    after: "2019-01-02",
};
const IRKUTSK: Region = Region {
    policy: "irkutsk-2018",
    before: "2018-11-15",
    after: "2018-12-02",
};
const VORONEZH: Region = Region {
    policy: "voronezh-2017",
    before: "2017-09-20",
    after: "2017-10-02",
};
const ARKHANGELSK: Region = Region {
    policy: "arkhangelsk-2024",
    before: "2024-06-01",
    after: "2024-07-02",
};
const DNEVNIK_POO: Region = Region {
    policy: "dnevnik-poo",
    before: "2017-12-15",
    after: "2018-01-02",
};

const MODES: [DiaryMode; 3] = [DiaryMode::Normal, DiaryMode::Iis, DiaryMode::Php];

fn options(region: &Region, mode: DiaryMode) -> Options {
    Options {
        diary_mode: mode,
        ..support::policy_options(region.policy, region.before)
    }
}

/// Grade data as the sample diary writes it: marks in the HTML table, or
/// `marks` in the API's JSON (the policies' rewritten API answer has none).
fn shows_grades(body: &str) -> bool {
    body.contains("class=\"m m") || body.contains("\"marks\"")
}

/// One answer read off the socket.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    /// The value of the diary's session cookie the answer sets, if any.
    fn diary_cookie(&self) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            let (k, v) = value.trim().split(';').next()?.split_once('=')?;
            (k.trim() == "DIARYSESSID" && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    }
}

fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return out;
        };
        rest = &rest[end + 2..];
        if size == 0 || rest.len() < size {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// Send `request` (its head; `Host` and `Connection: close` are added)
/// and `body` exactly as given; 10 s at most, or the request hung.
async fn send(port: u16, head: &str, body: &[u8]) -> Raw {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut req = head.trim_end_matches("\r\n").to_string();
        req.push_str(&format!(
            "\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        ));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        // A refusal may come (and the socket close) before the whole body
        // is written; the answer is what counts.
        let _ = s.write_all(&bytes).await;
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        got
    };
    let got = tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| panic!("no answer within 10 s to:\n{head}"));
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(got.len());
    let head_text = String::from_utf8_lossy(&got[..split]).into_owned();
    let mut body = got.get(split + 4..).unwrap_or_default().to_vec();
    if head_text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head_text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Raw {
        status,
        head: head_text,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A diary session the gateway never saw: logged in at the diary itself
/// (as before the gateway was deployed, or through a hole).
async fn diary_session_behind_the_gateway(stack: &Stack, login: &str) -> String {
    let body = format!("login={login}&password=demo");
    let head = format!(
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
        body.len()
    );
    send(stack.ports.diary, &head, body.as_bytes())
        .await
        .diary_cookie()
        .expect("the diary's own session cookie")
}

/// A password session the gateway saw log in (before the cut-over).
async fn password_session_through_the_gateway(stack: &Stack, login: &str) -> String {
    let body = format!("login={login}&password=demo");
    let head = format!(
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
        body.len()
    );
    let r = send(stack.ports.gateway, &head, body.as_bytes()).await;
    assert_eq!(
        r.status, 302,
        "password login before the cut-over: {}",
        r.head
    );
    r.diary_cookie().expect("a diary session")
}

/// Whether a diary session cookie is logged in at the diary (asked
/// directly, behind the gateway).
async fn diary_logged_in(stack: &Stack, cookie: &str) -> bool {
    let r = send(
        stack.ports.diary,
        &format!("GET /api/grades HTTP/1.1\r\nCookie: DIARYSESSID={cookie}"),
        b"",
    )
    .await;
    r.status == 200
}

const GRADE_TARGETS: &[&str] = &[
    "/grades",
    "/Grades",
    "/GRADES",
    "/grades.",
    "/grades%20",
    "/grades.%20.",
    "/grades/",
    "//grades",
    "/x/../grades",
    "/x/%2e%2e/grades",
    "/%67rades",
    "/gr%61des",
    "/grades;x=1",
    "/grades%00.html",
    "/grade%C5%BF",
    "/grades?page=1",
    "/api/grades",
    "/api/Grades",
    "/API/GRADES.",
    "/api//grades",
    "/api/grades/",
    "/index.php?page=grades",
    "/index.php?page=GRADES",
    "/index.php?page=x&page=grades",
    "/index.php?page=grades&page=x",
    "/Index.php?page=api_grades",
    "/index.php?x=1;page=grades",
    "/index.php?page=grades%20",
    "/index.php?pa%67e=grades",
    "/index.php.?page=grades",
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND",
];

/// Every probe with one `Cookie` header value; panics on the first answer
/// that carries grade data.
async fn probe_grades(stack: &Stack, label: &str, cookie: &str) {
    let port = stack.ports.gateway;
    let mut probes: Vec<(String, Vec<u8>)> = Vec::new();
    for target in GRADE_TARGETS {
        for method in METHODS {
            let len = if matches!(*method, "GET" | "HEAD") {
                String::new()
            } else {
                "\r\nContent-Length: 0".to_string()
            };
            probes.push((
                format!("{method} {target} HTTP/1.1\r\nCookie: {cookie}{len}"),
                Vec::new(),
            ));
        }
    }
    // A method override on a route a policy might have limited to GET.
    for target in ["/grades", "/api/grades"] {
        for h in [
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
        ] {
            probes.push((
                format!(
                    "POST {target} HTTP/1.1\r\nCookie: {cookie}\r\n{h}: GET\r\nContent-Length: 0"
                ),
                Vec::new(),
            ));
        }
    }
    // PHP's $_REQUEST: the routing parameter in a form body, or in a body
    // the gateway does not parse.
    let form = b"page=grades".to_vec();
    probes.push((
        format!(
            "POST /index.php HTTP/1.1\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
            form.len()
        ),
        form,
    ));
    let multipart =
        b"--b\r\nContent-Disposition: form-data; name=\"page\"\r\n\r\ngrades\r\n--b--\r\n".to_vec();
    probes.push((
        format!(
            "POST /index.php HTTP/1.1\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}",
            multipart.len()
        ),
        multipart,
    ));
    // IIS URL Rewrite's "the real path" headers.
    for h in ["X-Original-URL", "X-Rewrite-URL", "X_Original_URL"] {
        probes.push((
            format!("GET /favicon.ico HTTP/1.1\r\nCookie: {cookie}\r\n{h}: /grades"),
            Vec::new(),
        ));
    }
    for (head, body) in probes {
        let r = send(port, &head, &body).await;
        assert!(
            !shows_grades(&r.body),
            "{label}: grades leaked ({}) to:\n{head}\n\n{}\n{}",
            r.status,
            r.head,
            r.body
        );
    }
}

/// Ways a new user tries to log in by password where the stage forbids it.
/// `existing` has logged in before; `kid` is another account's login.
fn new_user_attempts(new: &str, existing: &str, kid: &str) -> Vec<(String, Vec<u8>)> {
    let form = "Content-Type: application/x-www-form-urlencoded";
    let with_body = |method: &str, target: &str, ct: &str, body: String| {
        (
            format!(
                "{method} {target} HTTP/1.1\r\n{ct}\r\nContent-Length: {}",
                body.len()
            ),
            body.into_bytes(),
        )
    };
    let mut v = vec![
        with_body("POST", "/login", form, format!("login={new}&password=demo")),
        with_body("POST", "/Login", form, format!("login={new}&password=demo")),
        with_body(
            "POST",
            "/LOGIN.",
            form,
            format!("login={new}&password=demo"),
        ),
        with_body(
            "POST",
            "/login/",
            form,
            format!("login={new}&password=demo"),
        ),
        with_body("PUT", "/login", form, format!("login={new}&password=demo")),
        with_body(
            "PATCH",
            "/login",
            form,
            format!("login={new}&password=demo"),
        ),
        with_body(
            "POST",
            "/login",
            form,
            format!("login={new}&password=demo&login="),
        ),
        with_body(
            "POST",
            "/login",
            form,
            format!("login=&login={new}&password=demo"),
        ),
        with_body(
            "POST",
            "/login",
            form,
            format!("login={existing}&password=demo&LOGIN={new}"),
        ),
        with_body(
            "POST",
            "/login",
            form,
            format!("login={kid}&login={new}&password=demo"),
        ),
        with_body(
            "POST",
            "/login",
            form,
            format!("login={new}&login%00x={existing}&password=demo"),
        ),
        with_body(
            "POST",
            &format!("/login?login={new}"),
            form,
            format!("login={existing}&password=demo"),
        ),
        with_body(
            "POST",
            &format!("/login?login={new}"),
            form,
            "password=demo".to_string(),
        ),
        with_body(
            "POST",
            "/login",
            "Content-Type: text/plain",
            format!("login={new}&password=demo"),
        ),
        with_body(
            "POST",
            "/login",
            "Content-Type: multipart/form-data; boundary=b",
            format!(
                "--b\r\nContent-Disposition: form-data; name=\"login\"\r\n\r\n{new}\r\n--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ndemo\r\n--b--\r\n"
            ),
        ),
        (
            format!("GET /login?login={new}&password=demo HTTP/1.1"),
            Vec::new(),
        ),
    ];
    // Larger than the gateway reads: refused, never half passed on.
    let padded = format!("pad={}&login={new}&password=demo", "x".repeat(70 * 1024));
    v.push(with_body("POST", "/login", form, padded.clone()));
    let mut chunked = format!("{:x}\r\n", padded.len()).into_bytes();
    chunked.extend_from_slice(padded.as_bytes());
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    v.push((
        format!("POST /login HTTP/1.1\r\n{form}\r\nTransfer-Encoding: chunked"),
        chunked,
    ));
    v
}

async fn attempt_new_user_logins(stack: &Stack, label: &str, new: &str, existing: &str, kid: &str) {
    for (head, body) in new_user_attempts(new, existing, kid) {
        let r = send(stack.ports.gateway, &head, &body).await;
        assert_ne!(r.status, 0, "{label}: no answer to:\n{head}");
        if let Some(cookie) = r.diary_cookie() {
            assert!(
                !diary_logged_in(stack, &cookie).await,
                "{label}: a new user's password login succeeded with:\n{head}\n\n{}",
                r.head
            );
        }
        assert!(!shows_grades(&r.body), "{label}: grades after:\n{head}");
    }
}

/// The whole attack run for one region and one diary mode.
async fn region_holds(region: &Region, mode: DiaryMode) {
    let label = format!("{} / {mode:?} diary", region.policy);
    let stack = Stack::start_with(options(region, mode)).await;
    // Before the cut-over: a parent logs in with the diary's form through
    // the gateway (so the gateway knows the session), another parent has a
    // diary session from before the gateway.
    let known = password_session_through_the_gateway(&stack, "ivanova.m").await;
    let unknown = diary_session_behind_the_gateway(&stack, "petrov.parent").await;
    assert!(diary_logged_in(&stack, &known).await);
    assert!(diary_logged_in(&stack, &unknown).await);

    stack.set_date(region.after).await;
    let sessions = [
        ("password session", format!("DIARYSESSID={known}")),
        ("unattributed session", format!("DIARYSESSID={unknown}")),
        (
            "known and unknown cookie together",
            format!("DIARYSESSID={known}; DIARYSESSID={unknown}"),
        ),
        (
            "unknown cookie under another spelling",
            format!("diarysessid={unknown}"),
        ),
        (
            "known cookie, unknown one under another spelling",
            format!("DIARYSESSID={known}; diarysessid={unknown}"),
        ),
        ("no cookie", "x=1".to_string()),
    ];
    for (kind, cookie) in &sessions {
        probe_grades(&stack, &format!("{label}, {kind}"), cookie).await;
    }
    attempt_new_user_logins(&stack, &label, "orlova.t", "ivanova.m", "sokolov.m").await;

    // The promise holds for ESIA sessions the other way round: they see
    // their grades.
    let esia = Browser::new()
        .login(
            &stack,
            "/esia-gate/login?return_to=/grades",
            support::persons::SMIRNOV,
        )
        .await;
    assert!(shows_grades(&esia.body), "{label}: {}", esia.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaroslavl_after_the_cutover_no_password_or_unknown_session_sees_grades() {
    for mode in MODES {
        region_holds(&YAROSLAVL, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irkutsk_after_the_cutover_no_password_or_unknown_session_sees_grades() {
    for mode in MODES {
        region_holds(&IRKUTSK, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voronezh_after_the_cutover_no_password_or_unknown_session_sees_grades() {
    for mode in MODES {
        region_holds(&VORONEZH, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arkhangelsk_after_the_cutover_no_password_or_unknown_session_sees_grades() {
    for mode in MODES {
        region_holds(&ARKHANGELSK, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnevnik_poo_after_the_cutover_no_password_or_unknown_session_sees_grades() {
    for mode in MODES {
        region_holds(&DNEVNIK_POO, mode).await;
    }
}

/// Irkutsk keeps passwords for students under 14: the student's own
/// session sees grades, and a parent cannot borrow that exemption by
/// polluting the form (whichever value the diary takes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irkutsk_a_parent_cannot_borrow_a_childs_exemption() {
    for mode in MODES {
        let stack = Stack::start_with(options(&IRKUTSK, mode)).await;
        stack.set_date(IRKUTSK.after).await;
        let kid = password_session_through_the_gateway(&stack, "sokolov.m").await;
        let own = send(
            stack.ports.gateway,
            &format!("GET /grades HTTP/1.1\r\nCookie: DIARYSESSID={kid}"),
            b"",
        )
        .await;
        assert!(shows_grades(&own.body), "{mode:?}: {}", own.body);
        for body in [
            "login=sokolov.m&password=demo&login=petrov.parent",
            "login=petrov.parent&password=demo&login=sokolov.m",
            "login=sokolov.m&LOGIN=petrov.parent&password=demo",
        ] {
            let head = format!(
                "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
                body.len()
            );
            let r = send(stack.ports.gateway, &head, body.as_bytes()).await;
            assert_eq!(r.status, 400, "{mode:?} {body}: {}", r.head);
            assert!(r.body.contains("Форма не отправлена"), "{}", r.body);
            assert!(r.diary_cookie().is_none(), "{mode:?} {body}");
        }
        let scrape = stack.metrics().await;
        assert!(
            support::counter(
                &scrape,
                "esia_gate_login_forms_total{result=\"repeated_field\"}"
            ) >= 3.0,
            "{scrape}"
        );
    }
}

async fn get_grades(stack: &Stack, cookie: &str) -> Raw {
    send(
        stack.ports.gateway,
        &format!(
            "GET /grades HTTP/1.1\r\nAccept: text/html\r\nSec-Fetch-Mode: navigate\r\nCookie: DIARYSESSID={cookie}"
        ),
        b"",
    )
    .await
}

/// A diary cookie the gateway learned survives a restart of the gateway;
/// one it never learned, or learned longer ago than the diary's session
/// lifetime, sees no grades after the cut-over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_sessions_survive_a_restart_and_expire_with_the_diarys_lifetime() {
    let mut stack = Stack::start_with(options(&IRKUTSK, DiaryMode::Normal)).await;
    // A parent learned before the cut-over, a student under 14 after it.
    let parent = password_session_through_the_gateway(&stack, "ivanova.m").await;
    stack.set_date(IRKUTSK.after).await;
    let kid = password_session_through_the_gateway(&stack, "sokolov.m").await;
    stack.kill9_and_restart().await;
    stack.set_date(IRKUTSK.after).await;

    // Still known after the restart: the student under 14 sees grades, the
    // parent is sent to ESIA.
    let r = get_grades(&stack, &kid).await;
    assert!(
        shows_grades(&r.body),
        "the learned session was forgotten by the restart: {}\n{}",
        r.head,
        r.body
    );
    let r = get_grades(&stack, &parent).await;
    assert_eq!(r.status, 302, "{}", r.head);
    assert!(r.head.contains("/esia-gate/login"), "{}", r.head);
    assert!(!shows_grades(&r.body));
    // A diary session the gateway never saw is sent to log in again at the
    // diary's own form, without that cookie (some roles still may).
    let unknown = diary_session_behind_the_gateway(&stack, "petrov.parent").await;
    let r = get_grades(&stack, &unknown).await;
    assert_eq!(r.status, 302, "{}", r.head);
    assert!(r.head.contains("Location: /login"), "{}", r.head);
    assert!(r.head.contains("DIARYSESSID=;"), "{}", r.head);
    assert!(!shows_grades(&r.body));
    drop(stack);

    // With the diary's session lifetime at 2 s, a learned session is
    // forgotten once the diary would have forgotten it: no more grades.
    let mut opts = options(&IRKUTSK, DiaryMode::Normal);
    opts.config_replace = vec![(
        "logout_path = \"/logout\"\n".to_string(),
        "logout_path = \"/logout\"\nsession_lifetime_seconds = 2\n".to_string(),
    )];
    let short = Stack::start_with(opts).await;
    short.set_date(IRKUTSK.after).await;
    let kid = password_session_through_the_gateway(&short, "sokolov.m").await;
    assert!(shows_grades(&get_grades(&short, &kid).await.body));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = get_grades(&short, &kid).await;
    assert!(!shows_grades(&r.body), "{}\n{}", r.head, r.body);
    assert_eq!(r.status, 302, "{}", r.head);
}

/// The smaller holes: the admin listener without a token answers only
/// requests for localhost (a rebinding page sends its own name), and
/// headers a client could use to tell the diary another method, path, host
/// or scheme never reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_and_override_headers_get_nowhere() {
    let stack = Stack::start_with(options(&YAROSLAVL, DiaryMode::Iis)).await;
    let admin = stack.ports.admin;
    for path in ["/metrics", "/reports/adoption.csv", "/readyz"] {
        let r = send_host(admin, &format!("GET {path} HTTP/1.1"), "evil.example:9190").await;
        assert_eq!(r.status, 403, "{path}: {}", r.head);
        let r = send(admin, &format!("GET {path} HTTP/1.1"), b"").await;
        assert_ne!(r.status, 403, "{path}: {}", r.head);
    }
    let r = send_host(
        admin,
        "PUT /rehearse-date?date=2030-01-01 HTTP/1.1\r\nContent-Length: 0",
        "rebind.example",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.head);
    assert_eq!(
        send_host(admin, "GET /healthz HTTP/1.1", "evil.example")
            .await
            .status,
        200
    );

    let b = Browser::new();
    b.login(
        &stack,
        "/esia-gate/login?return_to=/grades",
        support::persons::SMIRNOV,
    )
    .await;
    let claims = [
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("X-Method-Override", "DELETE"),
        ("X_HTTP_Method_Override", "DELETE"),
        ("X-Forwarded-Prefix", "/evil"),
        ("X-Original-Host", "evil.example"),
        ("X-Host", "evil.example"),
        ("X-Forwarded-Uri", "/grades"),
        ("X-Forwarded-Scheme", "http"),
        ("X_Forwarded_For", "10.6.6.6"),
    ];
    let echo = b.get_with(&stack.url("/echo"), &claims).await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let v: serde_json::Value = serde_json::from_str(&echo.body).expect("echo json");
    let seen = v["headers"].as_object().expect("headers");
    for (name, value) in claims {
        let key = name.to_ascii_lowercase();
        assert!(!seen.contains_key(&key), "{name} reached the diary: {v}");
        assert!(!echo.body.contains(value) || value == "http", "{name}: {v}");
    }
}

async fn send_host(port: u16, head: &str, host: &str) -> Raw {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let req = format!("{head}\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let _ = s.write_all(req.as_bytes()).await;
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        got
    };
    let got = tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("an answer");
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Raw {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_string(),
        body: body.to_string(),
    }
}
