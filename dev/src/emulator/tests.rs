//! Unit tests of the pure checks: the timestamp tolerance, the GOST client
//! secret, scopes, JWTs, the person filter and the SNILS format.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{FixedOffset, TimeZone, Utc};
use esia_gate::esia::gost;
use esia_gate::esia::protocol;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;

use super::checks::{check_timestamp, has_scope, make_jwt, secret_ok, token_scope, verify_jwt};
use super::persons::snils_format_ok;
use super::state::PersonFilter;

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
