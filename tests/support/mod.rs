//! The real stack for end-to-end stories: the ESIA emulator and the sample
//! diary served on loopback sockets by the test's runtime, the gateway as
//! its own process (the real binary), and a cookie-keeping HTTP client that
//! follows redirects one at a time so every step can be checked.

#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use esia_gate_dev::demo::{self, Ports};
use esia_gate_dev::{diary, emulator};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};

pub fn free_port() -> u16 {
    esia_gate_dev::ports::free_port().expect("a free loopback port")
}

/// How a test wants its stack.
pub struct Options {
    pub start_diary: bool,
    pub code_ttl_seconds: u64,
    /// Appended to the gateway's configuration `[esia]` section.
    pub esia_extra: &'static str,
    /// Appended to the end of the gateway's configuration (e.g. a
    /// `[store]` section).
    pub config_extra: String,
    /// More gateway processes with the same configuration on ports of their
    /// own (another `public_url`), sharing the emulator and the diary. ESIA
    /// knows every instance's callback; all of them send ESIA the first
    /// instance's callback as `redirect_uri`, as nodes behind one load
    /// balancer do, so a callback may be carried to any instance by hand.
    pub peers: usize,
    /// Text replacements in the gateway's configuration (`from`, `to`),
    /// applied before anything else is appended: to change a key the demo
    /// configuration already sets (e.g. `[log] format`).
    pub config_replace: Vec<(String, String)>,
    /// How the sample diary reads requests (its configuration key `mode`):
    /// `DiaryMode::Normal` (the default, strict), `DiaryMode::Iis` (like
    /// ASP.NET on IIS) or `DiaryMode::Php` (like a PHP diary); see
    /// `src/dev/diary_mode.rs` for what each one accepts.
    pub diary_mode: diary::DiaryMode,
    /// Any other change to the sample diary's settings (e.g. its
    /// `login_token`), made before it starts.
    pub diary_setup: fn(&mut diary::DiaryConfig),
    /// `RUST_LOG` of the gateway processes.
    pub rust_log: &'static str,
    /// Another diary address for the gateway (`[upstream] url`), e.g. a
    /// static server for benchmarks; the sample diary still starts unless
    /// `start_diary` is false.
    pub upstream_url: Option<String>,
    /// Another gateway binary than this build's (a benchmark's "before").
    pub gateway_binary: Option<PathBuf>,
    /// Any change to the gateway's files, given its configuration file,
    /// made after the other options and before anything starts (e.g. the
    /// directory CSV in another encoding).
    pub gateway_setup: fn(&std::path::Path),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            start_diary: true,
            code_ttl_seconds: 60,
            esia_extra: "",
            config_extra: String::new(),
            peers: 0,
            config_replace: Vec::new(),
            diary_mode: diary::DiaryMode::Normal,
            diary_setup: |_| {},
            rust_log: "info",
            upstream_url: None,
            gateway_binary: None,
            gateway_setup: |_| {},
        }
    }
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub ports: Ports,
    pub public_url: String,
    pub esia_url: String,
    pub gateway: Child,
    pub log: PathBuf,
    /// The other gateway instances ([`Options::peers`]).
    pub peers: Vec<Peer>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    emulator_rt: Option<tokio::runtime::Runtime>,
    rust_log: &'static str,
    binary: PathBuf,
    /// Environment variables of the gateway process from its next
    /// [`Stack::kill9_and_restart`] on (e.g. `ESIA_GATE_*` overrides).
    pub gateway_env: Vec<(String, String)>,
}

/// Another gateway process of the same stack.
pub struct Peer {
    pub gateway_port: u16,
    pub admin_port: u16,
    pub public_url: String,
    pub gateway: Child,
    pub log: PathBuf,
}

impl Peer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(self.admin_url("/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics text")
    }
}

fn start_gateway(
    binary: &std::path::Path,
    config: &std::path::Path,
    log: &std::path::Path,
    rust_log: &str,
    env: &[(String, String)],
) -> Child {
    let log_file = std::fs::File::create(log).expect("log file");
    // Audit lines go to stdout when no audit file is configured: keep them
    // in the same log as the operational lines.
    let audit = log_file.try_clone().expect("log file");
    Command::new(binary)
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(audit)
        .stderr(log_file)
        .spawn()
        .expect("start the gateway")
}

/// Wait (30 s at most) until the admin listener answers `/healthz` and the
/// public listener accepts connections: Pingora binds each service's
/// listener on that service's own thread, so one may be up before the other.
async fn wait_healthy(
    gateway: &mut Child,
    admin_port: u16,
    public_port: u16,
    log: &std::path::Path,
) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{admin_port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = gateway.try_wait() {
            panic!(
                "the gateway exited ({status}) before it was ready:\n{}",
                text()
            );
        }
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
            && tokio::net::TcpStream::connect(("127.0.0.1", public_port))
                .await
                .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not become ready in 30 s:\n{}",
            text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
        for p in &mut self.peers {
            let _ = p.gateway.kill();
            let _ = p.gateway.wait();
        }
        for t in &self.tasks {
            t.abort();
        }
        if let Some(rt) = self.emulator_rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn bound(port: u16) -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind loopback")
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = Ports {
            gateway: free_port(),
            admin: free_port(),
            diary: free_port(),
            emulator: free_port(),
        };
        let mut p = demo::prepare(dir.path(), ports).expect("prepare the stack");
        if let Some(url) = &opts.upstream_url {
            let text = std::fs::read_to_string(&p.gateway_config).expect("config");
            let from = format!("url = \"http://127.0.0.1:{}\"", ports.diary);
            assert!(
                text.contains(&from),
                "the diary's url is not in the configuration"
            );
            std::fs::write(
                &p.gateway_config,
                text.replace(&from, &format!("url = \"{url}\"")),
            )
            .expect("config");
        }
        if !opts.config_replace.is_empty() {
            let mut text = std::fs::read_to_string(&p.gateway_config).expect("config");
            for (from, to) in &opts.config_replace {
                assert!(
                    text.contains(from.as_str()),
                    "`{from}` is not in the configuration"
                );
                text = text.replace(from.as_str(), to);
            }
            std::fs::write(&p.gateway_config, text).expect("config");
        }
        if !opts.esia_extra.is_empty() {
            let text = std::fs::read_to_string(&p.gateway_config).expect("config");
            let text = text.replace(
                "timeout_seconds = 3\n",
                &format!("timeout_seconds = 3\n{}\n", opts.esia_extra),
            );
            std::fs::write(&p.gateway_config, text).expect("config");
        }
        if !opts.config_extra.is_empty() {
            let mut text = std::fs::read_to_string(&p.gateway_config).expect("config");
            text.push('\n');
            text.push_str(&opts.config_extra);
            text.push('\n');
            std::fs::write(&p.gateway_config, text).expect("config");
        }
        (opts.gateway_setup)(&p.gateway_config);
        let mut peer_configs = Vec::new();
        if opts.peers > 0 {
            let text = std::fs::read_to_string(&p.gateway_config).expect("config");
            let first_callback = format!("{}/esia-gate/callback", p.public_url);
            for n in 0..opts.peers {
                let (gw, admin) = (free_port(), free_port());
                let public_url = format!("http://127.0.0.1:{gw}");
                let peer_text = text
                    .replace(
                        &format!("public = \"127.0.0.1:{}\"", ports.gateway),
                        &format!("public = \"127.0.0.1:{gw}\""),
                    )
                    .replace(
                        &format!("admin = \"127.0.0.1:{}\"", ports.admin),
                        &format!("admin = \"127.0.0.1:{admin}\""),
                    )
                    .replace(
                        &format!("public_url = \"{}\"", p.public_url),
                        &format!("public_url = \"{public_url}\""),
                    )
                    .replace(
                        "timeout_seconds = 3\n",
                        &format!("timeout_seconds = 3\nredirect_uri = \"{first_callback}\"\n"),
                    );
                let path = p.dir.join(format!("gateway-peer{n}.toml"));
                std::fs::write(&path, peer_text).expect("peer config");
                for c in &mut p.emulator.clients {
                    c.redirect_uris
                        .push(format!("{public_url}/esia-gate/callback"));
                }
                peer_configs.push((gw, admin, public_url, path));
            }
        }
        p.emulator.code_ttl_seconds = opts.code_ttl_seconds;
        p.diary.mode = opts.diary_mode;
        (opts.diary_setup)(&mut p.diary);
        let mut tasks = Vec::new();
        // The emulator runs on a runtime of its own, so that stopping it
        // (an ESIA outage) ends its open connections too.
        let emulator_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("emulator runtime");
        let emu_l = std::net::TcpListener::bind(("127.0.0.1", ports.emulator)).expect("bind");
        emu_l.set_nonblocking(true).expect("nonblocking");
        let emu_cfg = p.emulator.clone();
        emulator_rt.spawn(async move {
            if let Ok(l) = tokio::net::TcpListener::from_std(emu_l) {
                let _ = emulator::serve(emu_cfg, l).await;
            }
        });
        if opts.start_diary {
            let diary_l = bound(ports.diary).await;
            let diary_cfg: diary::DiaryConfig = p.diary.clone();
            tasks.push(tokio::spawn(async move {
                let _ = diary::serve(diary_cfg, diary_l).await;
            }));
        }
        let log = dir.path().join("gateway.log");
        let binary = opts
            .gateway_binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_esia-gate")));
        let gateway = start_gateway(&binary, &p.gateway_config, &log, opts.rust_log, &[]);
        let mut peers = Vec::new();
        for (n, (gateway_port, admin_port, public_url, config)) in
            peer_configs.into_iter().enumerate()
        {
            let log = dir.path().join(format!("gateway-peer{n}.log"));
            peers.push(Peer {
                gateway_port,
                admin_port,
                public_url,
                gateway: start_gateway(&binary, &config, &log, opts.rust_log, &[]),
                log,
            });
        }
        let mut stack = Stack {
            dir,
            ports,
            public_url: p.public_url.clone(),
            esia_url: p.emulator.public_url.clone(),
            gateway,
            log,
            peers,
            tasks,
            emulator_rt: Some(emulator_rt),
            rust_log: opts.rust_log,
            gateway_env: Vec::new(),
            binary,
        };
        wait_healthy(
            &mut stack.gateway,
            stack.ports.admin,
            stack.ports.gateway,
            &stack.log,
        )
        .await;
        for p in &mut stack.peers {
            wait_healthy(&mut p.gateway, p.admin_port, p.gateway_port, &p.log).await;
        }
        stack
    }

    /// Restart the gateway with `[esia.signer]` set to `section` (and no
    /// `private_key`: the external signer holds the key).
    pub async fn use_external_signer(&mut self, section: &str) {
        let config = self.config_path();
        let text = std::fs::read_to_string(&config).expect("config");
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("private_key"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&config, format!("{text}\n[esia.signer]\n{section}")).expect("config");
        self.kill9_and_restart().await;
    }

    /// Move the rehearsal date of a gateway started with
    /// [`policy_options`] (`PUT /rehearse-date` on the admin listener).
    pub async fn set_date(&self, date: &str) {
        let r = reqwest::Client::new()
            .put(self.admin_url(&format!("/rehearse-date?date={date}")))
            .send()
            .await
            .expect("rehearse-date");
        assert!(r.status().is_success(), "rehearse-date: {}", r.status());
    }

    /// `kill -9` the gateway and start it again with the same configuration
    /// (the new process logs to a new file).
    pub async fn kill9_and_restart(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
        let config = self.dir.path().join("gateway.toml");
        self.log = self.dir.path().join("gateway-restarted.log");
        self.gateway = start_gateway(
            &self.binary,
            &config,
            &self.log,
            self.rust_log,
            &self.gateway_env,
        );
        wait_healthy(
            &mut self.gateway,
            self.ports.admin,
            self.ports.gateway,
            &self.log,
        )
        .await;
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("gateway.toml")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.admin)
    }

    /// Stop the ESIA emulator (an ESIA outage): its listener closes, so
    /// every new connection to it is refused.
    pub async fn stop_emulator(&mut self) {
        if let Some(rt) = self.emulator_rt.take() {
            rt.shutdown_background();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.ports.emulator))
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "the emulator did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Make the emulator misbehave on one endpoint from now on.
    pub async fn esia_fault(&self, endpoint: &str, mode: &str) {
        let r = reqwest::Client::new()
            .post(format!(
                "{}/__emulator/fault?endpoint={endpoint}&mode={mode}",
                self.esia_url
            ))
            .send()
            .await
            .expect("fault injection");
        assert!(r.status().is_success(), "fault injection: {}", r.status());
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(self.admin_url("/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics text")
    }

    /// Waits (up to 30 s) until a counter reaches `at_least`: reloads run on
    /// their own thread, and a loaded machine may take a while to get there.
    pub async fn wait_for_counter(&self, series: &str, at_least: f64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let value = counter(&self.metrics().await, series);
            if value >= at_least {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{series} stayed at {value}, wanted {at_least}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A stack enforcing a shipped policy (`policies/FILE.toml`) as if it were
/// `date` (the gateway's rehearsal mode; [`Stack::set_date`] moves it).
pub fn policy_options(file: &str, date: &str) -> Options {
    Options {
        config_extra: format!(
            "\n[policy]\nfile = \"{}/policies/{file}.toml\"\nrehearse_date = \"{date}\"\ncheck_seconds = 1\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        ..Options::default()
    }
}

/// The value of a counter line `name{labels} value` in a scrape, 0 if absent.
pub fn counter(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// One browser: keeps cookies, follows no redirect by itself.
pub struct Browser {
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub url: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// `value="..."` of the first `<input ... name="NAME" ...>` in a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let end = tag[v..].find('"')?;
    Some(tag[v..v + end].to_string())
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    async fn answer(r: reqwest::Response) -> Answer {
        Answer {
            status: r.status(),
            url: r.url().to_string(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    /// A top-level navigation, as a browser makes it.
    pub async fn get(&self, url: &str) -> Answer {
        let r = self
            .http
            .get(url)
            .header("Accept", "text/html,application/xhtml+xml")
            .header("Sec-Fetch-Mode", "navigate")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        Self::answer(r).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        Self::answer(r).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        Self::answer(r).await
    }

    /// Log out with the gateway's «Выйти»: the confirmation page, then its
    /// form (a POST with the session's token). Returns the POST's answer.
    pub async fn logout(&self, url: &str) -> Answer {
        let page = self.get(url).await;
        assert_eq!(page.status, 200, "logout page: {}", page.body);
        let csrf = hidden_value(&page.body, "csrf").expect("the logout form's token");
        self.post_form(url, &[("csrf", &csrf)]).await
    }

    /// Navigate and follow redirects (at most 10), returning the last answer.
    pub async fn follow(&self, url: &str) -> Answer {
        let mut url = url.to_string();
        for _ in 0..10 {
            let a = self.get(&url).await;
            match a.location() {
                Some(l) if a.status.is_redirection() => {
                    url = reqwest::Url::parse(&a.url)
                        .and_then(|base| base.join(&l))
                        .map(|u| u.to_string())
                        .expect("a redirect target");
                }
                _ => return a,
            }
        }
        panic!("more than 10 redirects from {url}");
    }

    /// Start at `path` on the gateway, get sent to ESIA, log in as `oid`.
    /// Returns the consent page answer, with the emulator's request id.
    pub async fn to_consent(&self, stack: &Stack, path: &str, oid: &str) -> (Answer, String) {
        let login_page = self.follow(&stack.url(path)).await;
        assert_eq!(
            login_page.status, 200,
            "ESIA login page: {}",
            login_page.body
        );
        assert!(
            login_page.url.starts_with(&stack.esia_url),
            "expected the ESIA emulator, got {}",
            login_page.url
        );
        let request = hidden_value(&login_page.body, "request").expect("the emulator's request id");
        let consent = self
            .post_form(
                &format!("{}/aas/oauth2/login", stack.esia_url),
                &[("request", &request), ("oid", oid)],
            )
            .await;
        assert_eq!(consent.status, 200, "consent page: {}", consent.body);
        let request = hidden_value(&consent.body, "request").expect("request id on consent");
        (consent, request)
    }

    /// Press a consent button; returns the callback URL ESIA sends us to.
    pub async fn decide(&self, stack: &Stack, request: &str, decision: &str) -> String {
        let a = self
            .post_form(
                &format!("{}/aas/oauth2/consent", stack.esia_url),
                &[("request", request), ("decision", decision)],
            )
            .await;
        assert_eq!(a.status, 302, "consent answer: {}", a.body);
        a.location().expect("callback location")
    }

    /// The whole story up to the callback URL (not yet visited).
    pub async fn login_until_callback(&self, stack: &Stack, path: &str, oid: &str) -> String {
        let (_, request) = self.to_consent(stack, path, oid).await;
        self.decide(stack, &request, "allow").await
    }

    /// The whole story: the final page after the callback.
    pub async fn login(&self, stack: &Stack, path: &str, oid: &str) -> Answer {
        let cb = self.login_until_callback(stack, path, oid).await;
        self.follow(&cb).await
    }
}

/// The text inside the element with `id="ID"`.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].trim().to_string())
}

/// Test persons of the demo fixtures (see src/dev/fixtures.rs).
pub mod persons {
    /// Иванова Мария Петровна: one parent account, confirmed.
    pub const IVANOVA: &str = "1000001";
    /// Петров: teacher and parent.
    pub const PETROV: &str = "1000002";
    /// Сидоров: SNILS not in the diary.
    pub const SIDOROV: &str = "1000003";
    /// Кузнецова: simplified account, no SNILS.
    pub const KUZNETSOVA: &str = "1000004";
    /// Смирнов: staff, spelled differently in the diary.
    pub const SMIRNOV: &str = "1000005";
    /// Морозова: a standard (not confirmed) account, one parent account.
    pub const MOROZOVA: &str = "1000006";
}

/// A real `redis-server` on a free loopback port, killed when dropped.
pub use esia_gate_dev::redis::RedisServer;

/// A `[store]` section for [`Options::config_extra`] using `redis`.
pub fn redis_store_section(redis: &RedisServer, cache_ttl_ms: u64) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nurl = \"{}\"\ncache_ttl_ms = {cache_ttl_ms}\ntimeout_ms = 1000\n",
        redis.url()
    )
}
