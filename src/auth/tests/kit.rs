//! What the flows' unit tests stand on: the demo's configuration and
//! people (written by the development crate into a temporary directory;
//! only paths and URLs cross from it), the in-memory store behind a switch
//! that can take it down, a clock that can be moved, and on request the
//! real ESIA emulator and sample diary on loopback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use crate::auth::Auth;
use crate::auth::accounts::Form;
use crate::auth::session::Current;
use crate::clock::Clock;
use crate::esia::signer::OpensslGostSigner;
use crate::esia::token::TrustedKeys;
use crate::esia::v2::V2Provider;
use crate::esia::{EsiaClient, EsiaSettings, Shared};
use crate::identity::{Directory, EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, MemoryStore,
    PendingLogin, Reserved, SessionRecord, Store, StoreError, random_id,
};

/// How a test wants its world.
#[derive(Default)]
pub struct Setup {
    /// Serve the ESIA emulator on its port.
    pub esia: bool,
    /// Serve the sample diary on its port.
    pub diary: bool,
    /// Text replacements in the demo configuration.
    pub replace: Vec<(&'static str, &'static str)>,
    /// Appended to the configuration.
    pub extra: &'static str,
}

pub struct Kit {
    pub auth: Auth,
    store: Arc<Switchable>,
    offset: Arc<AtomicI64>,
    pub esia_url: String,
    public_url: String,
    /// The session [`Kit::current`] saved last.
    last_session: Mutex<Option<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Kit {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A form's fields.
pub fn form(fields: &[(&str, &str)]) -> Form {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A gateway session of Петров (oid 1000002) with these accounts.
pub fn session_with(accounts: &[&str], active: Option<&str>) -> SessionRecord {
    SessionRecord {
        oid: EsiaOid("1000002".into()),
        trusted: true,
        accounts: accounts
            .iter()
            .map(|a| LegacyLogin(a.to_string()))
            .collect(),
        active: active.map(|a| LegacyLogin(a.into())),
        display_name: "Тест Тестов".into(),
        created_at: chrono::Utc::now().timestamp(),
        return_to: Some("/grades".into()),
        csrf: random_id(),
        ..SessionRecord::default()
    }
}

/// `value="..."` of the first input named `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let end = tag[v..].find('"')?;
    Some(tag[v..v + end].to_string())
}

fn port() -> u16 {
    esia_gate_dev::ports::free_port().expect("a free loopback port")
}

impl Kit {
    /// The demo world with nothing served: the flows that need no network.
    pub fn new(extra: &'static str) -> Kit {
        Self::build(Setup {
            extra,
            ..Setup::default()
        })
        .0
    }

    /// The demo world with the emulator and the diary served as asked.
    pub async fn start(setup: Setup) -> Kit {
        let (esia, diary) = (setup.esia, setup.diary);
        let (mut kit, prepared) = Self::build(setup);
        if esia {
            let l = tokio::net::TcpListener::bind(prepared.emulator.listen)
                .await
                .expect("bind the emulator");
            let cfg = prepared.emulator.clone();
            kit.tasks.push(tokio::spawn(async move {
                let _ = esia_gate_dev::emulator::serve(cfg, l).await;
            }));
        }
        if diary {
            let l = tokio::net::TcpListener::bind(prepared.diary.listen)
                .await
                .expect("bind the diary");
            let cfg = prepared.diary.clone();
            kit.tasks.push(tokio::spawn(async move {
                let _ = esia_gate_dev::diary::serve(cfg, l).await;
            }));
        }
        kit
    }

    fn build(setup: Setup) -> (Kit, esia_gate_dev::demo::Prepared) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = esia_gate_dev::demo::Ports {
            gateway: port(),
            admin: port(),
            diary: port(),
            emulator: port(),
        };
        let prepared = esia_gate_dev::demo::prepare(dir.path(), ports).expect("the demo world");
        let mut text = std::fs::read_to_string(&prepared.gateway_config).expect("config");
        for (from, to) in &setup.replace {
            assert!(text.contains(from), "`{from}` is not in the configuration");
            text = text.replace(from, to);
        }
        text.push('\n');
        text.push_str(setup.extra);
        std::fs::write(&prepared.gateway_config, text).expect("config");
        let r = crate::config::load(&prepared.gateway_config).expect("the configuration");
        let s = &r.settings;
        let cert = r.path(s.esia.certificate.as_ref().expect("certificate"));
        let key = r.path(s.esia.private_key.as_ref().expect("private key"));
        let signer = OpensslGostSigner::from_files(&cert, &key).expect("the GOST signer");
        let pems: Vec<Vec<u8>> = s
            .esia
            .trusted_certificates
            .iter()
            .map(|c| std::fs::read(r.path(c)).expect("trusted certificate"))
            .collect();
        let shared = Shared::new(
            EsiaSettings {
                base: r.esia_base.clone(),
                client_id: s.esia.client_id.clone(),
                scope: s.esia.scope.clone(),
                scope_org: s.esia.scope_org.clone(),
                redirect_uri: r.redirect_uri.clone(),
                issuer: r.issuer.clone(),
                timeout: Duration::from_secs(s.esia.timeout_seconds),
                leeway_seconds: s.esia.leeway_seconds,
            },
            TrustedKeys::from_certificates(&pems).expect("trusted keys"),
        )
        .expect("the ESIA client");
        let esia = EsiaClient::new(
            Arc::new(V2Provider::new(shared.clone(), Arc::new(signer))),
            &shared,
        );
        let csv = r.path(s.directory.csv.as_ref().expect("directory csv"));
        let (directory, _) = Directory::load_csv(&csv).expect("the directory");
        let store = Arc::new(Switchable::default());
        let offset = Arc::new(AtomicI64::new(0));
        let moved = offset.clone();
        let clock: Clock = Arc::new(move || {
            chrono::Utc::now() + chrono::Duration::seconds(moved.load(Ordering::Relaxed))
        });
        let esia_url = r.esia_base.as_str().trim_end_matches('/').to_string();
        let public_url = r.public_url.as_str().trim_end_matches('/').to_string();
        let auth = Auth::new(
            Arc::new(r),
            Arc::new(esia),
            store.clone(),
            Arc::new(ArcSwap::from_pointee(directory)),
            clock,
        );
        let kit = Kit {
            auth,
            store,
            offset,
            esia_url,
            public_url,
            last_session: Mutex::new(None),
            tasks: Vec::new(),
            _dir: dir,
        };
        (kit, prepared)
    }

    /// A URL on the gateway's public origin.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Move the clock by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }

    /// Take the store down (every call fails) or bring it back.
    pub fn store_down(&self, down: bool) {
        self.store.down.store(down, Ordering::Relaxed);
    }

    /// Save `record` as a new session; its cookie header.
    pub async fn login_session(&self, record: SessionRecord) -> String {
        let current = self.current(record).await;
        format!("esia_gate_session={}", current.id)
    }

    /// Save `record` as a new session, as the flows receive it.
    pub async fn current(&self, record: SessionRecord) -> Current {
        let id = random_id();
        self.store
            .put_session(&id, &record, Duration::from_secs(3600))
            .await
            .expect("save the session");
        *self.last_session.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
        Current { id, record }
    }

    /// The session [`Kit::current`] saved last, as the store has it now.
    pub async fn stored_session(&self) -> SessionRecord {
        let id = self
            .last_session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .expect("a session");
        self.store
            .get_session(&id)
            .await
            .expect("the store")
            .expect("the session")
    }

    /// Press through the emulator from the authorization URL as person
    /// `oid`, deciding `allow` or `deny`; the callback URL ESIA sends the
    /// browser to.
    pub async fn through_esia(&self, authorization_url: &str, oid: &str, decision: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = http
            .get(authorization_url)
            .send()
            .await
            .expect("the ESIA login page")
            .text()
            .await
            .expect("page");
        let request = hidden_value(&page, "request").expect("the emulator's request id");
        let consent = http
            .post(format!("{}/aas/oauth2/login", self.esia_url))
            .form(&[("request", request.as_str()), ("oid", oid)])
            .send()
            .await
            .expect("the consent page")
            .text()
            .await
            .expect("page");
        let request = hidden_value(&consent, "request").expect("request id on consent");
        let back = http
            .post(format!("{}/aas/oauth2/consent", self.esia_url))
            .form(&[("request", request.as_str()), ("decision", decision)])
            .send()
            .await
            .expect("the consent answer");
        back.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a redirect to the callback")
            .to_string()
    }
}

/// The in-memory store, with a switch that makes every call fail as an
/// unreachable Redis would.
#[derive(Default)]
struct Switchable {
    inner: MemoryStore,
    down: AtomicBool,
}

impl Switchable {
    fn up(&self) -> Result<&MemoryStore, StoreError> {
        if self.down.load(Ordering::Relaxed) {
            Err(StoreError::Unavailable("connection refused (test)".into()))
        } else {
            Ok(&self.inner)
        }
    }
}

#[async_trait]
impl Store for Switchable {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.up()?.put_session(id, s, ttl).await
    }
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.up()?.get_session(id).await
    }
    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.up()?.delete_session(id).await
    }
    async fn session_count(&self) -> Result<usize, StoreError> {
        self.up()?.session_count().await
    }
    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.up()?.put_pending(state, p, ttl).await
    }
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        self.up()?.take_pending(state).await
    }
    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        self.up()?.rate_reserve(key, limit, window).await
    }
    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        self.up()?.rate_release(key).await
    }
    async fn put_cookie_login(
        &self,
        hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.up()?.put_cookie_login(hash, login, ttl).await
    }
    async fn cookie_login(&self, hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        self.up()?.cookie_login(hash).await
    }
    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        self.up()?.put_link(link).await
    }
    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        self.up()?.remove_link(oid, login, kind).await
    }
    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        self.up()?.links_of(oid).await
    }
    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        self.up()?.owner_of(login).await
    }
    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        self.up()?.record_login(r).await
    }
    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        self.up()?.last_logins().await
    }
    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        self.up()?.has_logged_in(login).await
    }
    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        self.up()?.record_match_failure(f).await
    }
    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        self.up()?.match_failures_since(at).await
    }
    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        self.up()?.last_logins_of(logins).await
    }
    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        self.up()?.prune_before(before, batch).await
    }
    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        self.up()?.forget_person(oid).await
    }
    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        self.up()?.export_durable().await
    }
    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        self.up()?.import_durable(records).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.up()?.ping().await
    }
}

/// The request's cookies after a reply set some (name=value pairs only).
pub fn cookies_after(reply_cookies: &[String]) -> String {
    let pairs: HashMap<&str, &str> = reply_cookies
        .iter()
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}
