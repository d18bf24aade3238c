//! The login story in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over the W3C WebDriver protocol. Screenshots
//! of the pages a person sees are saved under `target/screenshots/` for a
//! look.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support::{Stack, free_port, persons};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.exists())
    })
}

impl Driver {
    async fn start() -> Driver {
        let chromedriver = which("chromedriver").unwrap_or_else(|| {
            panic!("chromedriver is not installed: run scripts/test (it installs Debian's chromium and chromium-driver)")
        });
        let chromium = which("chromium").unwrap_or_else(|| {
            panic!("chromium is not installed: run scripts/test (it installs Debian's chromium)")
        });
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    // A phone's screen: the pages must work there.
                    "--window-size=412,915",
                    "--lang=ru-RU",
                ]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self
                .cmd(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the element's text satisfies `ok` (the page may still be
    /// the previous one right after a click) and returns it; after 20 s it
    /// returns whatever was last read, so the caller's assertion shows it.
    async fn text_when(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.text(css).await;
            if ok(&t) || Instant::now() >= deadline {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn expect_text(&self, css: &str, want: &str) {
        let got = self.text_when(css, |t| t == want).await;
        assert_eq!(got, want, "text of {css} on {}", self.current_url().await);
    }

    async fn expect_text_containing(&self, css: &str, want: &str) {
        let got = self.text_when(css, |t| t.contains(want)).await;
        assert!(
            got.contains(want),
            "text of {css} on {} is {got:?}, wanted {want:?} in it",
            self.current_url().await
        );
    }

    async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn page_source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot data"))
            .expect("png");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    async fn clear_cookies(&self) {
        self.cmd(reqwest::Method::DELETE, "/cookie", None).await;
    }

    async fn quit(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

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

async fn type_into(d: &Driver, css: &str, text: &str) {
    let id = d.find(css).await;
    d.cmd(
        reqwest::Method::POST,
        &format!("/element/{id}/value"),
        Some(json!({"text": text})),
    )
    .await;
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
    d.expect_text("h1", "Оценки доступны после входа через Госуслуги")
        .await;
    d.screenshot("policy-grades-closed.png").await;
    d.quit().await;
}
