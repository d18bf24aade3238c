//! A strict ESIA emulator speaking the v2 authorization and v3 token
//! endpoints, the person REST API and logout, as described in
//! `esia-protocol.md`. It checks what real ESIA checks (registered client
//! and redirect_uri, timestamp, certificate hash, GOST client secret,
//! single-use short-lived codes, a new state at the token endpoint) and
//! answers with ESIA's error codes, so that the gateway's client can be
//! tested without the real test stand.
//!
//! With `broker_clients` configured it also plays a certified ESIA broker
//! (plain OAuth2/OIDC with a static client secret under `/broker/`, see
//! `broker.rs`), for the gateway's `mode = "broker"`.
//!
//! It also accepts the deprecated legacy pair `GET /aas/oauth2/ac` +
//! `POST /aas/oauth2/te` (detached PKCS#7 client secret, no certificate
//! hash; see `legacy.rs`), with the same login, consent and tokens.
//!
//! Persons come from a JSON file (see [`Person`]); tokens are RS256 JWTs
//! signed with a configured RSA key. `POST /__emulator/fault` makes an
//! endpoint misbehave for tests. Nothing here logs a SNILS or a token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::html::{document, esc, form_map, found, respond};
use esia_gate::esia::gost;
use esia_gate::esia::protocol::{self, codes};

mod broker;
mod legacy;
pub use broker::LOGIN_TITLE as BROKER_LOGIN_TITLE;

/// The issuer of the ESIA test stand's tokens.
pub const DEFAULT_ISSUER: &str = "http://esia-portal1.test.gosuslugi.ru/";
/// The issuer the `wrong_issuer` fault puts into tokens.
pub const EVIL_ISSUER: &str = "http://evil.example/";
/// How long a login screen (between `ac` and the consent) stays usable.
const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
const TOKEN_LIFETIME: i64 = 3600;
const HANG: Duration = Duration::from_secs(120);

fn default_issuer() -> String {
    DEFAULT_ISSUER.to_string()
}
fn default_code_ttl() -> u64 {
    60
}
fn default_tolerance() -> u64 {
    300
}

/// The emulator's settings (TOML or JSON; unknown fields are errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    /// Its own base URL, e.g. `http://127.0.0.1:8001` (used in links it returns).
    pub public_url: String,
    /// `iss` of the tokens.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    pub clients: Vec<RegisteredClient>,
    /// RSA private key (PKCS#8 PEM) for the RS256 tokens.
    pub token_key: PathBuf,
    /// The persons file (JSON array of [`Person`]).
    pub persons: PathBuf,
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
    #[serde(default = "default_tolerance")]
    pub timestamp_tolerance_seconds: u64,
    /// Relying parties of the `/broker/…` OAuth2/OIDC endpoints (none: the
    /// broker endpoints reject every client).
    #[serde(default)]
    pub broker_clients: Vec<BrokerClient>,
}

/// A system registered at the emulator ("technology portal").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredClient {
    /// The mnemonic, e.g. `DIARY`.
    pub client_id: String,
    /// The system's GOST certificate (PEM).
    pub certificate: PathBuf,
    /// Allowed `redirect_uri` values (exact matches). Logout accepts any
    /// `redirect_url` on the same origin as one of them.
    pub redirect_uris: Vec<String>,
}

/// A relying party of the emulator's OAuth2/OIDC *broker* endpoints
/// (`/broker/…`, see `mode = "broker"`): a static client secret instead of
/// GOST signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerClient {
    pub client_id: String,
    pub client_secret: String,
    /// Allowed `redirect_uri` values (exact matches).
    pub redirect_uris: Vec<String>,
}

impl EmulatorConfig {
    /// Read a TOML configuration file.
    pub fn load(path: &FsPath) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid emulator configuration", path.display()))
    }

    /// The configuration of the demo: one client `client_id` with the dev
    /// keys' GOST certificate, the dev RSA token key, default timings.
    pub fn demo(
        listen: SocketAddr,
        keys: &super::keys::DevKeys,
        persons: PathBuf,
        client_id: &str,
        redirect_uris: Vec<String>,
    ) -> Self {
        EmulatorConfig {
            listen,
            public_url: format!("http://{listen}"),
            issuer: default_issuer(),
            clients: vec![RegisteredClient {
                client_id: client_id.to_string(),
                certificate: keys.client_cert.clone(),
                redirect_uris,
            }],
            token_key: keys.esia_token_key.clone(),
            persons,
            code_ttl_seconds: default_code_ttl(),
            timestamp_tolerance_seconds: default_tolerance(),
            broker_clients: Vec::new(),
        }
    }
}

/// A person known to the emulator (one element of the persons file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub oid: u64,
    /// Short label for the login screen and the demo's console, e.g.
    /// «родитель: одна учётная запись в дневнике».
    pub login_hint: String,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: String,
    /// `DD.MM.YYYY`.
    pub birth_date: String,
    /// `M` or `F`.
    pub gender: String,
    /// `000-000-600 06` form; `null` for a simplified account.
    pub snils: Option<String>,
    /// A confirmed account.
    pub trusted: bool,
    #[serde(default)]
    pub kids: Vec<Kid>,
}

/// A child attached to a person's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kid {
    pub oid: u64,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: String,
    /// `DD.MM.YYYY`.
    pub birth_date: String,
    /// `000-000-600 06` form or `null`.
    pub snils: Option<String>,
}

impl Person {
    /// One line for a console: oid, FIO, account kind and the hint. No SNILS.
    pub fn describe(&self) -> String {
        let kids = match self.kids.len() {
            0 => String::new(),
            n => format!(", детей в ЕСИА: {n}"),
        };
        format!(
            "{} {} — {}{}; {}",
            self.oid,
            self.full_name(),
            self.account_kind(),
            kids,
            self.login_hint
        )
    }

    fn full_name(&self) -> String {
        join_name(&self.last_name, &self.first_name, &self.middle_name)
    }

    /// How ESIA would classify the account (shown on the login screen).
    fn account_kind(&self) -> &'static str {
        if self.trusted {
            "подтверждённая учётная запись"
        } else if self.snils.is_some() {
            "стандартная учётная запись"
        } else {
            "упрощённая учётная запись"
        }
    }
}

fn join_name(last: &str, first: &str, middle: &str) -> String {
    [last, first, middle]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn snils_format_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 14
        && b.iter().enumerate().all(|(i, c)| match i {
            3 | 7 => *c == b'-',
            11 => *c == b' ',
            _ => c.is_ascii_digit(),
        })
}

fn date_ok(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%d.%m.%Y").is_ok()
}

/// Read and check a persons file. The SNILS format is checked, its
/// checksum deliberately not (to test the gateway's own check).
pub fn load_persons(path: &FsPath) -> anyhow::Result<Vec<Person>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let persons: Vec<Person> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid persons file", path.display()))?;
    let mut seen = std::collections::HashSet::new();
    for p in &persons {
        let at = format!("{}: person {}", path.display(), p.oid);
        if !seen.insert(p.oid) {
            bail!("{at}: the oid appears twice");
        }
        if p.last_name.trim().is_empty() || p.first_name.trim().is_empty() {
            bail!("{at}: last_name and first_name are required");
        }
        if !date_ok(&p.birth_date) {
            bail!("{at}: birth_date must be DD.MM.YYYY");
        }
        if p.gender != "M" && p.gender != "F" {
            bail!("{at}: gender must be \"M\" or \"F\"");
        }
        if p.snils.as_deref().is_some_and(|s| !snils_format_ok(s)) {
            bail!("{at}: snils must look like \"000-000-600 06\" (or be null)");
        }
        for k in &p.kids {
            if !date_ok(&k.birth_date) {
                bail!("{at}: kid {}: birth_date must be DD.MM.YYYY", k.oid);
            }
            if k.snils.as_deref().is_some_and(|s| !snils_format_ok(s)) {
                bail!(
                    "{at}: kid {}: snils must look like \"000-000-600 06\"",
                    k.oid
                );
            }
        }
    }
    Ok(persons)
}

// ---------------------------------------------------------------------------
// State

struct Client {
    cert_hash: String,
    /// The registered certificate: the only signer a legacy (PKCS#7)
    /// `client_secret` may name.
    cert: X509,
    public_key: PKey<Public>,
    redirect_uris: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PersonFilter {
    ConfirmedOnly,
    KidsOnly,
    NotKids,
}

impl PersonFilter {
    fn parse(b64: &str) -> Option<Self> {
        let t = b64.trim_end_matches('=');
        let raw = URL_SAFE_NO_PAD
            .decode(t)
            .or_else(|_| STANDARD.decode(b64))
            .ok()?;
        match std::str::from_utf8(&raw).ok()?.trim() {
            "conf_acc" => Some(Self::ConfirmedOnly),
            "acc_kid" => Some(Self::KidsOnly),
            "acc_not_kid" => Some(Self::NotKids),
            _ => None,
        }
    }

    fn admits(filter: Option<Self>, p: &Person) -> bool {
        match filter {
            None | Some(Self::NotKids) => true,
            Some(Self::ConfirmedOnly) => p.trusted,
            // The fixture has no child accounts of its own.
            Some(Self::KidsOnly) => false,
        }
    }
}

/// Between a valid `ac` request and the consent decision.
struct Pending {
    client_id: String,
    redirect_uri: String,
    scope: String,
    scope_org: String,
    state: String,
    filter: Option<PersonFilter>,
    oid: Option<u64>,
    created: Instant,
    /// Which pair of endpoints started it (and must redeem its code).
    flow: Flow,
}

/// An issued authorization code.
struct Grant {
    client_id: String,
    redirect_uri: String,
    scope: String,
    scope_org: String,
    ac_state: String,
    oid: u64,
    auth_time: i64,
    expires: Instant,
    /// The flow the code was issued for; the other flow's `te` refuses it.
    flow: Flow,
}

/// The two direct ways to ESIA the emulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// `/aas/oauth2/v2/ac` + `/aas/oauth2/v3/te`: raw GOST signature and
    /// `client_certificate_hash`.
    V2,
    /// Deprecated `/aas/oauth2/ac` + `/aas/oauth2/te`: detached PKCS#7
    /// SignedData over `scope + timestamp + client_id + state`.
    Legacy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum FaultMode {
    #[default]
    None,
    Status500,
    Hang,
    BadSignature,
    WrongIssuer,
    Expired,
}

impl FaultMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "status500" => Self::Status500,
            "hang" => Self::Hang,
            "bad_signature" => Self::BadSignature,
            "wrong_issuer" => Self::WrongIssuer,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

#[derive(Default)]
struct Faults {
    ac: FaultMode,
    te: FaultMode,
    prns: FaultMode,
    broker_token: FaultMode,
    broker_userinfo: FaultMode,
}

struct Emulator {
    cfg: EmulatorConfig,
    clients: HashMap<String, Client>,
    persons: Vec<Person>,
    token_key: PKey<Private>,
    /// Signs tokens under the `bad_signature` fault.
    rogue_key: PKey<Private>,
    pending: Mutex<HashMap<String, Pending>>,
    grants: Mutex<HashMap<String, Grant>>,
    faults: Mutex<Faults>,
    broker: broker::Broker,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Emulator>;

impl Emulator {
    fn new(cfg: EmulatorConfig) -> anyhow::Result<Self> {
        gost::init_engine().context(
            "the ESIA emulator checks GOST signatures (apt-get install libengine-gost-openssl)",
        )?;
        let mut clients = HashMap::new();
        for c in &cfg.clients {
            let cert = gost::read_certificate(&c.certificate)
                .with_context(|| format!("client {}", c.client_id))?;
            let cert_hash = gost::certificate_hash(&cert)?;
            let public_key = cert.public_key().with_context(|| {
                format!("client {}: no public key in the certificate", c.client_id)
            })?;
            if c.redirect_uris.is_empty() {
                bail!("client {}: no redirect_uris registered", c.client_id);
            }
            for r in &c.redirect_uris {
                url::Url::parse(r).with_context(|| {
                    format!("client {}: redirect_uri {r:?} is not a URL", c.client_id)
                })?;
            }
            let old = clients.insert(
                c.client_id.clone(),
                Client {
                    cert_hash,
                    cert,
                    public_key,
                    redirect_uris: c.redirect_uris.clone(),
                },
            );
            if old.is_some() {
                bail!("client {} is registered twice", c.client_id);
            }
        }
        let pem = std::fs::read(&cfg.token_key)
            .with_context(|| format!("cannot read the token key {}", cfg.token_key.display()))?;
        let token_key = PKey::private_key_from_pem(&pem)
            .with_context(|| format!("{} is not a PEM private key", cfg.token_key.display()))?;
        if token_key.id() != Id::RSA {
            bail!(
                "{} must be an RSA key (tokens are RS256)",
                cfg.token_key.display()
            );
        }
        let rogue_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let persons = load_persons(&cfg.persons)?;
        let broker = broker::Broker::new(&cfg.broker_clients)?;
        Ok(Emulator {
            cfg,
            clients,
            persons,
            token_key,
            rogue_key,
            pending: Mutex::new(HashMap::new()),
            grants: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            broker,
        })
    }

    fn person(&self, oid: u64) -> Option<&Person> {
        self.persons.iter().find(|p| p.oid == oid)
    }

    fn fault(&self, endpoint: &str) -> FaultMode {
        let f = lock(&self.faults);
        match endpoint {
            "ac" => f.ac,
            "te" => f.te,
            "broker_token" => f.broker_token,
            "broker_userinfo" => f.broker_userinfo,
            _ => f.prns,
        }
    }
}

fn random_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

// ---------------------------------------------------------------------------
// Pure checks (unit tested)

/// The timestamp is well-formed and within `tolerance` seconds of `now`.
fn check_timestamp(ts: &str, now: DateTime<Utc>, tolerance: u64) -> Result<(), &'static str> {
    let t = protocol::parse_timestamp(ts)
        .ok_or("Неверный формат timestamp (ожидается yyyy.MM.dd HH:mm:ss Z)")?;
    let skew = (now - t.with_timezone(&Utc)).num_seconds().unsigned_abs();
    if skew > tolerance {
        return Err("Время запроса (timestamp) расходится с временем ЕСИА больше допустимого");
    }
    Ok(())
}

/// `client_secret` (base64url, padding optional) is a valid GOST signature
/// of `input` by `key`.
fn secret_ok(key: &PKey<Public>, input: &str, secret: &str) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')) else {
        return false;
    };
    gost::verify(key, input.as_bytes(), &sig).unwrap_or(false)
}

fn scope_names(scope: &str) -> impl Iterator<Item = &str> {
    scope
        .split_whitespace()
        .map(|s| s.split('?').next().unwrap_or(s))
}

fn has_scope(scope: &str, name: &str) -> bool {
    scope_names(scope).any(|s| s == name)
}

/// The access token's `scope`: `fullname?oid=1000001 openid snils?oid=1000001`.
fn token_scope(requested: &str, oid: u64) -> String {
    requested
        .split_whitespace()
        .map(|s| {
            if s == "openid" {
                s.to_string()
            } else {
                format!("{s}?oid={oid}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn make_jwt(key: &PKey<Private>, header: &Value, claims: &Value) -> anyhow::Result<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(input.as_bytes())?;
    let sig = signer.sign_to_vec()?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Header and claims of an RS256 JWT whose signature `key` verifies.
fn verify_jwt(key: &PKey<Private>, token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "RS256" {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), key).ok()?;
    verifier.update(h.as_bytes()).ok()?;
    verifier.update(b".").ok()?;
    verifier.update(c.as_bytes()).ok()?;
    if !verifier.verify(&sig).unwrap_or(false) {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    Some((header, claims))
}

/// Same origin (scheme, host, port).
fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

// ---------------------------------------------------------------------------
// Pages

const CSS: &str = "*{box-sizing:border-box}\
body{margin:0;font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;background:#f5f7fa;color:#0b1f33;line-height:1.4}\
header{background:#fff;border-bottom:1px solid #e1e7f0;padding:12px 16px;display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}\
.logo{font-weight:700;font-size:22px;color:#0d4cd3}.logo span{color:#ee3f58}\
.sub{color:#66727f;font-size:13px}\
main{max-width:520px;margin:20px auto;padding:0 12px}\
.card{background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(11,31,51,.12);padding:20px}\
h1{font-size:21px;margin:0 0 14px}\
form{margin:0}\
button{display:block;width:100%;padding:13px 16px;margin:10px 0;border:1px solid #0d4cd3;border-radius:8px;background:#0d4cd3;color:#fff;font-size:16px;text-align:left;cursor:pointer}\
button:hover{background:#0b40b3}\
button small{display:block;opacity:.85;font-size:13px;margin-top:2px}\
button[value=allow],button[value=deny]{text-align:center}\
button[value=deny]{background:#fff;color:#0d4cd3}\
ul{padding-left:20px}li{margin:4px 0}\
.note{color:#66727f;font-size:14px}\
.err{border-left:4px solid #ee3f58}\
code{background:#f1f3f6;padding:1px 4px;border-radius:4px;word-break:break-all}";

fn page(title: &str, card_class: &str, inner: &str) -> String {
    let body = format!(
        "<header><span class=\"logo\">гос<span>услуги</span></span>\
         <span class=\"sub\">эмулятор ЕСИА — только для разработки и тестов</span></header>\n\
         <main><div class=\"card {card_class}\">\n{inner}\n</div></main>"
    );
    document(title, CSS, &body)
}

fn error_page(status: StatusCode, error: &str, code: &str, text: &str) -> Response {
    let inner = format!(
        "<h1>Ошибка</h1>\n<p id=\"error\" data-error=\"{}\" data-code=\"{}\">{}: {}</p>\n\
         <p class=\"note\">Ошибка <code>{}</code>. Вернитесь в систему, из которой вы пришли, и попробуйте снова.</p>",
        esc(error),
        esc(code),
        esc(code),
        esc(text),
        esc(error)
    );
    respond(status, page("Ошибка — Госуслуги (эмулятор)", "err", &inner))
}

fn plain_page(status: StatusCode, title: &str, text: &str) -> Response {
    let inner = format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(text));
    respond(status, page(title, "err", &inner))
}

fn scope_label(name: &str) -> &str {
    match name {
        "openid" => "Идентификатор учётной записи",
        "fullname" => "Фамилия, имя и отчество",
        "birthdate" => "Дата рождения",
        "gender" => "Пол",
        "snils" => "СНИЛС",
        "inn" => "ИНН",
        "email" => "Адрес электронной почты",
        "mobile" => "Номер мобильного телефона",
        "contacts" => "Контактные данные",
        "addresses" => "Адреса",
        "id_doc" => "Данные документа, удостоверяющего личность",
        "birthplace" => "Место рождения",
        "kid_fullname" => "Фамилия, имя и отчество детей",
        "kid_birthdate" => "Даты рождения детей",
        "kid_gender" => "Пол детей",
        "kid_snils" => "СНИЛС детей",
        "kid_inn" => "ИНН детей",
        "kid_birth_cert_doc" => "Свидетельства о рождении детей",
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Handlers

/// Build the emulator's router (for embedding); [`serve`] is the usual way.
pub fn router(cfg: EmulatorConfig) -> anyhow::Result<Router> {
    let state: Shared = Arc::new(Emulator::new(cfg)?);
    Ok(Router::new()
        .route("/aas/oauth2/v2/ac", get(ac))
        .route("/aas/oauth2/login", post(login))
        .route("/aas/oauth2/consent", post(consent))
        .route("/aas/oauth2/v3/te", post(te))
        .route("/aas/oauth2/ac", get(legacy::ac))
        .route("/aas/oauth2/te", post(legacy::te))
        .route("/rs/prns/:oid", get(prns))
        .route("/rs/prns/:oid/kids", get(kids))
        .route("/rs/prns/:oid/kids/:kid", get(kid))
        .route("/idp/ext/Logout", get(logout))
        .route("/broker/auth", get(broker::auth))
        .route("/broker/login", post(broker::login))
        .route("/broker/token", post(broker::token))
        .route("/broker/userinfo", get(broker::userinfo))
        .route("/broker/logout", get(broker::logout))
        .route("/__emulator/fault", post(set_fault))
        .route("/__emulator/health", get(health))
        .fallback(not_found)
        .with_state(state))
}

/// Serve on `listener` until the returned future is dropped.
pub async fn serve(cfg: EmulatorConfig, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let app = router(cfg)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "ESIA emulator listening");
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// Bind `cfg.listen` and [`serve`].
pub async fn run(cfg: EmulatorConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    serve(cfg, listener).await
}

async fn not_found() -> Response {
    plain_page(
        StatusCode::NOT_FOUND,
        "Страница не найдена",
        "Такой страницы в эмуляторе ЕСИА нет.",
    )
}

async fn health() -> &'static str {
    "ok"
}

async fn set_fault(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let mode = q.get("mode").and_then(|m| FaultMode::parse(m));
    let Some(mode) = mode else {
        return (
            StatusCode::BAD_REQUEST,
            "mode must be one of none|status500|hang|bad_signature|wrong_issuer|expired\n",
        )
            .into_response();
    };
    let mut f = lock(&st.faults);
    match q.get("endpoint").map(String::as_str) {
        Some("ac") => f.ac = mode,
        Some("te") => f.te = mode,
        Some("prns") => f.prns = mode,
        Some("broker_token") => f.broker_token = mode,
        Some("broker_userinfo") => f.broker_userinfo = mode,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "endpoint must be one of te|prns|ac|broker_token|broker_userinfo\n",
            )
                .into_response();
        }
    }
    tracing::info!(endpoint = ?q.get("endpoint"), ?mode, "emulator fault set");
    (StatusCode::OK, "ok\n").into_response()
}

const AC_REQUIRED: &[&str] = &[
    "client_id",
    "client_secret",
    "client_certificate_hash",
    "redirect_uri",
    "scope",
    "response_type",
    "state",
    "access_type",
    "timestamp",
];

/// `redirect_uri?error=…&error_description=CODE: text&state=…`
fn error_redirect(
    redirect_uri: &str,
    error: &str,
    code: &str,
    text: &str,
    state: Option<&str>,
) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, error, code, text);
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", &format!("{code}: {text}"));
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(u.as_str())
}

async fn ac(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    authorize(st, q, Flow::V2).await
}

/// `ac` of either flow: the same checks, login screen and pending request;
/// only the client secret (and `client_certificate_hash`) differ.
async fn authorize(st: Shared, q: Option<String>, flow: Flow) -> Response {
    match st.fault("ac") {
        FaultMode::Status500 => {
            return plain_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Внутренняя ошибка",
                "Сервис временно недоступен (ошибка, вызванная эмулятором).",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let q = form_map(q.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let state = get("state");
    let client = get("client_id").and_then(|id| st.clients.get(id));
    // Only a registered pair may receive errors by redirect.
    let redirect = match (client, get("redirect_uri")) {
        (Some(c), Some(r)) if c.redirect_uris.iter().any(|x| x == r) => Some(r),
        _ => None,
    };
    let fail = |error: &str, code: &str, text: &str| match redirect {
        Some(r) => error_redirect(r, error, code, text, state),
        None => error_page(StatusCode::BAD_REQUEST, error, code, text),
    };

    let required = match flow {
        Flow::V2 => AC_REQUIRED,
        Flow::Legacy => legacy::AC_REQUIRED,
    };
    for name in required {
        if get(name).is_none() {
            return fail(
                "invalid_request",
                codes::MISSING_PARAMETER,
                &format!("Отсутствует обязательный параметр {name}"),
            );
        }
    }
    let Some(client) = client else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            codes::UNAUTHORIZED_CLIENT,
            "Система-клиент не зарегистрирована в ЕСИА или не имеет права на этот способ доступа",
        );
    };
    let Some(redirect_uri) = redirect else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Адрес возврата redirect_uri не зарегистрирован для этой системы",
        );
    };
    let (client_id, scope, secret, hash, ts, state) = (
        get("client_id").unwrap_or_default(),
        get("scope").unwrap_or_default(),
        get("client_secret").unwrap_or_default(),
        get("client_certificate_hash").unwrap_or_default(),
        get("timestamp").unwrap_or_default(),
        state.unwrap_or_default(),
    );
    let scope_org = get("scope_org").unwrap_or_default();
    if get("response_type") != Some("code") {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение параметра response_type (ожидается code)",
        );
    }
    if !matches!(get("access_type"), Some("online") | Some("offline")) {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение параметра access_type (online или offline)",
        );
    }
    if uuid::Uuid::parse_str(state).is_err() {
        return fail(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Параметр state должен быть UUID",
        );
    }
    let filter = match get("person_filter") {
        None => None,
        Some(f) => match PersonFilter::parse(f) {
            Some(f) => Some(f),
            None => {
                return fail(
                    "invalid_request",
                    codes::MISSING_PARAMETER,
                    "Неверное значение параметра person_filter",
                );
            }
        },
    };
    if let Err(text) = check_timestamp(ts, Utc::now(), st.cfg.timestamp_tolerance_seconds) {
        return fail("invalid_request", codes::BAD_TIMESTAMP, text);
    }
    if flow == Flow::V2 && !hash.eq_ignore_ascii_case(&client.cert_hash) {
        tracing::info!(client_id, "ac: certificate hash mismatch");
        return fail(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Хэш сертификата (client_certificate_hash) не совпадает с сертификатом системы",
        );
    }
    let signed = match flow {
        Flow::V2 => {
            let input =
                protocol::auth_secret_input(client_id, scope, scope_org, ts, state, redirect_uri);
            secret_ok(&client.public_key, &input, secret)
        }
        Flow::Legacy => legacy::secret_ok(
            &client.cert,
            &legacy::secret_input(scope, ts, client_id, state),
            secret,
        ),
    };
    if !signed {
        tracing::info!(client_id, "ac: client_secret signature rejected");
        return fail(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Подпись запроса (client_secret) не прошла проверку",
        );
    }

    let id = random_id(24);
    {
        let mut pending = lock(&st.pending);
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        pending.insert(
            id.clone(),
            Pending {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
                scope_org: scope_org.to_string(),
                state: state.to_string(),
                filter,
                oid: None,
                created: Instant::now(),
                flow,
            },
        );
    }
    tracing::info!(client_id, ?flow, "ac: request accepted, login screen shown");

    let mut buttons = String::new();
    for p in st
        .persons
        .iter()
        .filter(|p| PersonFilter::admits(filter, p))
    {
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"oid\" value=\"{}\">{}<small>{} · {}</small></button>\n",
            p.oid,
            esc(&p.full_name()),
            esc(p.account_kind()),
            esc(&p.login_hint)
        ));
    }
    if buttons.is_empty() {
        buttons
            .push_str("<p class=\"note\">Нет учётных записей, подходящих под условия входа.</p>\n");
    }
    let inner = format!(
        "<h1>Вход через Госуслуги (эмулятор)</h1>\n\
         <p class=\"note\">Система <b>{}</b> просит войти. Пароль не нужен: выберите, кем войти.</p>\n\
         <form method=\"post\" action=\"/aas/oauth2/login\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n{}</form>",
        esc(client_id),
        esc(&id),
        buttons
    );
    respond(
        StatusCode::OK,
        page("Вход через Госуслуги (эмулятор)", "", &inner),
    )
}

fn unknown_request() -> Response {
    plain_page(
        StatusCode::BAD_REQUEST,
        "Запрос не найден",
        "Запрос на вход не найден или устарел. Вернитесь в систему и начните вход заново.",
    )
}

async fn login(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let oid = f.get("oid").and_then(|o| o.trim().parse::<u64>().ok());
    let mut pending = lock(&st.pending);
    let Some(p) = pending
        .get_mut(id)
        .filter(|p| p.created.elapsed() < PENDING_TTL)
    else {
        return unknown_request();
    };
    let Some(person) = oid
        .and_then(|o| st.person(o))
        .filter(|person| PersonFilter::admits(p.filter, person))
    else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Учётная запись не найдена",
            "Выберите учётную запись из списка.",
        );
    };
    p.oid = Some(person.oid);
    let items: String = p
        .scope
        .split_whitespace()
        .map(|s| format!("<li>{}</li>\n", esc(scope_label(s))))
        .collect();
    let inner = format!(
        "<h1>Предоставление прав доступа</h1>\n\
         <p>{}, система <b>{}</b> запрашивает доступ к вашим данным:</p>\n<ul>\n{}</ul>\n\
         <form method=\"post\" action=\"/aas/oauth2/consent\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Предоставить</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Отказать</button>\n</form>",
        esc(&person.full_name()),
        esc(&p.client_id),
        items,
        esc(id)
    );
    respond(
        StatusCode::OK,
        page(
            "Предоставление прав доступа — Госуслуги (эмулятор)",
            "",
            &inner,
        ),
    )
}

async fn consent(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let decision = f.get("decision").map(String::as_str);
    if !matches!(decision, Some("allow") | Some("deny")) {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Неверный запрос",
            "Нажмите «Предоставить» или «Отказать».",
        );
    }
    let p = {
        let mut pending = lock(&st.pending);
        match pending.get(id) {
            Some(p) if p.oid.is_some() && p.created.elapsed() < PENDING_TTL => pending.remove(id),
            _ => None,
        }
    };
    let Some(p) = p else {
        return unknown_request();
    };
    let Some(oid) = p.oid else {
        return unknown_request();
    };
    if decision == Some("deny") {
        tracing::info!(client_id = %p.client_id, oid, "consent refused");
        return error_redirect(
            &p.redirect_uri,
            "access_denied",
            codes::CONSENT_REFUSED,
            "Пользователь отказался предоставить доступ к своим данным",
            Some(&p.state),
        );
    }
    let code = random_id(48);
    {
        let mut grants = lock(&st.grants);
        grants.retain(|_, g| g.expires > Instant::now());
        grants.insert(
            code.clone(),
            Grant {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                scope: p.scope,
                scope_org: p.scope_org,
                ac_state: p.state.clone(),
                oid,
                auth_time: Utc::now().timestamp(),
                expires: Instant::now() + Duration::from_secs(st.cfg.code_ttl_seconds),
                flow: p.flow,
            },
        );
    }
    tracing::info!(client_id = %p.client_id, oid, "consent given, code issued");
    let Ok(mut u) = url::Url::parse(&p.redirect_uri) else {
        return plain_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Ошибка",
            "Неверный адрес возврата.",
        );
    };
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &p.state);
    found(u.as_str())
}

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn te_error(error: &str, code: &str, text: &str, state: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({
            "error": error,
            "error_description": format!("{code}: {text}"),
            "state": state,
        }),
    )
}

const TE_REQUIRED: &[&str] = &[
    "client_id",
    "code",
    "grant_type",
    "client_certificate_hash",
    "client_secret",
    "state",
    "redirect_uri",
    "scope",
    "timestamp",
    "token_type",
];

async fn te(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    token(st, headers, body, Flow::V2).await
}

/// `te` of either flow: the same checks and tokens; only the client secret
/// (and `client_certificate_hash`) differ, and a code is redeemed only by
/// the flow that issued it.
async fn token(st: Shared, headers: HeaderMap, body: Bytes, flow: Flow) -> Response {
    let fault = st.fault("te");
    match fault {
        FaultMode::Status500 => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "server_error", "error_description": "internal error (emulator fault)"}),
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let f = form_map(&body);
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let state = get("state").unwrap_or_default();
    // A code is used up by the first request that shows it, whatever follows.
    let grant = get("code").and_then(|c| lock(&st.grants).remove(c));

    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Тело запроса должно быть application/x-www-form-urlencoded",
            state,
        );
    }
    let required = match flow {
        Flow::V2 => TE_REQUIRED,
        Flow::Legacy => legacy::TE_REQUIRED,
    };
    for name in required {
        if get(name).is_none() {
            return te_error(
                "invalid_request",
                codes::MISSING_PARAMETER,
                &format!("Отсутствует обязательный параметр {name}"),
                state,
            );
        }
    }
    let (client_id, code, scope, secret, hash, ts, redirect_uri) = (
        get("client_id").unwrap_or_default(),
        get("code").unwrap_or_default(),
        get("scope").unwrap_or_default(),
        get("client_secret").unwrap_or_default(),
        get("client_certificate_hash").unwrap_or_default(),
        get("timestamp").unwrap_or_default(),
        get("redirect_uri").unwrap_or_default(),
    );
    let scope_org = get("scope_org").unwrap_or_default();
    if get("grant_type") != Some("authorization_code") {
        return te_error(
            "unsupported_grant_type",
            codes::MISSING_PARAMETER,
            "Неверное значение grant_type (эмулятор поддерживает authorization_code)",
            state,
        );
    }
    if get("token_type") != Some("Bearer") {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Неверное значение token_type (ожидается Bearer)",
            state,
        );
    }
    let Some(client) = st.clients.get(client_id) else {
        return te_error(
            "unauthorized_client",
            codes::UNAUTHORIZED_CLIENT,
            "Система-клиент не зарегистрирована в ЕСИА",
            state,
        );
    };
    if let Err(text) = check_timestamp(ts, Utc::now(), st.cfg.timestamp_tolerance_seconds) {
        return te_error("invalid_request", codes::BAD_TIMESTAMP, text, state);
    }
    if flow == Flow::V2 && !hash.eq_ignore_ascii_case(&client.cert_hash) {
        tracing::info!(client_id, "te: certificate hash mismatch");
        return te_error(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Хэш сертификата (client_certificate_hash) не совпадает с сертификатом системы",
            state,
        );
    }
    let signed = match flow {
        Flow::V2 => {
            let input = protocol::token_secret_input(
                client_id,
                scope,
                scope_org,
                ts,
                state,
                redirect_uri,
                code,
            );
            secret_ok(&client.public_key, &input, secret)
        }
        Flow::Legacy => legacy::secret_ok(
            &client.cert,
            &legacy::secret_input(scope, ts, client_id, state),
            secret,
        ),
    };
    if !signed {
        tracing::info!(client_id, "te: client_secret signature rejected");
        return te_error(
            "access_denied",
            codes::BAD_SIGNATURE,
            "Подпись запроса (client_secret) не прошла проверку",
            state,
        );
    }
    let Some(grant) =
        grant.filter(|g| g.expires > Instant::now() && g.client_id == client_id && g.flow == flow)
    else {
        tracing::info!(client_id, "te: unknown, reused or expired code");
        return te_error(
            "invalid_grant",
            codes::BAD_CODE,
            "Код авторизации недействителен, просрочен или уже использован",
            state,
        );
    };
    if uuid::Uuid::parse_str(state).is_err() || state == grant.ac_state {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "Параметр state должен быть новым UUID, отличным от state запроса авторизации",
            state,
        );
    }
    if redirect_uri != grant.redirect_uri {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "redirect_uri отличается от указанного в запросе авторизации",
            state,
        );
    }
    if scope != grant.scope || scope_org != grant.scope_org {
        return te_error(
            "invalid_request",
            codes::MISSING_PARAMETER,
            "scope отличается от указанного в запросе авторизации",
            state,
        );
    }
    let Some(person) = st.person(grant.oid) else {
        return te_error(
            "invalid_grant",
            codes::BAD_CODE,
            "Учётная запись не найдена",
            state,
        );
    };

    match issue_tokens(&st, fault, client_id, &grant, person) {
        Ok((access, id_token)) => {
            tracing::info!(client_id, oid = grant.oid, "te: tokens issued");
            let mut v = json!({
                "access_token": access,
                "state": state,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
            });
            if let Some(id) = id_token {
                v["id_token"] = Value::String(id);
            }
            json_response(StatusCode::OK, v)
        }
        Err(e) => {
            tracing::error!(error = %e, "te: cannot sign tokens");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "server_error", "error_description": "cannot sign the token"}),
            )
        }
    }
}

fn issue_tokens(
    st: &Emulator,
    fault: FaultMode,
    client_id: &str,
    grant: &Grant,
    person: &Person,
) -> anyhow::Result<(String, Option<String>)> {
    let now = Utc::now().timestamp();
    let (iat, exp) = if fault == FaultMode::Expired {
        (now - 2 * TOKEN_LIFETIME, now - TOKEN_LIFETIME)
    } else {
        (now, now + TOKEN_LIFETIME)
    };
    let iss = if fault == FaultMode::WrongIssuer {
        EVIL_ISSUER
    } else {
        st.cfg.issuer.as_str()
    };
    let key = if fault == FaultMode::BadSignature {
        &st.rogue_key
    } else {
        &st.token_key
    };
    let access = make_jwt(
        key,
        &json!({"ver": 1, "typ": "JWT", "sbt": "access", "alg": "RS256"}),
        &json!({
            "nbf": iat,
            "iat": iat,
            "exp": exp,
            "iss": iss,
            "client_id": client_id,
            "urn:esia:sid": uuid::Uuid::new_v4().to_string(),
            "urn:esia:sbj_id": person.oid,
            "scope": token_scope(&grant.scope, person.oid),
        }),
    )?;
    let id_token = if has_scope(&grant.scope, "openid") {
        let mut sbj = json!({
            "urn:esia:sbj:typ": "P",
            "urn:esia:sbj:oid": person.oid,
            "urn:esia:sbj:lvl": if person.trusted { "PR" } else { "P" },
        });
        if person.trusted {
            sbj["urn:esia:sbj:is_tru"] = Value::Bool(true);
        }
        Some(make_jwt(
            key,
            &json!({"typ": "JWT", "alg": "RS256"}),
            &json!({
                "iss": iss,
                "aud": client_id,
                "sub": person.oid,
                "nbf": iat,
                "iat": iat,
                "exp": exp,
                "auth_time": grant.auth_time,
                "amr": "PWD",
                "urn:esia:sbj": sbj,
            }),
        )?)
    } else {
        None
    };
    Ok((access, id_token))
}

fn rs_error(status: StatusCode, error: &str, text: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": text}))
}

/// Check the bearer token for `/rs/prns/{oid}…`; gives the token's scope.
async fn authorize_rs(
    st: &Emulator,
    headers: &HeaderMap,
    path_oid: &str,
) -> Result<(u64, String), Response> {
    match st.fault("prns") {
        FaultMode::Status500 => {
            return Err(rs_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            ));
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        FaultMode::BadSignature | FaultMode::WrongIssuer | FaultMode::Expired => {
            return Err(rs_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "token rejected (emulator fault)",
            ));
        }
        FaultMode::None => {}
    }
    let unauthorized = |text: &str| rs_error(StatusCode::UNAUTHORIZED, "invalid_token", text);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized("no bearer token"));
    };
    let Some((header, claims)) = verify_jwt(&st.token_key, token) else {
        return Err(unauthorized("bad token signature"));
    };
    if header.get("sbt").and_then(Value::as_str) != Some("access") {
        return Err(unauthorized("not an access token"));
    }
    let now = Utc::now().timestamp();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e <= now)
    {
        return Err(unauthorized("token expired"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(st.cfg.issuer.as_str()) {
        return Err(unauthorized("unknown issuer"));
    }
    let Ok(oid) = path_oid.parse::<u64>() else {
        return Err(rs_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oid must be a number",
        ));
    };
    if claims.get("urn:esia:sbj_id").and_then(Value::as_u64) != Some(oid) {
        return Err(unauthorized("the token was issued for another person"));
    }
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((oid, scope))
}

fn etag(v: &Value) -> String {
    let digest = openssl::sha::sha256(v.to_string().as_bytes());
    hex::encode_upper(&digest[..20])
}

async fn prns(State(st): State<Shared>, Path(oid): Path<String>, headers: HeaderMap) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope fullname is required",
        );
    }
    let Some(p) = st.person(oid) else {
        return rs_error(StatusCode::NOT_FOUND, "not_found", "no such person");
    };
    let mut v = json!({
        "firstName": p.first_name,
        "lastName": p.last_name,
        "middleName": p.middle_name,
        "birthDate": p.birth_date,
        "gender": p.gender,
        "trusted": p.trusted,
        "citizenship": "RUS",
        "status": "REGISTERED",
        "updatedOn": 1_717_200_000u64,
    });
    if let Some(s) = &p.snils
        && has_scope(&scope, "snils")
    {
        v["snils"] = Value::String(s.clone());
    }
    v["eTag"] = Value::String(etag(&v));
    json_response(StatusCode::OK, v)
}

fn kid_json(k: &Kid, with_snils: bool) -> Value {
    let mut v = json!({
        "id": k.oid,
        "firstName": k.first_name,
        "lastName": k.last_name,
        "middleName": k.middle_name,
        "birthDate": k.birth_date,
    });
    if let Some(s) = &k.snils
        && with_snils
    {
        v["snils"] = Value::String(s.clone());
    }
    v["eTag"] = Value::String(etag(&v));
    v
}

async fn kids(
    State(st): State<Shared>,
    Path(oid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "kid_fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope kid_fullname is required",
        );
    }
    let Some(p) = st.person(oid) else {
        return rs_error(StatusCode::NOT_FOUND, "not_found", "no such person");
    };
    let q = form_map(q.unwrap_or_default().as_bytes());
    let embed = q.get("embed").is_some_and(|e| e == "(elements)");
    let with_snils = has_scope(&scope, "kid_snils");
    let elements: Vec<Value> = p
        .kids
        .iter()
        .map(|k| {
            if embed {
                kid_json(k, with_snils)
            } else {
                Value::String(format!(
                    "{}/rs/prns/{}/kids/{}",
                    st.cfg.public_url.trim_end_matches('/'),
                    p.oid,
                    k.oid
                ))
            }
        })
        .collect();
    let mut v = json!({
        "stateFacts": ["hasSize"],
        "size": elements.len(),
        "elements": elements,
    });
    v["eTag"] = Value::String(etag(&v));
    json_response(StatusCode::OK, v)
}

async fn kid(
    State(st): State<Shared>,
    Path((oid, kid_oid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (oid, scope) = match authorize_rs(&st, &headers, &oid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_scope(&scope, "kid_fullname") {
        return rs_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope kid_fullname is required",
        );
    }
    let found_kid = st.person(oid).and_then(|p| {
        let k: u64 = kid_oid.parse().ok()?;
        p.kids.iter().find(|x| x.oid == k)
    });
    match found_kid {
        Some(k) => json_response(StatusCode::OK, kid_json(k, has_scope(&scope, "kid_snils"))),
        None => rs_error(StatusCode::NOT_FOUND, "not_found", "no such child"),
    }
}

async fn logout(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let Some(client) = q.get("client_id").and_then(|c| st.clients.get(c)) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Неизвестная система (client_id).",
        );
    };
    let Some(target) = q.get("redirect_url").and_then(|r| url::Url::parse(r).ok()) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Не указан адрес возврата (redirect_url).",
        );
    };
    let allowed = client
        .redirect_uris
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| same_origin(&r, &target));
    if !allowed {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Адрес возврата (redirect_url) не относится к зарегистрированной системе.",
        );
    }
    found(target.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    #[test]
    fn timestamp_tolerance() {
        let now = Utc
            .with_ymd_and_hms(2025, 9, 1, 10, 0, 0)
            .single()
            .expect("time");
        let msk = FixedOffset::east_opt(3 * 3600).expect("offset");
        let ts = |min: i64| {
            protocol::format_timestamp(&(now + chrono::Duration::minutes(min)).with_timezone(&msk))
        };
        assert!(check_timestamp(&ts(0), now, 300).is_ok());
        assert!(check_timestamp(&ts(4), now, 300).is_ok());
        assert!(check_timestamp(&ts(-10), now, 300).is_err());
        assert!(check_timestamp(&ts(10), now, 300).is_err());
        assert!(check_timestamp("2025-09-01T10:00:00Z", now, 300).is_err());
        // A '+' that was not percent-encoded arrives as a space.
        assert!(check_timestamp("2025.09.01 13:00:00  0300", now, 300).is_err());
    }

    #[test]
    fn secret_is_checked_against_the_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = super::super::keys::ensure_dev_keys(dir.path()).expect("keys");
        let key = gost::read_private_key(&keys.client_key).expect("key");
        let public = gost::read_certificate(&keys.client_cert)
            .expect("cert")
            .public_key()
            .expect("public");
        let input = protocol::auth_secret_input("DIARY", "openid", "", "TS", "ST", "http://r");
        let sig = gost::sign(&key, input.as_bytes()).expect("sign");
        let unpadded = URL_SAFE_NO_PAD.encode(&sig);
        assert_eq!(unpadded.len(), 86);
        assert!(secret_ok(&public, &input, &unpadded));
        let padded = base64::engine::general_purpose::URL_SAFE.encode(&sig);
        assert!(padded.ends_with("=="));
        assert!(secret_ok(&public, &input, &padded));
        assert!(!secret_ok(&public, &(input.clone() + "x"), &unpadded));
        assert!(!secret_ok(&public, &input, "not base64!"));
        assert!(!secret_ok(&public, &input, "AAAA"));
    }

    #[test]
    fn scopes() {
        assert_eq!(
            token_scope("fullname openid snils", 1000001),
            "fullname?oid=1000001 openid snils?oid=1000001"
        );
        let s = "fullname?oid=1 openid snils?oid=1";
        assert!(has_scope(s, "snils"));
        assert!(has_scope(s, "openid"));
        assert!(!has_scope(s, "kid_snils"));
    }

    #[test]
    fn jwt_round_trip_and_tamper() {
        // Whoever touches OpenSSL first decides whether the engine loads.
        gost::init_engine().expect("GOST engine");
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let other = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let t = make_jwt(&key, &json!({"alg": "RS256"}), &json!({"a": 1})).expect("jwt");
        let (_, c) = verify_jwt(&key, &t).expect("valid");
        assert_eq!(c["a"], 1);
        assert!(verify_jwt(&other, &t).is_none());
        let none = make_jwt(&key, &json!({"alg": "none"}), &json!({"a": 1})).expect("jwt");
        assert!(verify_jwt(&key, &none).is_none());
    }

    #[test]
    fn person_filter_and_snils_format() {
        assert_eq!(
            PersonFilter::parse(&STANDARD.encode("conf_acc")),
            Some(PersonFilter::ConfirmedOnly)
        );
        assert_eq!(
            PersonFilter::parse(&URL_SAFE_NO_PAD.encode("acc_not_kid")),
            Some(PersonFilter::NotKids)
        );
        assert_eq!(PersonFilter::parse("bm9wZQ"), None);
        assert!(snils_format_ok("000-000-600 06"));
        assert!(!snils_format_ok("00000060006"));
        assert!(!snils_format_ok("000-000-600-06"));
    }
}
