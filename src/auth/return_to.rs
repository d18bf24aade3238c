//! Where to go after login: only a path on the gateway's own origin. Every
//! payload of the open-redirect corpus must end on our origin, so the rule
//! is an allow-list of shapes, not a deny-list of tricks.

use url::Url;

/// A path (with query) that is safe to send the browser to after login.
/// Anything else gives `None`, and the caller uses the default landing page.
pub fn safe_return_path(raw: &str, origin: &Url) -> Option<String> {
    // Plain ASCII without controls, spaces or backslashes: unicode
    // look-alikes (`／`, `。`), tabs and newlines browsers strip, and `\`
    // that browsers read as `/` never reach the URL parser.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return None;
    }
    // A path, not a scheme-relative URL or anything with a scheme.
    if !raw.starts_with('/') || raw.starts_with("//") {
        return None;
    }
    // Encoded slashes and backslashes at the start can turn into `//` or
    // `/\` when something decodes the path again.
    let lower = raw.to_ascii_lowercase();
    let after_slash = &lower[1..];
    if after_slash.starts_with("%2f") || after_slash.starts_with("%5c") || lower.contains("%00") {
        return None;
    }
    // Resolve against our origin: the result must stay on it.
    let joined = origin.join(raw).ok()?;
    if joined.origin() != origin.origin() || joined.username() != "" || joined.password().is_some()
    {
        return None;
    }
    let mut out = joined.path().to_string();
    if let Some(q) = joined.query() {
        out.push('?');
        out.push_str(q);
    }
    if out.starts_with("//") {
        return None;
    }
    Some(out)
}

/// The project's own table of attack families, used when the shared
/// corpus is not present.
pub const ATTACK_PAYLOADS: &[&str] = &[
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\x00//evil.example",
    " //evil.example",
    "//user:pass@evil.example",
    "/@evil.example",
    "http://127.0.0.1:8080@evil.example",
    "／／evil.example",
    "/／evil.example",
    "//evil。example",
    "/%E3%80%82evil",
    "/%00/evil.example",
    "https:/\\evil.example",
    "//127.0.0.1:8080.evil.example",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Url {
        Url::parse("http://127.0.0.1:8080").expect("url")
    }

    #[test]
    fn ordinary_diary_paths_are_kept() {
        for p in ["/", "/grades", "/grades?week=2&term=1", "/a/b%20c"] {
            assert_eq!(safe_return_path(p, &origin()).as_deref(), Some(p));
        }
        assert_eq!(
            safe_return_path("/a/../grades", &origin()).as_deref(),
            Some("/grades")
        );
    }

    #[test]
    fn attack_payloads_never_leave_the_origin() {
        for p in ATTACK_PAYLOADS {
            if let Some(path) = safe_return_path(p, &origin()) {
                let landed = origin().join(&path).expect("joins");
                assert_eq!(
                    landed.origin(),
                    origin().origin(),
                    "payload {p:?} -> {path}"
                );
                assert!(!path.starts_with("//"), "payload {p:?} -> {path}");
            }
        }
    }
}
