//! The gateway's own cookies: finding one in a request's `Cookie` header
//! and writing a `Set-Cookie` value. Pure functions.

use std::time::Duration;

use cookie::{Cookie, SameSite};

/// The cookie binding a pending login to the browser that started it.
pub const BINDING_COOKIE: &str = "esia_gate_login";

/// The value of a cookie in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// A `Set-Cookie` value: HTTP-only, `SameSite=Lax`, `Secure` on HTTPS;
/// kept `max_age`, or with `None` a browser-session cookie (gone when the
/// browser closes: a school computer forgets the person).
pub fn set_cookie(
    name: &str,
    value: String,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> String {
    let mut c = Cookie::build((name.to_string(), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path(path.to_string());
    if let Some(age) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    c.build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_by_its_exact_name() {
        assert_eq!(cookie_value("a=1; b = 2", "b"), Some("2"));
        assert_eq!(cookie_value("a=1", "b"), None);
        assert_eq!(cookie_value("ab=1", "a"), None);
    }

    #[test]
    fn set_cookies_are_http_only_and_lax() {
        let c = set_cookie("s", "v".into(), "/", Some(Duration::from_secs(60)), true);
        assert!(c.starts_with("s=v"), "{c}");
        let session = set_cookie("s", "v".into(), "/", None, false);
        assert!(
            !session.contains("Max-Age") && !session.contains("Expires"),
            "{session}"
        );
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(c.contains(part), "{part} in {c}");
        }
        let gone = set_cookie("s", String::new(), "/x", Some(Duration::ZERO), false);
        assert!(
            gone.contains("Max-Age=0") && !gone.contains("Secure"),
            "{gone}"
        );
    }
}
