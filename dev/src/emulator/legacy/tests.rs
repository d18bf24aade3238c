//! The legacy flow end to end against a running emulator: the PKCS#7
//! secret's encodings and rejections, codes redeemed only by the flow that
//! issued them, and the legacy endpoints' errors.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{Duration, FixedOffset, Utc};
use openssl::pkey::{PKey, Private};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use super::super::{EmulatorConfig, serve};
use super::*;
use crate::{fixtures, keys};
use esia_gate::esia::gost;
use esia_gate::esia::protocol::{self, codes};

const CLIENT: &str = "DIARY";
const REDIRECT: &str = "http://127.0.0.1:9/esia-gate/callback";
const SCOPE: &str = "openid fullname birthdate gender snils";
const OID: u64 = 1000001;

/// What the gateway does: a detached, binary, attribute-less PKCS#7.
fn pkcs7(cert: &X509, key: &PKey<Private>, data: &str) -> Vec<u8> {
    let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOATTR;
    Pkcs7::sign(
        cert,
        key,
        &Stack::new().expect("stack"),
        data.as_bytes(),
        flags,
    )
    .expect("pkcs7 sign")
    .to_der()
    .expect("der")
}

fn client_keys(dir: &std::path::Path) -> (X509, PKey<Private>, keys::DevKeys) {
    let keys = keys::ensure_dev_keys(dir).expect("keys");
    let cert = gost::read_certificate(&keys.client_cert).expect("cert");
    let key = gost::read_private_key(&keys.client_key).expect("key");
    (cert, key, keys)
}

#[test]
fn secret_encodings_and_rejections() {
    gost::init_engine().expect("GOST engine");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, _) = client_keys(dir.path());
    let input = secret_input("openid", "TS", "DIARY", "ST");
    assert_eq!(input, "openidTSDIARYST");
    let der = pkcs7(&cert, &key, &input);
    for s in [
        URL_SAFE_NO_PAD.encode(&der),
        URL_SAFE.encode(&der),
        STANDARD.encode(&der),
        STANDARD.encode(&der).trim_end_matches('=').to_string(),
    ] {
        assert!(secret_ok(&cert, &input, &s), "{s}");
    }
    let good = URL_SAFE_NO_PAD.encode(&der);
    assert!(!secret_ok(&cert, &(input.clone() + "x"), &good));
    assert!(!secret_ok(&cert, &input, "not base64!"));
    assert!(!secret_ok(&cert, &input, "AAAA"));
    // A raw v2 signature is not a PKCS#7.
    let raw = gost::sign(&key, input.as_bytes()).expect("sign");
    assert!(!secret_ok(&cert, &input, &URL_SAFE_NO_PAD.encode(raw)));
    // Embedded content instead of a detached signature.
    let attached = Pkcs7::sign(
        &cert,
        &key,
        &Stack::new().expect("stack"),
        input.as_bytes(),
        Pkcs7Flags::BINARY | Pkcs7Flags::NOATTR,
    )
    .expect("sign")
    .to_der()
    .expect("der");
    assert!(!secret_ok(&cert, &input, &URL_SAFE_NO_PAD.encode(attached)));
    // Signer certificate left out.
    let bare = Pkcs7::sign(
        &cert,
        &key,
        &Stack::new().expect("stack"),
        input.as_bytes(),
        Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOATTR | Pkcs7Flags::NOCERTS,
    )
    .expect("sign")
    .to_der()
    .expect("der");
    assert!(!secret_ok(&cert, &input, &URL_SAFE_NO_PAD.encode(bare)));
    // Another system's (valid) signature.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let (other_cert, other_key, _) = client_keys(other_dir.path());
    assert_ne!(
        other_cert.to_der().expect("der"),
        cert.to_der().expect("der")
    );
    let foreign = URL_SAFE_NO_PAD.encode(pkcs7(&other_cert, &other_key, &input));
    assert!(secret_ok(&other_cert, &input, &foreign));
    assert!(!secret_ok(&cert, &input, &foreign));
}

struct Rp {
    base: String,
    http: reqwest::Client,
    cert: X509,
    key: PKey<Private>,
    cert_hash: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Rp {
    gost::init_engine().expect("GOST engine");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, keys) = client_keys(&dir.path().join("keys"));
    fixtures::write_demo_fixtures(dir.path()).expect("fixtures");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cfg = EmulatorConfig::demo(
        addr,
        &keys,
        dir.path().join(fixtures::PERSONS_FILE),
        CLIENT,
        vec![REDIRECT.to_string()],
    );
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
        cert_hash: gost::certificate_hash(&cert).expect("hash"),
        cert,
        key,
        _dir: dir,
    }
}

fn now_ts(offset_minutes: i64) -> String {
    let msk = FixedOffset::east_opt(3 * 3600).expect("offset");
    protocol::format_timestamp(
        &(Utc::now() + Duration::minutes(offset_minutes)).with_timezone(&msk),
    )
}

fn new_state() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn legacy_secret(rp: &Rp, timestamp: &str, state: &str) -> String {
    let input = secret_input(SCOPE, timestamp, CLIENT, state);
    URL_SAFE_NO_PAD.encode(pkcs7(&rp.cert, &rp.key, &input))
}

fn ac_params(rp: &Rp, state: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", CLIENT.into()),
        ("client_secret", legacy_secret(rp, timestamp, state)),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("response_type", "code".into()),
        ("state", state.into()),
        ("access_type", "online".into()),
        ("timestamp", timestamp.into()),
    ]
}

fn te_params(rp: &Rp, code: &str, state: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", CLIENT.into()),
        ("code", code.into()),
        ("grant_type", "authorization_code".into()),
        ("client_secret", legacy_secret(rp, timestamp, state)),
        ("state", state.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("timestamp", timestamp.into()),
        ("token_type", "Bearer".into()),
    ]
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    params.retain(|p| p.0 != name);
    if !value.is_empty() {
        params.push((name, value.to_string()));
    }
    params
}

async fn get(rp: &Rp, path: &str, params: &[(&'static str, String)]) -> reqwest::Response {
    rp.http
        .get(format!("{}{path}", rp.base))
        .query(params)
        .send()
        .await
        .expect("get")
}

async fn post(rp: &Rp, path: &str, params: &[(&'static str, String)]) -> (StatusCode, Value) {
    let r = rp
        .http
        .post(format!("{}{path}", rp.base))
        .form(params)
        .send()
        .await
        .expect("post");
    let status = r.status();
    (status, r.json().await.expect("json"))
}

fn callback_query(r: &reqwest::Response) -> HashMap<String, String> {
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

fn error_code(v: &str) -> &str {
    protocol::error_code(v).unwrap_or("none")
}

/// The login page answered to an `ac`, then login, consent, and the code.
async fn code_after(rp: &Rp, r: reqwest::Response, ac_state: &str) -> String {
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("<form method=\"post\" action=\"/aas/oauth2/login\">"));
    let request = hidden(&html, "request");
    let r = rp
        .http
        .post(format!("{}/aas/oauth2/login", rp.base))
        .form(&[("request", request.as_str()), ("oid", &OID.to_string())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("<form method=\"post\" action=\"/aas/oauth2/consent\">"));
    let r = rp
        .http
        .post(format!("{}/aas/oauth2/consent", rp.base))
        .form(&[("request", request.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent");
    let q = callback_query(&r);
    assert_eq!(q.get("state").map(String::as_str), Some(ac_state));
    q.get("code").expect("code").clone()
}

async fn legacy_code(rp: &Rp) -> String {
    let ac_state = new_state();
    let r = get(rp, "/aas/oauth2/ac", &ac_params(rp, &ac_state, &now_ts(0))).await;
    code_after(rp, r, &ac_state).await
}

#[tokio::test]
async fn legacy_flow_and_its_errors() {
    let rp = start().await;

    // --- the happy path ---
    let code = legacy_code(&rp).await;
    let state = new_state();
    let params = te_params(&rp, &code, &state, &now_ts(0));
    let (status, tokens) = post(&rp, "/aas/oauth2/te", &params).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["state"], state.as_str());
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["access_token"].as_str().is_some());
    assert!(tokens["id_token"].as_str().is_some());
    // The person API takes the legacy token like any other.
    let r = rp
        .http
        .get(format!("{}/rs/prns/{OID}", rp.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("prns");
    assert_eq!(r.status(), StatusCode::OK);
    // The code is single-use.
    let (status, v) = post(&rp, "/aas/oauth2/te", &params).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(
        error_code(v["error_description"].as_str().unwrap_or_default()),
        codes::BAD_CODE
    );

    // --- ac errors ---
    let ac_state = new_state();
    let good = ac_params(&rp, &ac_state, &now_ts(0));
    let tampered = {
        let mut der = URL_SAFE_NO_PAD
            .decode(legacy_secret(&rp, &now_ts(0), &ac_state))
            .expect("b64");
        let last = der.len() - 1;
        der[last] ^= 1;
        URL_SAFE_NO_PAD.encode(der)
    };
    let r = get(
        &rp,
        "/aas/oauth2/ac",
        &with(good.clone(), "client_secret", &tampered),
    )
    .await;
    let q = callback_query(&r);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(
        error_code(q.get("error_description").map(String::as_str).unwrap_or("")),
        codes::BAD_SIGNATURE
    );
    assert_eq!(q.get("state"), Some(&ac_state));
    // A secret signed for another state (replay) is a bad signature too.
    let replay = legacy_secret(&rp, &now_ts(0), &new_state());
    let r = get(
        &rp,
        "/aas/oauth2/ac",
        &with(good.clone(), "client_secret", &replay),
    )
    .await;
    assert_eq!(
        error_code(callback_query(&r)["error_description"].as_str()),
        codes::BAD_SIGNATURE
    );
    // A v2 raw signature at the legacy endpoint.
    let raw = URL_SAFE_NO_PAD.encode(
        gost::sign(
            &rp.key,
            secret_input(SCOPE, &now_ts(0), CLIENT, &ac_state).as_bytes(),
        )
        .expect("sign"),
    );
    let r = get(
        &rp,
        "/aas/oauth2/ac",
        &with(good.clone(), "client_secret", &raw),
    )
    .await;
    assert_eq!(
        error_code(callback_query(&r)["error_description"].as_str()),
        codes::BAD_SIGNATURE
    );
    // Wrong clock.
    let late = now_ts(30);
    let r = get(&rp, "/aas/oauth2/ac", &ac_params(&rp, &ac_state, &late)).await;
    assert_eq!(
        error_code(callback_query(&r)["error_description"].as_str()),
        codes::BAD_TIMESTAMP
    );
    // Missing parameter.
    let r = get(&rp, "/aas/oauth2/ac", &with(good.clone(), "timestamp", "")).await;
    let q = callback_query(&r);
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(
        error_code(q["error_description"].as_str()),
        codes::MISSING_PARAMETER
    );
    // Unknown client: a 400 page, no redirect.
    let r = get(
        &rp,
        "/aas/oauth2/ac",
        &with(good.clone(), "client_id", "NOPE"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get(LOCATION).is_none());
    // client_certificate_hash is not needed (and ignored when sent).
    let mut extra = good.clone();
    extra.push(("client_certificate_hash", "00".into()));
    let r = get(&rp, "/aas/oauth2/ac", &extra).await;
    assert_eq!(r.status(), StatusCode::OK);

    // --- te errors ---
    let code = legacy_code(&rp).await;
    let state = new_state();
    let params = te_params(&rp, &code, &state, &now_ts(0));
    let tampered = {
        let mut der = URL_SAFE_NO_PAD
            .decode(legacy_secret(&rp, &now_ts(0), &state))
            .expect("b64");
        let last = der.len() - 1;
        der[last] ^= 1;
        URL_SAFE_NO_PAD.encode(der)
    };
    let (status, v) = post(
        &rp,
        "/aas/oauth2/te",
        &with(params.clone(), "client_secret", &tampered),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "access_denied");
    assert_eq!(
        error_code(v["error_description"].as_str().unwrap_or_default()),
        codes::BAD_SIGNATURE
    );
    assert_eq!(v["state"], state.as_str());
    let code = legacy_code(&rp).await;
    let (status, v) = post(
        &rp,
        "/aas/oauth2/te",
        &te_params(&rp, &code, &state, &now_ts(-30)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(v["error_description"].as_str().unwrap_or_default()),
        codes::BAD_TIMESTAMP
    );

    // --- codes do not cross flows ---
    // A legacy code at v3 te (correctly signed for v3).
    let code = legacy_code(&rp).await;
    let state = new_state();
    let ts = now_ts(0);
    let input = protocol::token_secret_input(CLIENT, SCOPE, "", &ts, &state, REDIRECT, &code);
    let v3 = vec![
        ("client_id", CLIENT.to_string()),
        ("code", code.clone()),
        ("grant_type", "authorization_code".into()),
        ("client_certificate_hash", rp.cert_hash.clone()),
        (
            "client_secret",
            URL_SAFE_NO_PAD.encode(gost::sign(&rp.key, input.as_bytes()).expect("sign")),
        ),
        ("state", state.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("timestamp", ts.clone()),
        ("token_type", "Bearer".into()),
    ];
    let (status, v) = post(&rp, "/aas/oauth2/v3/te", &v3).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        error_code(v["error_description"].as_str().unwrap_or_default()),
        codes::BAD_CODE
    );
    // A v2 code at the legacy te.
    let ac_state = new_state();
    let ts = now_ts(0);
    let input = protocol::auth_secret_input(CLIENT, SCOPE, "", &ts, &ac_state, REDIRECT);
    let v2 = vec![
        ("client_id", CLIENT.to_string()),
        (
            "client_secret",
            URL_SAFE_NO_PAD.encode(gost::sign(&rp.key, input.as_bytes()).expect("sign")),
        ),
        ("client_certificate_hash", rp.cert_hash.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("response_type", "code".into()),
        ("state", ac_state.clone()),
        ("access_type", "online".into()),
        ("timestamp", ts),
    ];
    let r = get(&rp, "/aas/oauth2/v2/ac", &v2).await;
    let code = code_after(&rp, r, &ac_state).await;
    let (status, v) = post(
        &rp,
        "/aas/oauth2/te",
        &te_params(&rp, &code, &new_state(), &now_ts(0)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        error_code(v["error_description"].as_str().unwrap_or_default()),
        codes::BAD_CODE
    );
}
