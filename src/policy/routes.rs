//! Which class a request's route belongs to. Requests are matched in their
//! canonical form — the spelling the most lenient diary server would still
//! serve as the same page — so that `/Grades`, `/grades.`, `/grades%20`,
//! `/static/../grades` and `/%67rades` all land where `/grades` does. Where
//! the canonical form cannot be known (a body that cannot be read, a
//! repeated parameter), matching leans towards the rule: the request is
//! classified as the protected page it might be, never as the page it might
//! not be.

use std::borrow::Cow;

/// A canonical query or form parameter: name and value.
pub type Param = (String, String);

/// One `[[routes]]` entry.
#[derive(Debug, Clone)]
pub struct RouteRule {
    pub class: super::RouteClass,
    /// Upper case; empty means every method. `GET` also covers `HEAD`.
    pub methods: Vec<String>,
    pub paths: Vec<PathPattern>,
    /// Parameters that must all match (for diaries that route by query
    /// string, such as `/Modules.php?modname=Grades/...`).
    pub query: Vec<QueryRule>,
}

/// `name = "pattern"` in a route's `query` table.
#[derive(Debug, Clone)]
pub struct QueryRule {
    /// Canonical name (see [`canonical_name`]).
    pub name: String,
    /// The name as the policy file spells it.
    pub source: String,
    /// The value matches any of these (values are canonicalised as paths).
    pub values: Vec<PathPattern>,
}

/// A request's parameters sent in its body (`application/x-www-form-urlencoded`
/// posts reach `$_REQUEST` in PHP diaries just as the query does).
#[derive(Debug, Clone, Copy)]
pub enum BodyParams<'a> {
    /// No body to consider (a GET, or no rule needs one).
    None,
    /// Parsed by [`form_params`].
    Form(&'a [Param]),
    /// A body that could not be read or parsed (too large, another content
    /// type): it may carry any parameter.
    Unreadable,
}

/// What the classification looks at.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    pub method: &'a str,
    /// The path as received (no query).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: BodyParams<'a>,
}

impl<'a> RouteRequest<'a> {
    /// A request given as `path?query` with no body (tests, `explain`).
    pub fn get(method: &'a str, path_and_query: &'a str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        Self {
            method,
            path,
            query,
            body: BodyParams::None,
        }
    }
}

impl RouteRule {
    pub fn matches_method(&self, method: &str) -> bool {
        self.methods.is_empty()
            || self.methods.iter().any(|m| {
                m.eq_ignore_ascii_case(method)
                    || (m == "GET" && method.eq_ignore_ascii_case("HEAD"))
            })
    }

    pub fn matches_path(&self, canonical: &str) -> bool {
        self.paths.iter().any(|p| p.matches(canonical))
    }

    /// `path?name=value` when the path and every query value are literal
    /// text: a URL a browser can be sent to.
    pub fn literal_href(&self) -> Option<String> {
        let mut href = self
            .paths
            .iter()
            .find_map(PathPattern::literal)?
            .to_string();
        for (i, q) in self.query.iter().enumerate() {
            let value = q.values.iter().find_map(PathPattern::literal)?;
            href.push(if i == 0 { '?' } else { '&' });
            href.extend(url::form_urlencoded::byte_serialize(q.source.as_bytes()));
            href.push('=');
            href.extend(url::form_urlencoded::byte_serialize(
                value.trim_start_matches('/').as_bytes(),
            ));
        }
        Some(href)
    }

    /// Every query condition is met by some value of its parameter, in the
    /// query or in the body; an unreadable body meets them all.
    pub fn matches_params(&self, query: &[Param], body: BodyParams<'_>) -> bool {
        if self.query.is_empty() {
            return true;
        }
        let body_params: &[Param] = match body {
            BodyParams::Unreadable => return true,
            BodyParams::Form(p) => p,
            BodyParams::None => &[],
        };
        self.query.iter().all(|q| {
            query
                .iter()
                .chain(body_params)
                .filter(|(name, _)| *name == q.name)
                .any(|(_, value)| q.values.iter().any(|v| v.matches(value)))
        })
    }
}

/// Lower-case `s` the way the most lenient server would compare it: ASCII
/// directly, other text through upper then lower case, so that `K` (Kelvin
/// sign) and `ſ` (long s) meet `k` and `s` as they do on some servers.
pub fn fold_case(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.to_uppercase().to_lowercase())
    }
}

/// The path as the most lenient diary server understands it: `%XX` decoded
/// once, `\` read as `/`, anything after a NUL dropped, `;params` dropped
/// from segments (servlet containers ignore them), trailing dots and spaces
/// dropped from segments (IIS and Windows do), empty and `.` segments
/// dropped, `..` resolved, no trailing slash, case folded when `fold`.
pub fn canonical_path(raw: &str, fold: bool) -> String {
    let raw = raw.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    canonical_decoded(&decoded, fold)
}

/// [`canonical_path`] of text that is already percent-decoded.
pub fn canonical_decoded(decoded: &str, fold: bool) -> String {
    let decoded = decoded.split('\0').next().unwrap_or_default();
    let decoded: Cow<'_, str> = if decoded.contains('\\') {
        Cow::Owned(decoded.replace('\\', "/"))
    } else {
        Cow::Borrowed(decoded)
    };
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        let seg = seg.split(';').next().unwrap_or_default();
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => {
                let trimmed = s.trim_end_matches(['.', ' ']);
                if !trimmed.is_empty() {
                    segments.push(trimmed);
                }
            }
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    out.push('/');
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(s);
    }
    if !fold {
        return out;
    }
    match fold_case(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(folded) => folded,
    }
}

/// A parameter name as the most lenient server reads it: cut at a NUL,
/// trimmed of leading spaces, PHP's `.` and space read as `_`, an array
/// suffix (`name[]`, `name[x]`) dropped, case folded when `fold`.
pub fn canonical_name(decoded: &str, fold: bool) -> String {
    let name = decoded.split('\0').next().unwrap_or_default();
    let name = name.trim_start_matches(' ');
    let name = name.split('[').next().unwrap_or_default();
    let name: String = name
        .chars()
        .map(|c| if c == '.' || c == ' ' { '_' } else { c })
        .collect();
    if fold {
        fold_case(&name).into_owned()
    } else {
        name
    }
}

/// The parameters of a query string or an urlencoded body, canonical:
/// pairs split at `&` and at `;` (some frameworks split there too), each
/// decoded once (`+` is a space), names by [`canonical_name`], values by
/// [`canonical_decoded`] as if they were paths (`Grades/../Grades/x.php`
/// is `grades/x.php`), without the leading `/`.
pub fn form_params(raw: &[u8], fold: bool) -> Vec<Param> {
    raw.split(|b| *b == b'&' || *b == b';')
        .filter(|pair| !pair.is_empty())
        .flat_map(|pair| url::form_urlencoded::parse(pair).take(1))
        .map(|(name, value)| {
            let value = canonical_decoded(&value, fold);
            (
                canonical_name(&name, fold),
                value.strip_prefix('/').unwrap_or(&value).to_string(),
            )
        })
        .collect()
}

/// A path pattern: literal text, `*` (anything within one segment) and `**`
/// (anything, across segments). Patterns are canonicalised like paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(Vec<u8>),
    Star,
    DoubleStar,
}

impl PathPattern {
    /// Parse a path pattern; the error says what is wrong.
    pub fn parse(pattern: &str, case_insensitive: bool) -> Result<Self, String> {
        if !pattern.starts_with('/') {
            return Err(format!("path pattern `{pattern}` must start with `/`"));
        }
        Self::parse_text(pattern, pattern, case_insensitive, "path pattern")
    }

    /// Parse a query value pattern (`Grades/*`, `grades`): matched against
    /// values canonicalised as paths.
    pub fn parse_value(pattern: &str, case_insensitive: bool) -> Result<Self, String> {
        let rooted = format!("/{}", pattern.trim_start_matches('/'));
        Self::parse_text(pattern, &rooted, case_insensitive, "value pattern")
    }

    fn parse_text(
        source: &str,
        pattern: &str,
        case_insensitive: bool,
        what: &str,
    ) -> Result<Self, String> {
        if let Some(c) = pattern
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '\\' | '%'))
        {
            return Err(format!(
                "{what} `{source}` contains {c:?}: write the decoded text; the path and each query value are matched separately"
            ));
        }
        if pattern.contains("***") {
            return Err(format!(
                "{what} `{source}`: `***` is not a wildcard (use `*` or `**`)"
            ));
        }
        if pattern.split('/').any(|s| s == "." || s == "..") {
            return Err(format!("{what} `{source}` contains a `.` or `..` segment"));
        }
        let norm = canonical_decoded(pattern, case_insensitive);
        let mut tokens = Vec::new();
        let mut lit = Vec::new();
        let bytes = norm.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'*' {
                if !lit.is_empty() {
                    tokens.push(Token::Lit(std::mem::take(&mut lit)));
                }
                if bytes.get(i + 1) == Some(&b'*') {
                    tokens.push(Token::DoubleStar);
                    i += 2;
                } else {
                    tokens.push(Token::Star);
                    i += 1;
                }
            } else {
                lit.push(bytes[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(lit));
        }
        Ok(Self {
            source: source.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern's text when it has no wildcard.
    pub fn literal(&self) -> Option<&str> {
        (self.tokens.len() <= 1 && self.tokens.iter().all(|t| matches!(t, Token::Lit(_))))
            .then_some(self.source.as_str())
    }

    /// Whether a canonical path (or a value, with or without its leading
    /// `/`) matches. `/grades/**` also matches `/grades` itself.
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return self.matches(&format!("/{path}"));
        }
        let p = path.as_bytes();
        // reach[i]: the pattern read so far can end at byte i of the path.
        let mut reach = vec![false; p.len() + 1];
        reach[0] = true;
        for (t_index, t) in self.tokens.iter().enumerate() {
            let mut next = vec![false; p.len() + 1];
            match t {
                Token::Lit(l) => {
                    for i in 0..=p.len() {
                        if reach[i] && p[i..].starts_with(l) {
                            next[i + l.len()] = true;
                        }
                    }
                    // `/grades/**` matches `/grades`: a trailing `/` before a
                    // final `**` is optional.
                    if l.ends_with(b"/")
                        && t_index + 2 == self.tokens.len()
                        && self.tokens.last() == Some(&Token::DoubleStar)
                    {
                        let stem = &l[..l.len() - 1];
                        for i in 0..=p.len() {
                            if reach[i] && i + stem.len() == p.len() && p[i..].starts_with(stem) {
                                next[p.len()] = true;
                            }
                        }
                    }
                }
                Token::Star => {
                    let mut on = false;
                    for i in 0..=p.len() {
                        if reach[i] {
                            on = true;
                        }
                        if on {
                            next[i] = true;
                        }
                        if i < p.len() && p[i] == b'/' {
                            on = false;
                        }
                    }
                }
                Token::DoubleStar => {
                    let mut on = false;
                    for i in 0..=p.len() {
                        on |= reach[i];
                        next[i] = on;
                    }
                }
            }
            reach = next;
        }
        reach[p.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_a_lenient_server_serves_alike_are_one_path() {
        let c = |p| canonical_path(p, true);
        for variant in [
            "/grades",
            "/grades/",
            "//grades?x=1",
            "/%67rades",
            "/Grades",
            "/GRADES",
            "/grades.",
            "/grades%20",
            "/grades. . ",
            "/grades...",
            "/static/../grades",
            "/static%2F..%2Fgrades",
            "/grades;jsessionid=1",
            "\\grades",
            "/grades%00.html",
            "/./grades",
            "/x/.../grades/..%2f../grades",
        ] {
            assert_eq!(c(variant), "/grades", "{variant}");
        }
        assert_eq!(c("/api/Grades/"), "/api/grades");
        assert_eq!(c(""), "/");
        assert_eq!(c("/../.."), "/");
        // Unicode case: the Kelvin sign and long s meet k and s.
        assert_eq!(c("/%E2%84%AAey"), "/key");
        assert_eq!(c("/grade%C5%BF"), "/grades");
        // A policy that opts out keeps the case, not the other rules.
        assert_eq!(canonical_path("/Grades.", false), "/Grades");
    }

    #[test]
    fn parameters_are_read_as_the_most_lenient_server_reads_them() {
        let p = |q: &str| form_params(q.as_bytes(), true);
        assert_eq!(
            p("modname=Grades%2FStudentGrades.php&x=1"),
            vec![
                ("modname".into(), "grades/studentgrades.php".into()),
                ("x".into(), "1".into())
            ]
        );
        assert_eq!(p("ModName=Grades/./x.php")[0].1, "grades/x.php");
        assert_eq!(p("mod.name=a")[0].0, "mod_name");
        assert_eq!(p("modname[]=a")[0].0, "modname");
        assert_eq!(p("a=1;modname=b")[1], ("modname".into(), "b".into()));
        assert_eq!(p("page=grades+")[0].1, "grades");
        assert_eq!(p("page")[0], ("page".into(), String::new()));
        assert!(p("&&").is_empty());
    }

    #[test]
    fn patterns_match_segments_and_subtrees() {
        let p = |s| PathPattern::parse(s, false).unwrap();
        assert!(p("/grades").matches("/grades"));
        assert!(!p("/grades").matches("/grades/x"));
        assert!(p("/grades/").matches("/grades"));
        assert!(p("/grades/**").matches("/grades"));
        assert!(p("/grades/**").matches("/grades/2019/q1"));
        assert!(!p("/grades/**").matches("/gradesx"));
        assert!(p("/api/*/grades").matches("/api/v1/grades"));
        assert!(!p("/api/*/grades").matches("/api/v1/x/grades"));
        assert!(p("/api/**/grades").matches("/api/v1/x/grades"));
        assert!(p("/*.css").matches("/site.css"));
        assert!(!p("/*.css").matches("/a/site.css"));
        assert!(p("/**").matches("/"));
        assert!(p("/**").matches("/anything/at/all"));
        assert!(
            PathPattern::parse("/Grades", true)
                .unwrap()
                .matches("/grades")
        );
        assert!(PathPattern::parse("grades", false).is_err());
        assert!(PathPattern::parse("/grades?x", false).is_err());
        assert!(PathPattern::parse("/grades%20", false).is_err());
        assert!(PathPattern::parse("/a/***", false).is_err());
        assert!(PathPattern::parse("/a/../b", false).is_err());
        let v = PathPattern::parse_value("Grades/*", true).unwrap();
        assert!(v.matches("grades/studentgrades.php"));
        assert!(!v.matches("grades/a/b.php"));
        assert!(!v.matches("students/x.php"));
    }
}
