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
/// which host or scheme it asked for, which path is really served
/// (`X-Original-URL` on IIS URL Rewrite, `X-Forwarded-Prefix` and
/// `X-Forwarded-Uri` in frameworks), which would let `/public` with
/// `X-Original-URL: /grades` slip past a policy that classified `/public`,
/// or which method (`X-HTTP-Method-Override: GET` on a `POST`). Removed
/// from every request to the diary in every spelling ([`header_key`]: a
/// PHP diary reads `X_Original_URL` as `X-Original-URL`); the gateway sets
/// the forwarding headers the diary needs itself.
pub const CLIENT_CLAIMS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-protocol",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "front-end-https",
    "x-url-scheme",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-original-host",
    "x-host",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-original-method",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
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
    }
}
