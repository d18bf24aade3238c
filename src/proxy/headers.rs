//! Identity headers: what the diary trusts, so what no client may send.

/// Header names compare equal in any case and with `_` for `-` (some
/// servers and CGI layers treat them as one).
pub fn header_key(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Request headers by which a client could contradict what the gateway
/// tells the diary: who the client is (`Forwarded`, `X-Real-IP`, ...),
/// which host it asked for, or — on IIS URL Rewrite and some frameworks —
/// which path is really served (`X-Original-URL`, `X-Rewrite-URL`), which
/// would let `/public?` with `X-Original-URL: /grades` slip past a policy
/// that classified `/public`. Removed from every request to the diary.
pub const CLIENT_CLAIMS: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
];

/// Remove the named cookies from a `Cookie` header value; `None` when no
/// cookie is left.
pub fn strip_cookies(header: &str, names: &[&str]) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| {
            let name = c.split('=').next().unwrap_or("").trim();
            !names.contains(&name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The value of a cookie in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_a_header_are_one_key() {
        assert_eq!(header_key("X-Remote-User"), header_key("x_remote_user"));
        assert_eq!(header_key("X-REMOTE_USER"), "x-remote-user");
    }

    #[test]
    fn the_gateway_cookie_is_removed_and_others_kept() {
        assert_eq!(
            strip_cookies(
                "a=1; esia_gate_session=s; DIARYSESSID=d",
                &["esia_gate_session"]
            ),
            Some("a=1; DIARYSESSID=d".into())
        );
        assert_eq!(
            strip_cookies("esia_gate_session=s", &["esia_gate_session"]),
            None
        );
        assert_eq!(cookie_value("a=1; b = 2", "b"), Some("2"));
        assert_eq!(cookie_value("a=1", "b"), None);
    }
}
