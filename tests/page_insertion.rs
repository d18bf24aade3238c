//! The banner on the sample diary's harder pages, through the gateway
//! binary, Yaroslavl before its cut-over (a password session sees every
//! page with the banner): a diary that speaks brotli, an HTML fragment a
//! script loads into a page, and a 2 MiB page that reaches the browser
//! while the diary is still sending it.

mod support;

use std::time::Duration;

use support::{Browser, Stack};

async fn yaroslavl_with_a_password_session() -> (Stack, Browser) {
    let stack = Stack::start_with(support::policy_options("yaroslavl-2019", "2018-12-15")).await;
    let b = Browser::new();
    let login = b
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(login.status, 302, "{}", login.body);
    (stack, b)
}

/// A GET with these headers: status, `Content-Encoding`, body as bytes.
async fn fetch(b: &Browser, url: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, Vec<u8>) {
    let mut req = b.http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("get");
    let status = r.status().as_u16();
    let coding = r
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r
        .bytes()
        .await
        .expect("a whole body, framed right")
        .to_vec();
    (status, coding, body)
}

fn gunzip(b: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(b), &mut text)
        .expect("valid gzip");
    text
}

const PHONE: [(&str, &str); 4] = [
    ("Accept", "text/html,application/xhtml+xml"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Dest", "document"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_that_speaks_brotli_still_shows_the_banner() {
    let (stack, b) = yaroslavl_with_a_password_session().await;

    // The browser takes brotli; the gateway asks the diary for gzip, puts
    // the banner in and sends gzip on: still compressed for a phone.
    let (status, coding, body) = fetch(&b, &stack.url("/legacy/brotli"), &PHONE).await;
    assert_eq!(status, 200);
    assert_eq!(coding.as_deref(), Some("gzip"));
    let text = gunzip(&body);
    assert_eq!(text.matches("id=\"esia-gate-banner\"").count(), 1, "{text}");
    assert!(text.contains("Страница в brotli") && text.ends_with("</body></html>"));

    // A diary that sends brotli whatever it is asked: decoded, the banner
    // put in, sent plain.
    let (status, coding, body) = fetch(&b, &stack.url("/legacy/brotli-always"), &PHONE).await;
    assert_eq!(status, 200);
    assert_eq!(coding, None);
    let text = String::from_utf8(body).expect("plain utf-8");
    assert!(text.contains("id=\"esia-gate-banner\"") && text.contains("Всегда brotli"));

    // Where nothing goes in (an image tag asks for it), the browser's own
    // Accept-Encoding reaches the diary: brotli, untouched.
    let img = [
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Dest", "image"),
    ];
    let (status, coding, body) = fetch(&b, &stack.url("/legacy/brotli"), &img).await;
    assert_eq!(status, 200);
    assert_eq!(coding.as_deref(), Some("br"));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut brotli::Decompressor::new(body.as_slice(), 4096),
        &mut text,
    )
    .expect("valid brotli");
    assert!(!text.contains("esia-gate-banner"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_a_script_loads_gets_no_banner() {
    let (stack, b) = yaroslavl_with_a_password_session().await;
    let url = stack.url("/legacy/fragment");
    let ways: [&[(&str, &str)]; 4] = [
        // jQuery's $.load
        &[
            ("Accept", "text/html, */*; q=0.01"),
            ("X-Requested-With", "XMLHttpRequest"),
        ],
        // fetch() in a current browser
        &[
            ("Accept", "*/*"),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Dest", "empty"),
        ],
        &[
            ("Sec-Fetch-Mode", "same-origin"),
            ("Sec-Fetch-Dest", "empty"),
        ],
        // An old browser's fetch(): no metadata, and not a document.
        &[("Accept", "*/*")],
    ];
    for headers in ways {
        let (status, _, body) = fetch(&b, &url, headers).await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.starts_with("<ul id=\"menu\">"), "{headers:?}: {text}");
        assert!(!text.contains("esia-gate"), "{headers:?}: {text}");
    }
    // The same address opened as a page gets its banner.
    let (_, _, body) = fetch(&b, &url, &PHONE[2..]).await;
    assert!(
        String::from_utf8(body)
            .expect("utf-8")
            .contains("esia-gate-banner")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_page_reaches_the_browser_while_the_diary_is_still_sending_it() {
    let (stack, b) = yaroslavl_with_a_password_session().await;
    let hold = uuid::Uuid::new_v4().simple().to_string();
    let mut r = b
        .http
        .get(stack.url(&format!("/legacy/large?hold={hold}")))
        .header("Accept", "text/html")
        .header("Sec-Fetch-Mode", "navigate")
        .header("Sec-Fetch-Dest", "document")
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    // The diary holds its last piece back until released: everything
    // before it, banner first, must arrive meanwhile.
    let mut got = Vec::new();
    while got.len() < 2 * 1024 * 1024 {
        let chunk = tokio::time::timeout(Duration::from_secs(60), r.chunk())
            .await
            .expect("the page's beginning arrives while its end is held back")
            .expect("read")
            .expect("more of the page");
        got.extend_from_slice(&chunk);
    }
    let so_far = String::from_utf8_lossy(&got);
    assert!(so_far.contains("id=\"esia-gate-banner\""));
    assert!(!so_far.contains("Конец журнала"), "the end is still held");
    let released = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/__diary/release?hold={hold}",
            stack.ports.diary
        ))
        .send()
        .await
        .expect("release");
    assert_eq!(released.status(), 204);
    while let Some(chunk) = r.chunk().await.expect("read") {
        got.extend_from_slice(&chunk);
    }
    let page = String::from_utf8(got).expect("utf-8");
    assert_eq!(page.matches("id=\"esia-gate-banner\"").count(), 1);
    assert!(page.ends_with("<p id=\"legacy\">Конец журнала</p></body></html>"));
}

/// Read one HTTP/1.1 answer off `s`: its head, then a chunked body up to
/// its last chunk (or `Content-Length` bytes); `None` if the gateway framed
/// it by closing the connection.
async fn read_framed(s: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the answer in 10 s")
            .expect("read");
        assert!(
            n > 0,
            "the gateway closed the connection instead of framing the page"
        );
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let body = &got[end + 4..];
        if head.contains("transfer-encoding: chunked") && body.ends_with(b"\r\n0\r\n\r\n") {
            return (head, body.to_vec());
        }
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if length.is_some_and(|l| body.len() >= l) {
            return (head, body.to_vec());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_the_banner_keeps_the_connection_for_the_next_page() {
    let stack = Stack::start_with(support::policy_options("yaroslavl-2019", "2018-12-15")).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = http
        .post(stack.url("/login"))
        .form(&[("login", "petrov.teacher"), ("password", "demo")])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 302);
    let cookie: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_string))
        .collect();
    let cookie = cookie.join("; ");

    // A phone opens two pages, one after the other, on one connection: the
    // page the banner went into is framed (chunked), so the second page
    // needs no new connection.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", stack.ports.gateway))
        .await
        .expect("connect");
    for page in ["/grades", "/"] {
        let req = format!(
            "GET {page} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/html\r\n\
             Sec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nCookie: {cookie}\r\n\r\n",
            stack.ports.gateway
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
            .await
            .expect("send");
        let (head, body) = read_framed(&mut s).await;
        assert!(head.starts_with("http/1.1 200"), "{page}: {head}");
        assert!(
            head.contains("transfer-encoding: chunked"),
            "{page}: {head}"
        );
        assert!(!head.contains("content-length"), "{page}: {head}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("esia-gate-banner"), "{page}: {text}");
    }
}
