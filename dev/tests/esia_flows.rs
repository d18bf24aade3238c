//! The emulator driven end to end over HTTP the way a relying party would:
//! a signed v2 authorization request, login, consent, the v3 token
//! exchange, the person API, and the errors ESIA gives for a reused code,
//! a bad signature and a wrong clock.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, FixedOffset, Utc};
use openssl::pkey::{PKey, Private};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use esia_gate::esia::gost;
use esia_gate::esia::protocol::{self, codes};
use esia_gate_dev::emulator::{EmulatorConfig, serve};
use esia_gate_dev::{fixtures, keys};

const CLIENT: &str = "DIARY";
const REDIRECT: &str = "http://127.0.0.1:9/esia-gate/callback";
const SCOPE: &str = "openid fullname birthdate gender snils kid_fullname kid_birthdate kid_snils";

struct Rp {
    base: String,
    http: reqwest::Client,
    key: PKey<Private>,
    cert_hash: String,
    esia_cert: openssl::x509::X509,
    _dir: tempfile::TempDir,
}

fn now_ts(offset_minutes: i64) -> String {
    let msk = FixedOffset::east_opt(3 * 3600).expect("offset");
    protocol::format_timestamp(
        &(Utc::now() + Duration::minutes(offset_minutes)).with_timezone(&msk),
    )
}

fn b64(sig: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sig)
}

async fn start() -> Rp {
    gost::init_engine().expect("GOST engine");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys::ensure_dev_keys(&dir.path().join("keys")).expect("keys");
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
    let cert = gost::read_certificate(&keys.client_cert).expect("cert");
    Rp {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        key: gost::read_private_key(&keys.client_key).expect("key"),
        cert_hash: gost::certificate_hash(&cert).expect("hash"),
        esia_cert: openssl::x509::X509::from_pem(&std::fs::read(&keys.esia_cert).expect("read"))
            .expect("esia cert"),
        _dir: dir,
    }
}

/// The parameters of a correctly signed v2 authorization request.
fn ac_params(rp: &Rp, state: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    let input = protocol::auth_secret_input(CLIENT, SCOPE, "", timestamp, state, REDIRECT);
    let secret = b64(&gost::sign(&rp.key, input.as_bytes()).expect("sign"));
    vec![
        ("client_id", CLIENT.into()),
        ("client_secret", secret),
        ("client_certificate_hash", rp.cert_hash.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("response_type", "code".into()),
        ("state", state.into()),
        ("access_type", "online".into()),
        ("timestamp", timestamp.into()),
    ]
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &str,
    value: &str,
) -> Vec<(&'static str, String)> {
    for p in params.iter_mut() {
        if p.0 == name {
            p.1 = value.to_string();
        }
    }
    params
}

async fn ac(rp: &Rp, params: &[(&'static str, String)]) -> reqwest::Response {
    rp.http
        .get(format!("{}/aas/oauth2/v2/ac", rp.base))
        .query(params)
        .send()
        .await
        .expect("ac")
}

/// The query of a redirect to the registered callback.
fn callback_query(r: &reqwest::Response) -> std::collections::HashMap<String, String> {
    assert_eq!(r.status(), StatusCode::FOUND, "expected a redirect");
    let loc = r.headers()[LOCATION].to_str().expect("location");
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let u = url::Url::parse(loc).expect("url");
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `value="…"` of the first `name="{name}"` input.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("<input type=\"hidden\" name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden input") + marker.len();
    let end = html[start..].find('"').expect("end quote") + start;
    html[start..end].to_string()
}

/// Log in as `oid` and give (`allow`) or refuse (`deny`) consent; the
/// emulator's answer to the consent form.
async fn login_and_decide(rp: &Rp, state: &str, oid: u64, decision: &str) -> reqwest::Response {
    let r = ac(rp, &ac_params(rp, state, &now_ts(0))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("Вход через Госуслуги (эмулятор)"));
    assert!(html.contains("<form method=\"post\" action=\"/aas/oauth2/login\">"));
    assert!(html.contains(&format!(
        "<button type=\"submit\" name=\"oid\" value=\"{oid}\">"
    )));
    assert!(html.contains("name=\"viewport\""));
    let request = hidden(&html, "request");

    let r = rp
        .http
        .post(format!("{}/aas/oauth2/login", rp.base))
        .form(&[("request", request.as_str()), ("oid", &oid.to_string())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("<form method=\"post\" action=\"/aas/oauth2/consent\">"));
    assert!(html.contains(
        "<button type=\"submit\" name=\"decision\" value=\"allow\">Предоставить</button>"
    ));
    assert!(
        html.contains("<button type=\"submit\" name=\"decision\" value=\"deny\">Отказать</button>")
    );
    assert!(html.contains("СНИЛС"));
    assert_eq!(hidden(&html, "request"), request);

    rp.http
        .post(format!("{}/aas/oauth2/consent", rp.base))
        .form(&[("request", request.as_str()), ("decision", decision)])
        .send()
        .await
        .expect("consent")
}

async fn code_for(rp: &Rp, ac_state: &str, oid: u64) -> String {
    let r = login_and_decide(rp, ac_state, oid, "allow").await;
    let q = callback_query(&r);
    assert_eq!(q.get("state").map(String::as_str), Some(ac_state));
    q.get("code").expect("code").clone()
}

fn te_params(rp: &Rp, code: &str, state: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    let input = protocol::token_secret_input(CLIENT, SCOPE, "", timestamp, state, REDIRECT, code);
    let secret = b64(&gost::sign(&rp.key, input.as_bytes()).expect("sign"));
    vec![
        ("client_id", CLIENT.into()),
        ("code", code.into()),
        ("grant_type", "authorization_code".into()),
        ("client_certificate_hash", rp.cert_hash.clone()),
        ("client_secret", secret),
        ("state", state.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("scope_org", String::new()),
        ("timestamp", timestamp.into()),
        ("token_type", "Bearer".into()),
    ]
}

async fn te(rp: &Rp, params: &[(&'static str, String)]) -> (StatusCode, Value) {
    let r = rp
        .http
        .post(format!("{}/aas/oauth2/v3/te", rp.base))
        .form(params)
        .send()
        .await
        .expect("te");
    let status = r.status();
    (status, r.json().await.expect("te json"))
}

fn error_code_of(v: &str) -> &str {
    protocol::error_code(v).unwrap_or("none")
}

fn decoding_key(rp: &Rp) -> jsonwebtoken::DecodingKey {
    let pem = rp
        .esia_cert
        .public_key()
        .expect("pk")
        .public_key_to_pem()
        .expect("pem");
    jsonwebtoken::DecodingKey::from_rsa_pem(&pem).expect("decoding key")
}

fn new_state() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn full_v2_v3_flow_and_its_errors() {
    let rp = start().await;
    let r = rp
        .http
        .get(format!("{}/__emulator/health", rp.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);

    // --- the happy path ---
    let ac_state = new_state();
    let code = code_for(&rp, &ac_state, 1000001).await;
    let state = new_state();
    let params = te_params(&rp, &code, &state, &now_ts(0));
    let (status, tokens) = te(&rp, &params).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["state"], state.as_str());
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().expect("access").to_string();
    let id_token = tokens["id_token"].as_str().expect("id token");

    // The tokens verify with an ordinary JWT library and the emulator's certificate.
    let key = decoding_key(&rp);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[esia_gate_dev::emulator::DEFAULT_ISSUER]);
    v.set_audience(&[CLIENT]);
    let id = jsonwebtoken::decode::<Value>(id_token, &key, &v).expect("id token");
    assert_eq!(id.claims["sub"], 1000001);
    assert_eq!(id.claims["amr"], "PWD");
    let sbj = &id.claims["urn:esia:sbj"];
    assert_eq!(sbj["urn:esia:sbj:typ"], "P");
    assert_eq!(sbj["urn:esia:sbj:oid"], 1000001);
    assert_eq!(sbj["urn:esia:sbj:is_tru"], true);
    assert_eq!(sbj["urn:esia:sbj:lvl"], "PR");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[esia_gate_dev::emulator::DEFAULT_ISSUER]);
    v.validate_aud = false;
    let at = jsonwebtoken::decode::<Value>(&access, &key, &v).expect("access token");
    assert_eq!(at.claims["urn:esia:sbj_id"], 1000001);
    assert_eq!(at.claims["client_id"], CLIENT);
    assert!(
        at.claims["scope"]
            .as_str()
            .expect("scope")
            .contains("snils?oid=1000001")
    );
    assert_eq!(at.header.typ.as_deref(), Some("JWT"));
    let raw_header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(raw_header["sbt"], "access");
    assert_eq!(raw_header["ver"], 1);

    // The person and the children.
    let r = rp
        .http
        .get(format!("{}/rs/prns/1000001", rp.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("prns");
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.expect("json");
    assert_eq!(p["lastName"], "Иванова");
    assert_eq!(p["firstName"], "Мария");
    assert_eq!(p["middleName"], "Петровна");
    assert_eq!(p["birthDate"], "12.03.1985");
    assert_eq!(p["trusted"], true);
    assert_eq!(p["citizenship"], "RUS");
    let snils = p["snils"].as_str().expect("snils");
    assert!(fixtures::snils_checksum_ok(snils));
    let r = rp
        .http
        .get(format!("{}/rs/prns/1000001/kids?embed=(elements)", rp.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("kids");
    assert_eq!(r.status(), StatusCode::OK);
    let kids: Value = r.json().await.expect("json");
    assert_eq!(kids["size"], 2);
    assert_eq!(kids["stateFacts"][0], "hasSize");
    for k in kids["elements"].as_array().expect("elements") {
        assert!(fixtures::snils_checksum_ok(
            k["snils"].as_str().expect("kid snils")
        ));
    }
    // Another person's data, no token, a forged token: 401.
    let r = rp
        .http
        .get(format!("{}/rs/prns/1000002", rp.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("prns");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = rp
        .http
        .get(format!("{}/rs/prns/1000001", rp.base))
        .send()
        .await
        .expect("prns");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let forged = format!("{}x", &access[..access.len() - 1]);
    let r = rp
        .http
        .get(format!("{}/rs/prns/1000001", rp.base))
        .bearer_auth(forged)
        .send()
        .await
        .expect("prns");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // --- a reused code: 400 ESIA-007011 ---
    let again = te_params(&rp, &code, &new_state(), &now_ts(0));
    let (status, err) = te(&rp, &again).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        error_code_of(err["error_description"].as_str().expect("desc")),
        codes::BAD_CODE
    );

    // --- a tampered secret at ac: redirect with ESIA-007053 ---
    let state = new_state();
    let good = ac_params(&rp, &state, &now_ts(0));
    let secret = good
        .iter()
        .find(|p| p.0 == "client_secret")
        .expect("secret")
        .1
        .clone();
    let first = if secret.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{first}{}", &secret[1..]);
    let r = ac(&rp, &with(good.clone(), "client_secret", &tampered)).await;
    let q = callback_query(&r);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(error_code_of(&q["error_description"]), codes::BAD_SIGNATURE);
    assert_eq!(q["state"], state);

    // --- a timestamp 10 minutes off: ESIA-007015 ---
    for minutes in [-10, 10] {
        let state = new_state();
        let r = ac(&rp, &ac_params(&rp, &state, &now_ts(minutes))).await;
        let q = callback_query(&r);
        assert_eq!(error_code_of(&q["error_description"]), codes::BAD_TIMESTAMP);
    }

    // --- more of ESIA's strictness ---
    // The certificate hash of the PEM text instead of the DER bytes.
    let r = ac(
        &rp,
        &with(good.clone(), "client_certificate_hash", &"AB".repeat(32)),
    )
    .await;
    assert_eq!(
        error_code_of(&callback_query(&r)["error_description"]),
        codes::BAD_SIGNATURE
    );
    // The hash in lower case is accepted.
    let r = ac(
        &rp,
        &with(
            good.clone(),
            "client_certificate_hash",
            &rp.cert_hash.to_lowercase(),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A missing parameter.
    let no_scope: Vec<_> = good.iter().filter(|p| p.0 != "scope").cloned().collect();
    let r = ac(&rp, &no_scope).await;
    let q = callback_query(&r);
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(
        error_code_of(&q["error_description"]),
        codes::MISSING_PARAMETER
    );
    // An unknown client or an unregistered redirect_uri: no redirect, a page.
    let r = ac(&rp, &with(good.clone(), "client_id", "OTHER")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains(codes::UNAUTHORIZED_CLIENT)
    );
    let r = ac(
        &rp,
        &with(good.clone(), "redirect_uri", "http://evil.example/cb"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Refused consent: ESIA-007004.
    let state = new_state();
    let r = login_and_decide(&rp, &state, 1000003, "deny").await;
    let loc = r.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    assert!(loc.contains("error_description=ESIA-007004%3A+"), "{loc}");
    let q = callback_query(&r);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], state);

    // The token request must use a new state, and its own valid signature.
    let ac_state = new_state();
    let code = code_for(&rp, &ac_state, 1000004).await;
    let (status, err) = te(&rp, &te_params(&rp, &code, &ac_state, &now_ts(0))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code_of(err["error_description"].as_str().expect("desc")),
        codes::MISSING_PARAMETER
    );
    // …and the code is gone now, even though that request failed.
    let (_, err) = te(&rp, &te_params(&rp, &code, &new_state(), &now_ts(0))).await;
    assert_eq!(
        error_code_of(err["error_description"].as_str().expect("desc")),
        codes::BAD_CODE
    );

    let code = code_for(&rp, &new_state(), 1000004).await;
    let state = new_state();
    let signed_for_other_code = te_params(&rp, "another-code", &state, &now_ts(0));
    let secret = signed_for_other_code[4].1.clone();
    let (_, err) = te(
        &rp,
        &with(
            te_params(&rp, &code, &state, &now_ts(0)),
            "client_secret",
            &secret,
        ),
    )
    .await;
    assert_eq!(
        error_code_of(err["error_description"].as_str().expect("desc")),
        codes::BAD_SIGNATURE
    );
    assert_eq!(err["state"], state.as_str());

    // Simplified account: no SNILS, not trusted, lvl P.
    let code = code_for(&rp, &new_state(), 1000004).await;
    let (status, tokens) = te(&rp, &te_params(&rp, &code, &new_state(), &now_ts(-2))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[CLIENT]);
    let id = jsonwebtoken::decode::<Value>(tokens["id_token"].as_str().expect("id"), &key, &v)
        .expect("id");
    assert_eq!(id.claims["urn:esia:sbj"]["urn:esia:sbj:lvl"], "P");
    assert!(
        id.claims["urn:esia:sbj"]
            .get("urn:esia:sbj:is_tru")
            .is_none()
    );
    let p: Value = rp
        .http
        .get(format!("{}/rs/prns/1000004", rp.base))
        .bearer_auth(tokens["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("prns")
        .json()
        .await
        .expect("json");
    assert_eq!(p["trusted"], false);
    assert!(p.get("snils").is_none());

    // Fault injection: the next token is signed by a stranger.
    let r = rp
        .http
        .post(format!(
            "{}/__emulator/fault?endpoint=te&mode=bad_signature",
            rp.base
        ))
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status(), StatusCode::OK);
    let code = code_for(&rp, &new_state(), 1000005).await;
    let (status, tokens) = te(&rp, &te_params(&rp, &code, &new_state(), &now_ts(0))).await;
    assert_eq!(status, StatusCode::OK);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    assert!(
        jsonwebtoken::decode::<Value>(tokens["access_token"].as_str().expect("at"), &key, &v)
            .is_err()
    );
    rp.http
        .post(format!(
            "{}/__emulator/fault?endpoint=te&mode=status500",
            rp.base
        ))
        .send()
        .await
        .expect("fault");
    let (status, _) = te(&rp, &te_params(&rp, "x", &new_state(), &now_ts(0))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = rp
        .http
        .post(format!(
            "{}/__emulator/fault?endpoint=te&mode=bogus",
            rp.base
        ))
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Logout goes back to the system.
    let r = rp
        .http
        .get(format!("{}/idp/ext/Logout", rp.base))
        .query(&[
            ("client_id", CLIENT),
            ("redirect_url", "http://127.0.0.1:9/"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "http://127.0.0.1:9/");
}
