//! The emulator acting as a certified ESIA *broker* (Keycloak with an ESIA
//! plugin, a regional "шлюз ЕСИА"): plain OAuth2/OIDC with a static client
//! secret under `/broker/`, so the gateway can be tested in
//! `mode = "broker"`. The broker has done ESIA's login and consent itself;
//! the relying party only sees an ordinary authorization-code flow:
//!
//! * `GET /broker/auth` — login screen (one button per person);
//! * `POST /broker/login` — redirect back with `code` and `state`;
//! * `POST /broker/token` — client secret (form or HTTP Basic), single-use
//!   code → opaque access token and an RS256 `id_token`;
//! * `GET /broker/userinfo` — the person's claims for a bearer token;
//! * `GET /broker/logout` — `post_logout_redirect_uri` on a registered origin.
//!
//! A child module of the emulator: it shares its persons, token key,
//! faults and page shell. Nothing here logs a SNILS, a secret or a token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Value, json};

use super::{
    BrokerClient, EVIL_ISSUER, FaultMode, HANG, PENDING_TTL, Shared, TOKEN_LIFETIME, lock,
    make_jwt, page, plain_page, random_id, same_origin,
};
use crate::html::{esc, form_map, found, respond};

/// The title (and heading) of the broker's login screen.
pub const LOGIN_TITLE: &str = "Вход через Госуслуги (брокер, эмулятор)";

/// The broker's part of the emulator state.
pub(super) struct Broker {
    clients: HashMap<String, BrokerClient>,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, Code>>,
    tokens: Mutex<HashMap<String, Token>>,
}

/// Between `/broker/auth` and `/broker/login`.
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    created: Instant,
}

/// An issued authorization code.
struct Code {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    oid: u64,
    auth_time: i64,
    expires: Instant,
}

/// An issued (opaque) access token.
struct Token {
    oid: u64,
    expires: Instant,
}

impl Broker {
    pub(super) fn new(list: &[BrokerClient]) -> anyhow::Result<Self> {
        let mut clients = HashMap::new();
        for c in list {
            if c.client_id.is_empty() || c.client_secret.is_empty() {
                anyhow::bail!(
                    "broker client {:?}: client_id and client_secret are required",
                    c.client_id
                );
            }
            if c.redirect_uris.is_empty() {
                anyhow::bail!("broker client {}: no redirect_uris registered", c.client_id);
            }
            for r in &c.redirect_uris {
                if url::Url::parse(r).is_err() {
                    anyhow::bail!(
                        "broker client {}: redirect_uri {r:?} is not a URL",
                        c.client_id
                    );
                }
            }
            if clients.insert(c.client_id.clone(), c.clone()).is_some() {
                anyhow::bail!("broker client {} is registered twice", c.client_id);
            }
        }
        Ok(Broker {
            clients,
            pending: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }
}

/// The broker's `iss`: `{public_url}/broker`.
fn issuer(st: &super::Emulator) -> String {
    format!("{}/broker", st.cfg.public_url.trim_end_matches('/'))
}

fn json_error(status: StatusCode, error: &str, text: &str) -> Response {
    super::json_response(status, json!({"error": error, "error_description": text}))
}

/// `redirect_uri?error=…&error_description=…&state=…`
fn error_back(redirect_uri: &str, error: &str, text: &str, state: Option<&str>) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return plain_page(StatusCode::BAD_REQUEST, "Ошибка входа", text);
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", text);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(u.as_str())
}

pub(super) async fn auth(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client) = get("client_id").and_then(|id| st.broker.clients.get(id)) else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка входа",
            "Система-клиент (client_id) не зарегистрирована у брокера.",
        );
    };
    let Some(redirect_uri) =
        get("redirect_uri").filter(|r| client.redirect_uris.iter().any(|x| x == r))
    else {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка входа",
            "Адрес возврата (redirect_uri) не зарегистрирован для этой системы.",
        );
    };
    let state = get("state");
    let Some(state) = state else {
        return error_back(redirect_uri, "invalid_request", "state is required", None);
    };
    match get("response_type") {
        None => {
            return error_back(
                redirect_uri,
                "invalid_request",
                "response_type is required",
                Some(state),
            );
        }
        Some("code") => {}
        Some(_) => {
            return error_back(
                redirect_uri,
                "unsupported_response_type",
                "only response_type=code is supported",
                Some(state),
            );
        }
    }

    let id = random_id(24);
    {
        let mut pending = lock(&st.broker.pending);
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        pending.insert(
            id.clone(),
            Pending {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_string(),
                state: state.to_string(),
                nonce: get("nonce").map(str::to_string),
                created: Instant::now(),
            },
        );
    }
    tracing::info!(client_id = %client.client_id, "broker auth: login screen shown");

    let mut buttons = String::new();
    for p in &st.persons {
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"oid\" value=\"{}\">{}<small>{} · {}</small></button>\n",
            p.oid,
            esc(&p.full_name()),
            esc(p.account_kind()),
            esc(&p.login_hint)
        ));
    }
    if buttons.is_empty() {
        buttons.push_str("<p class=\"note\">Нет учётных записей.</p>\n");
    }
    let inner = format!(
        "<h1>{}</h1>\n\
         <p class=\"note\">Брокер ЕСИА: система <b>{}</b> просит войти. Пароль не нужен: выберите, кем войти.</p>\n\
         <form method=\"post\" action=\"/broker/login\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n{}</form>",
        esc(LOGIN_TITLE),
        esc(&client.client_id),
        esc(&id),
        buttons
    );
    respond(StatusCode::OK, page(LOGIN_TITLE, "", &inner))
}

fn unknown_request() -> Response {
    plain_page(
        StatusCode::BAD_REQUEST,
        "Запрос не найден",
        "Запрос на вход не найден или устарел. Вернитесь в систему и начните вход заново.",
    )
}

pub(super) async fn login(State(st): State<Shared>, body: Bytes) -> Response {
    let f = form_map(&body);
    let Some(id) = f.get("request") else {
        return unknown_request();
    };
    let person = f
        .get("oid")
        .and_then(|o| o.trim().parse::<u64>().ok())
        .and_then(|o| st.person(o));
    let p = {
        let mut pending = lock(&st.broker.pending);
        match pending.get(id) {
            Some(p) if p.created.elapsed() < PENDING_TTL => {
                if person.is_none() {
                    // Keep the request: the user may pick again.
                    return plain_page(
                        StatusCode::BAD_REQUEST,
                        "Учётная запись не найдена",
                        "Выберите учётную запись из списка.",
                    );
                }
                pending.remove(id)
            }
            _ => None,
        }
    };
    let (Some(p), Some(person)) = (p, person) else {
        return unknown_request();
    };
    let code = random_id(32);
    {
        let mut codes = lock(&st.broker.codes);
        codes.retain(|_, c| c.expires > Instant::now());
        codes.insert(
            code.clone(),
            Code {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                nonce: p.nonce,
                oid: person.oid,
                auth_time: Utc::now().timestamp(),
                expires: Instant::now() + Duration::from_secs(st.cfg.code_ttl_seconds),
            },
        );
    }
    tracing::info!(client_id = %p.client_id, oid = person.oid, "broker: code issued");
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

/// `client_id` and `client_secret` from HTTP Basic (RFC 6749 §2.3.1: both
/// form-urlencoded, then base64) — `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| ())?;
    let text = String::from_utf8(raw).map_err(|_| ())?;
    let (id, secret) = text.split_once(':').ok_or(())?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

/// Compare secrets without leaking where they differ.
fn secret_eq(a: &str, b: &str) -> bool {
    openssl::memcmp::eq(
        &openssl::sha::sha256(a.as_bytes()),
        &openssl::sha::sha256(b.as_bytes()),
    )
}

fn invalid_client(basic: bool) -> Response {
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    );
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"broker\""),
        );
    }
    r
}

pub(super) async fn token(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = st.fault("broker_token");
    match fault {
        FaultMode::Status500 => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        _ => {}
    }
    let f = form_map(&body);
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());

    // Client authentication first: a request without the secret must not
    // use up the code.
    let basic = match basic_credentials(&headers) {
        Ok(b) => b,
        Err(()) => return invalid_client(true),
    };
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if get("client_id").is_some_and(|f| f != id) || get("client_secret").is_some() {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "use one client authentication method",
                );
            }
            (id, secret)
        }
        None => (
            get("client_id").unwrap_or_default().to_string(),
            get("client_secret").unwrap_or_default().to_string(),
        ),
    };
    let client = st
        .broker
        .clients
        .get(&client_id)
        .filter(|c| secret_eq(&c.client_secret, &secret));
    let Some(client) = client else {
        tracing::info!(client_id, "broker token: client authentication failed");
        return invalid_client(used_basic);
    };

    if get("grant_type") != Some("authorization_code") {
        return json_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let Some(code) = get("code") else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        );
    };
    // A code is used up by the first authenticated request that shows it.
    let grant = lock(&st.broker.codes).remove(code);
    let grant = grant.filter(|g| {
        g.expires > Instant::now()
            && g.client_id == client.client_id
            && get("redirect_uri") == Some(g.redirect_uri.as_str())
    });
    let Some(grant) = grant else {
        tracing::info!(client_id, "broker token: bad, reused or expired code");
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is invalid, expired, used or issued for another redirect_uri",
        );
    };

    let now = Utc::now().timestamp();
    let (iat, exp) = if fault == FaultMode::Expired {
        (now - 2 * TOKEN_LIFETIME, now - TOKEN_LIFETIME)
    } else {
        (now, now + TOKEN_LIFETIME)
    };
    let iss = if fault == FaultMode::WrongIssuer {
        EVIL_ISSUER.to_string()
    } else {
        issuer(&st)
    };
    let key = if fault == FaultMode::BadSignature {
        &st.rogue_key
    } else {
        &st.token_key
    };
    let mut claims = json!({
        "iss": iss,
        "aud": client.client_id,
        "sub": grant.oid.to_string(),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "auth_time": grant.auth_time,
    });
    if let Some(n) = &grant.nonce {
        claims["nonce"] = Value::String(n.clone());
    }
    let id_token = match make_jwt(key, &json!({"alg": "RS256", "typ": "JWT"}), &claims) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "broker token: cannot sign the id_token");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "cannot sign the token",
            );
        }
    };
    let access = random_id(32);
    {
        let mut tokens = lock(&st.broker.tokens);
        tokens.retain(|_, t| t.expires > Instant::now());
        tokens.insert(
            access.clone(),
            Token {
                oid: grant.oid,
                expires: Instant::now() + Duration::from_secs(TOKEN_LIFETIME.unsigned_abs()),
            },
        );
    }
    tracing::info!(client_id, oid = grant.oid, "broker token: tokens issued");
    super::json_response(
        StatusCode::OK,
        json!({
            "access_token": access,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }),
    )
}

fn invalid_token(text: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "invalid_token", text);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

pub(super) async fn userinfo(State(st): State<Shared>, headers: HeaderMap) -> Response {
    match st.fault("broker_userinfo") {
        FaultMode::Status500 => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error (emulator fault)",
            );
        }
        FaultMode::Hang => tokio::time::sleep(HANG).await,
        FaultMode::BadSignature | FaultMode::WrongIssuer | FaultMode::Expired => {
            return invalid_token("token rejected (emulator fault)");
        }
        FaultMode::None => {}
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return invalid_token("no bearer token");
    };
    let oid = lock(&st.broker.tokens)
        .get(token)
        .filter(|t| t.expires > Instant::now())
        .map(|t| t.oid);
    let Some(p) = oid.and_then(|o| st.person(o)) else {
        return invalid_token("unknown or expired token");
    };
    let mut v = json!({
        "sub": p.oid.to_string(),
        "family_name": p.last_name,
        "given_name": p.first_name,
        "middle_name": p.middle_name,
        "trusted": p.trusted,
    });
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&p.birth_date, "%d.%m.%Y") {
        v["birthdate"] = Value::String(d.format("%Y-%m-%d").to_string());
    }
    if let Some(s) = &p.snils {
        v["snils"] = Value::String(s.clone());
    }
    super::json_response(StatusCode::OK, v)
}

/// `GET /broker/logout?client_id=…&post_logout_redirect_uri=…`: back to a
/// URL on the origin of one of the client's redirect URIs (or a page).
pub(super) async fn logout(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form_map(q.unwrap_or_default().as_bytes());
    let target = q
        .get("post_logout_redirect_uri")
        .and_then(|r| url::Url::parse(r).ok());
    let Some(target) = target else {
        return plain_page(
            StatusCode::OK,
            "Выход выполнен",
            "Вы вышли из брокера ЕСИА.",
        );
    };
    let allowed = st
        .broker
        .clients
        .values()
        .filter(|c| q.get("client_id").is_none_or(|id| *id == c.client_id))
        .flat_map(|c| c.redirect_uris.iter())
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| same_origin(&r, &target));
    if !allowed {
        return plain_page(
            StatusCode::BAD_REQUEST,
            "Ошибка выхода",
            "Адрес возврата (post_logout_redirect_uri) не относится к зарегистрированной системе.",
        );
    }
    let mut u = target;
    if let Some(s) = q.get("state") {
        u.query_pairs_mut().append_pair("state", s);
    }
    found(u.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::{EmulatorConfig, serve};
    use super::*;
    use crate::{fixtures, keys};
    use reqwest::header::LOCATION;

    const CLIENT: &str = "esia-gate";
    const SECRET: &str = "s3cret: with / odd+chars";
    const REDIRECT: &str = "http://127.0.0.1:9/esia-gate/callback";

    struct Rp {
        base: String,
        http: reqwest::Client,
        esia_cert: openssl::x509::X509,
        _dir: tempfile::TempDir,
    }

    async fn start() -> Rp {
        esia_gate::esia::gost::init_engine().expect("GOST engine");
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys::ensure_dev_keys(&dir.path().join("keys")).expect("keys");
        fixtures::write_demo_fixtures(dir.path()).expect("fixtures");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut cfg = EmulatorConfig::demo(
            addr,
            &keys,
            dir.path().join(fixtures::PERSONS_FILE),
            "DIARY",
            vec![REDIRECT.to_string()],
        );
        cfg.broker_clients = vec![BrokerClient {
            client_id: CLIENT.into(),
            client_secret: SECRET.into(),
            redirect_uris: vec![REDIRECT.into()],
        }];
        tokio::spawn(async move {
            if let Err(e) = serve(cfg, listener).await {
                panic!("emulator: {e:#}");
            }
        });
        Rp {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            esia_cert: openssl::x509::X509::from_pem(
                &std::fs::read(&keys.esia_cert).expect("read"),
            )
            .expect("esia cert"),
            _dir: dir,
        }
    }

    fn location_query(r: &reqwest::Response) -> HashMap<String, String> {
        assert_eq!(r.status(), StatusCode::FOUND, "expected a redirect");
        let loc = r.headers()[LOCATION].to_str().expect("location");
        assert!(loc.starts_with(REDIRECT), "{loc}");
        url::Url::parse(loc)
            .expect("url")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn hidden(html: &str, name: &str) -> String {
        let marker = format!("<input type=\"hidden\" name=\"{name}\" value=\"");
        let start = html.find(&marker).expect("hidden input") + marker.len();
        let end = html[start..].find('"').expect("end quote") + start;
        html[start..end].to_string()
    }

    async fn auth(rp: &Rp, params: &[(&str, &str)]) -> reqwest::Response {
        rp.http
            .get(format!("{}/broker/auth", rp.base))
            .query(params)
            .send()
            .await
            .expect("auth")
    }

    fn auth_params(state: &str) -> Vec<(&'static str, &str)> {
        vec![
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", state),
        ]
    }

    /// Log in as `oid`; the code from the redirect.
    async fn code_for(rp: &Rp, oid: u64) -> String {
        let r = auth(rp, &auth_params("st-1")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.expect("html");
        assert!(html.contains(&format!("<title>{LOGIN_TITLE}</title>")));
        assert!(html.contains("<form method=\"post\" action=\"/broker/login\">"));
        assert!(html.contains(&format!(
            "<button type=\"submit\" name=\"oid\" value=\"{oid}\">"
        )));
        let request = hidden(&html, "request");
        let r = rp
            .http
            .post(format!("{}/broker/login", rp.base))
            .form(&[("request", request.as_str()), ("oid", &oid.to_string())])
            .send()
            .await
            .expect("login");
        let q = location_query(&r);
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
        q.get("code").expect("code").clone()
    }

    async fn token(
        rp: &Rp,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value) {
        let mut req = rp.http.post(format!("{}/broker/token", rp.base)).form(form);
        if let Some((id, secret)) = basic {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        let r = req.send().await.expect("token");
        let status = r.status();
        (status, r.json().await.expect("token json"))
    }

    async fn userinfo(rp: &Rp, bearer: &str) -> (StatusCode, Value) {
        let r = rp
            .http
            .get(format!("{}/broker/userinfo", rp.base))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("userinfo");
        let status = r.status();
        (status, r.json().await.expect("userinfo json"))
    }

    #[tokio::test]
    async fn broker_code_flow_and_its_errors() {
        let rp = start().await;

        // --- /broker/auth errors ---
        let r = auth(
            &rp,
            &[
                ("response_type", "code"),
                ("client_id", "nobody"),
                ("redirect_uri", REDIRECT),
                ("state", "s"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = auth(
            &rp,
            &[
                ("response_type", "code"),
                ("client_id", CLIENT),
                ("redirect_uri", "http://evil.example/cb"),
                ("state", "s"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = auth(
            &rp,
            &[
                ("response_type", "code"),
                ("client_id", CLIENT),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert_eq!(
            location_query(&r).get("error").map(String::as_str),
            Some("invalid_request")
        );
        let r = auth(
            &rp,
            &[
                ("client_id", CLIENT),
                ("redirect_uri", REDIRECT),
                ("state", "s"),
            ],
        )
        .await;
        let q = location_query(&r);
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
        assert_eq!(q.get("state").map(String::as_str), Some("s"));
        let r = rp
            .http
            .post(format!("{}/broker/login", rp.base))
            .form(&[("request", "nope"), ("oid", "1000001")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // --- the happy path, secret in the form ---
        let code = code_for(&rp, 1000001).await;
        let good = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ];
        let bad_secret = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", "wrong"),
        ];
        let (status, v) = token(&rp, &bad_secret, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(v["error"], "invalid_client");
        // The failed client authentication did not use up the code.
        let (status, tokens) = token(&rp, &good, None).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        let (status, v) = token(&rp, &good, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "invalid_grant");

        // The id_token verifies with an ordinary JWT library.
        let pem = rp
            .esia_cert
            .public_key()
            .expect("pk")
            .public_key_to_pem()
            .expect("pem");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).expect("decoding key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[format!("{}/broker", rp.base)]);
        validation.set_audience(&[CLIENT]);
        let id_token = tokens["id_token"].as_str().expect("id_token");
        let id = jsonwebtoken::decode::<Value>(id_token, &key, &validation).expect("id token");
        assert_eq!(id.claims["sub"], "1000001");
        assert_eq!(id.header.typ.as_deref(), Some("JWT"));
        for claim in ["iat", "nbf", "exp", "auth_time"] {
            assert!(id.claims[claim].is_i64(), "{claim}");
        }
        assert_eq!(
            id.claims["exp"].as_i64().expect("exp") - id.claims["iat"].as_i64().expect("iat"),
            3600
        );

        // userinfo.
        let access = tokens["access_token"].as_str().expect("access");
        let (status, u) = userinfo(&rp, access).await;
        assert_eq!(status, StatusCode::OK, "{u}");
        assert_eq!(u["sub"], "1000001");
        assert_eq!(u["family_name"], "Иванова");
        assert_eq!(u["given_name"], "Мария");
        assert_eq!(u["middle_name"], "Петровна");
        assert_eq!(u["birthdate"], "1985-03-12");
        assert_eq!(u["snils"], "145-862-390 88");
        assert_eq!(u["trusted"], true);
        let (status, v) = userinfo(&rp, "not-a-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"], "invalid_token");

        // --- HTTP Basic client authentication; a person without SNILS ---
        let code = code_for(&rp, 1000004).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (status, v) = token(&rp, &form, Some((CLIENT, "wrong"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        let (status, tokens) = token(&rp, &form, Some((CLIENT, SECRET))).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let (status, u) = userinfo(&rp, tokens["access_token"].as_str().expect("access")).await;
        assert_eq!(status, StatusCode::OK, "{u}");
        assert_eq!(u["sub"], "1000004");
        assert_eq!(u["trusted"], false);
        assert!(u.get("snils").is_none(), "{u}");

        // A redirect_uri other than the authorization request's.
        let code = code_for(&rp, 1000001).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ];
        let (status, v) = token(&rp, &form, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "invalid_grant");

        // Fault injection.
        let r = rp
            .http
            .post(format!(
                "{}/__emulator/fault?endpoint=broker_token&mode=status500",
                rp.base
            ))
            .send()
            .await
            .expect("fault");
        assert_eq!(r.status(), StatusCode::OK);
        let (status, v) = token(&rp, &good, None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");

        // Logout goes back only to a registered origin.
        let r = rp
            .http
            .get(format!("{}/broker/logout", rp.base))
            .query(&[
                ("client_id", CLIENT),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/"),
            ])
            .send()
            .await
            .expect("logout");
        assert_eq!(r.status(), StatusCode::FOUND);
        let r = rp
            .http
            .get(format!("{}/broker/logout", rp.base))
            .query(&[("post_logout_redirect_uri", "http://evil.example/")])
            .send()
            .await
            .expect("logout");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
