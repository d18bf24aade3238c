//! The broker's code flow against a running emulator: login, token,
//! userinfo and logout, and each endpoint's errors.

use std::collections::HashMap;

use axum::http::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use super::super::{EmulatorConfig, serve};
use super::LOGIN_TITLE;
use crate::emulator::config::BrokerClient;
use crate::{fixtures, keys};

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
        esia_cert: openssl::x509::X509::from_pem(&std::fs::read(&keys.esia_cert).expect("read"))
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

async fn token(rp: &Rp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut req = rp.http.post(format!("{}/broker/token", rp.base)).form(form);
    if let Some((id, secret)) = basic {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
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

/// A code for `oid` from an authorization request with `params` (state
/// `st-1`).
async fn code_with(rp: &Rp, oid: u64, params: &[(&str, &str)]) -> String {
    let r = auth(rp, params).await;
    assert_eq!(r.status(), StatusCode::OK);
    let request = hidden(&r.text().await.expect("html"), "request");
    let r = rp
        .http
        .post(format!("{}/broker/login", rp.base))
        .form(&[("request", request.as_str()), ("oid", &oid.to_string())])
        .send()
        .await
        .expect("login");
    location_query(&r).get("code").expect("code").clone()
}

async fn get_json(rp: &Rp, path: &str) -> Value {
    rp.http
        .get(format!("{}{path}", rp.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

fn kid_of(id_token: &str) -> String {
    let header = id_token.split('.').next().expect("header");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
            .expect("base64"),
    )
    .expect("json");
    header["kid"].as_str().expect("kid").to_string()
}

#[tokio::test]
async fn discovery_pkce_and_a_key_rotation() {
    let rp = start().await;
    let d = get_json(&rp, "/broker/.well-known/openid-configuration").await;
    let iss = format!("{}/broker", rp.base);
    assert_eq!(d["issuer"], iss.as_str());
    assert_eq!(d["jwks_uri"], format!("{iss}/jwks").as_str());
    assert_eq!(d["code_challenge_methods_supported"][0], "S256");
    let jwks = get_json(&rp, "/broker/jwks").await;
    assert_eq!(jwks["keys"][0]["kid"], "broker-1");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));

    let verifier = "a-pkce-verifier-of-at-least-43-characters-0123456789";
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        openssl::sha::sha256(verifier.as_bytes()),
    );
    let mut params = auth_params("st-1");
    params.push(("code_challenge", &challenge));
    params.push(("code_challenge_method", "S256"));
    let basic = Some((CLIENT, SECRET));
    // A code asked with a challenge is refused without its verifier, or
    // with another.
    for shown in [
        None,
        Some("another-verifier-of-at-least-43-characters-000000"),
    ] {
        let code = code_with(&rp, 1000005, &params).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        form.extend(shown.map(|v| ("code_verifier", v)));
        let (status, v) = token(&rp, &form, basic).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "invalid_grant");
    }
    let code = code_with(&rp, 1000005, &params).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let (status, v) = token(&rp, &form, basic).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        kid_of(v["id_token"].as_str().expect("id_token")),
        "broker-1"
    );

    // "plain" would show the verifier in the browser: refused.
    let mut plain = auth_params("st-1");
    plain.push(("code_challenge", verifier));
    plain.push(("code_challenge_method", "plain"));
    let q = location_query(&auth(&rp, &plain).await);
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));

    // A rotation: a new kid, the old key gone from the JWKS at once.
    let r: Value = rp
        .http
        .post(format!("{}/__emulator/broker/rotate-key", rp.base))
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    assert_eq!(r["kid"], "broker-2");
    let jwks = get_json(&rp, "/broker/jwks").await;
    assert_eq!(jwks["keys"][0]["kid"], "broker-2");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    let code = code_with(&rp, 1000005, &params).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let (_, v) = token(&rp, &form, basic).await;
    assert_eq!(
        kid_of(v["id_token"].as_str().expect("id_token")),
        "broker-2"
    );
}
