//! Loading and validating whole configuration files.

use std::path::Path;

use super::*;

const GOOD: &str = r#"
[listen]
public = "127.0.0.1:8080"
admin  = "127.0.0.1:9090"
[upstream]
url = "http://127.0.0.1:8000"
[gateway]
public_url = "http://127.0.0.1:8080"
[esia]
mode = "v2"
base_url = "https://esia-portal1.test.gosuslugi.ru"
client_id = "DIARY"
scope = "openid fullname snils birthdate"
certificate = "keys/client-cert.pem"
private_key = "keys/client-key.pem"
trusted_certificates = ["keys/esia.pem"]
[directory]
csv = "data/accounts.csv"
"#;

fn parse_str(s: &str) -> Result<Resolved, ConfigError> {
    parse(s, "gateway.toml", PathBuf::from("/etc/esia-gate"))
}

#[test]
fn the_documented_minimum_loads_with_defaults() {
    let r = parse_str(GOOD).expect("valid");
    assert_eq!(r.issuer, "http://esia-portal1.test.gosuslugi.ru/");
    assert_eq!(r.redirect_uri, "http://127.0.0.1:8080/esia-gate/callback");
    assert!(!r.secure_cookies);
    assert_eq!(r.settings.identity_headers.user, "X-Remote-User");
    assert_eq!(
        r.path(Path::new("keys/esia.pem")),
        PathBuf::from("/etc/esia-gate/keys/esia.pem")
    );
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let e = parse_str(&GOOD.replace("[directory]", "[directory]\ncvs = \"x\""))
        .expect_err("unknown key");
    assert!(e.to_string().contains("cvs"), "{e}");
}

#[test]
fn an_unknown_esia_host_needs_an_issuer() {
    let text = GOOD.replace(
        "https://esia-portal1.test.gosuslugi.ru",
        "http://127.0.0.1:8001",
    );
    let e = parse_str(&text).expect_err("issuer required");
    assert!(e.to_string().contains("esia.issuer"), "{e}");
    let ok = parse_str(
        &text
            .replace("[directory]", "[directory]\n")
            .replace("mode = \"v2\"", "mode = \"v2\"\nissuer = \"http://x/\""),
    )
    .expect("with issuer");
    assert_eq!(ok.issuer, "http://x/");
}

#[test]
fn https_public_url_makes_cookies_secure() {
    let r = parse_str(&GOOD.replace(
        "public_url = \"http://127.0.0.1:8080\"",
        "public_url = \"https://dnevnik.example.ru\"",
    ))
    .expect("valid");
    assert!(r.secure_cookies);
}

#[test]
fn a_host_prefixed_cookie_needs_https() {
    let host_cookie = "\n[session]\ncookie_name = \"__Host-esia_gate_session\"\n";
    let https = GOOD.replace(
        "public_url = \"http://127.0.0.1:8080\"",
        "public_url = \"https://dnevnik.example.ru\"",
    );
    parse_str(&format!("{https}{host_cookie}")).expect("https: valid");
    let e = parse_str(&format!("{GOOD}{host_cookie}")).expect_err("http: refused");
    assert!(e.to_string().contains("session.cookie_name"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    for (from, to, key) in [
        (
            "admin  = \"127.0.0.1:9090\"",
            "admin = \"127.0.0.1:8080\"",
            "listen.admin",
        ),
        ("mode = \"v2\"", "mode = \"broker\"", "esia.broker"),
        (
            "url = \"http://127.0.0.1:8000\"",
            "url = \"ftp://x\"",
            "upstream.url",
        ),
        (
            "client_id = \"DIARY\"",
            "client_id = \"\"",
            "esia.client_id",
        ),
    ] {
        let e = parse_str(&GOOD.replace(from, to)).expect_err(key);
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
}

#[test]
fn the_diary_login_page_is_opened_first_unless_told_not_to() {
    let with = |keys: &str| {
        parse_str(&format!(
            "{GOOD}[diary_login]\nsuccess = \"redirect:/grades\"\n{keys}"
        ))
    };
    let r = with("").expect("valid");
    let d = r.settings.diary_login.as_ref().expect("linking on");
    assert!(d.fetch_page && d.page_url.is_none(), "{d:?}");
    let r = with("page_url = \"/index.php?modfunc=login\"\nfetch_page = false\n").expect("valid");
    let d = r.settings.diary_login.as_ref().expect("linking on");
    assert_eq!(d.page_url.as_deref(), Some("/index.php?modfunc=login"));
    assert!(!d.fetch_page);
    let e = with("page_url = \"ftp://diary/login\"\n").expect_err("not http");
    assert!(e.to_string().contains("diary_login.page_url"), "{e}");
}
