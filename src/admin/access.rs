//! Who may read the admin listener: with a token configured, every path
//! but `/healthz` needs it, as `Authorization: Bearer <token>` (Prometheus,
//! scripts) or as the password of HTTP Basic (a person's browser, whatever
//! the user name). Without one the listener is on loopback (checked when
//! the configuration loads).

use base64::Engine as _;
use http::HeaderMap;

/// The admin token, kept as its SHA-256 only and compared in constant time.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn new(token: &str) -> Self {
        Self(openssl::sha::sha256(token.as_bytes()))
    }

    fn matches(&self, candidate: &str) -> bool {
        openssl::memcmp::eq(&self.0, &openssl::sha::sha256(candidate.as_bytes()))
    }

    /// Does the request carry the token?
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(presented)
            .any(|t| self.matches(&t))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The token an `Authorization` value presents: a bearer token, or the
/// password of Basic credentials.
fn presented(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text.split_once(':').map(|(_, p)| p.to_string());
    }
    None
}

/// Whether a `Host` header names this machine's loopback (`localhost`,
/// `127.x.x.x`, `[::1]`, with or without a port). Without a token the
/// admin listener answers only such requests: a web page whose own name
/// resolves to 127.0.0.1 (DNS rebinding) sends its own name as `Host`, and
/// must not read the schools' reports through a person's browser.
pub fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The challenge of a 401: Basic so that a browser asks for it.
pub const CHALLENGE: &str = "Basic realm=\"esia-gate admin\", charset=\"UTF-8\"";

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().expect("header"));
        h
    }

    #[test]
    fn a_bearer_token_or_a_basic_password_is_accepted() {
        let t = AdminToken::new(TOKEN);
        assert!(t.allows(&headers(&format!("Bearer {TOKEN}"))));
        assert!(t.allows(&headers(&format!("bearer  {TOKEN}"))));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("school:{TOKEN}"));
        assert!(t.allows(&headers(&format!("Basic {basic}"))));
    }

    #[test]
    fn only_loopback_names_pass_without_a_token() {
        for ok in [
            "localhost",
            "localhost:9190",
            "LOCALHOST.",
            "127.0.0.1",
            "127.0.0.1:9190",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:9190",
        ] {
            assert!(loopback_host(Some(ok)), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:9190",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.1:9190",
            "[::2]:9190",
            "[::1]x",
            "localhost:80:80",
            "0.0.0.0:9190",
        ] {
            assert!(!loopback_host(Some(bad)), "{bad}");
        }
        assert!(!loopback_host(None));
    }

    #[test]
    fn anything_else_is_refused() {
        let t = AdminToken::new(TOKEN);
        assert!(!t.allows(&HeaderMap::new()));
        assert!(!t.allows(&headers("Bearer wrong")));
        assert!(!t.allows(&headers(&format!("Bearer {TOKEN}x"))));
        assert!(!t.allows(&headers(TOKEN)));
        let basic = base64::engine::general_purpose::STANDARD.encode(TOKEN);
        assert!(!t.allows(&headers(&format!("Basic {basic}"))));
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
    }
}
