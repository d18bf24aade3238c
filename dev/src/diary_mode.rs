//! How the sample diary's platform reads a request. Real diaries run on
//! platforms that read paths, methods, form fields and cookies more loosely
//! than the gateway might expect, and attackers use the difference; the
//! gateway's adversarial tests run every probe against each mode:
//!
//! - `normal`: strict, as the diary always was (exact paths and methods,
//!   the first form value, exact cookie names);
//! - `iis`: like an ASP.NET diary on IIS;
//! - `php`: like a PHP diary (RosarioSIS-style `index.php?page=` routes).
//!
//! Everything here is a pure function of the request's parts; the diary's
//! handlers call it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

/// The diary's platform (`mode` in its configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiaryMode {
    /// Exact paths and methods, the first form value, exact cookie names.
    #[default]
    Normal,
    /// An ASP.NET diary on IIS: paths in any case with trailing dots and
    /// spaces trimmed, any method served as GET, method-override headers,
    /// the first form value with names in any case, the query string read
    /// before the body, cookie names in any case.
    Iis,
    /// A PHP diary: `index.php?page=` routes, the last form value, PHP's
    /// field-name mangling and arrays, `$_REQUEST` (body over query),
    /// percent-decoded cookie values.
    Php,
}

impl DiaryMode {
    pub const ALL: [DiaryMode; 3] = [DiaryMode::Normal, DiaryMode::Iis, DiaryMode::Php];

    pub fn as_str(self) -> &'static str {
        match self {
            DiaryMode::Normal => "normal",
            DiaryMode::Iis => "iis",
            DiaryMode::Php => "php",
        }
    }
}

impl fmt::Display for DiaryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DiaryMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DiaryMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown diary mode `{s}` (normal, iis or php)"))
    }
}

// ---------------------------------------------------------------------------
// Paths and methods

impl DiaryMode {
    /// The path the diary routes on, from the path as sent.
    ///
    /// IIS: percent-decoded once, `\` read as `/`, `.` and `..` segments
    /// resolved, trailing dots and spaces trimmed from every segment, empty
    /// segments dropped, letters folded to lower case the way Windows
    /// compares names (through the invariant upper case, so `ſ` is `s` and
    /// `ı` is `i`). Normal and PHP: the path as sent.
    pub fn route_path(self, raw: &str) -> Cow<'_, str> {
        match self {
            DiaryMode::Normal | DiaryMode::Php => Cow::Borrowed(raw),
            DiaryMode::Iis => Cow::Owned(iis_path(raw)),
        }
    }

    /// The method the diary's routes see, given the path [`route_path`]
    /// made.
    ///
    /// IIS: a POST may name another method in `X-HTTP-Method-Override`,
    /// `X-HTTP-Method` or `X-Method-Override` (the first present, as
    /// ASP.NET honours them, on POST only); then only a POST to `/login` is
    /// a POST, HEAD stays HEAD (the GET handler answers it without a body),
    /// and every other method is served as GET. Normal and PHP: unchanged.
    ///
    /// [`route_path`]: DiaryMode::route_path
    pub fn route_method(self, method: &Method, headers: &HeaderMap, route_path: &str) -> Method {
        if self != DiaryMode::Iis {
            return method.clone();
        }
        let wanted = match method_override(headers) {
            Some(m) if method == Method::POST => m,
            _ => method.clone(),
        };
        if wanted == Method::POST && route_path == "/login" {
            Method::POST
        } else if method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        }
    }
}

/// The headers ASP.NET reads a tunnelled method from, in the order it does.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

fn method_override(headers: &HeaderMap) -> Option<Method> {
    METHOD_OVERRIDE_HEADERS.iter().find_map(|name| {
        let v = headers.get(*name)?.to_str().ok()?.trim();
        Method::from_bytes(v.to_ascii_uppercase().as_bytes()).ok()
    })
}

/// A character as Windows and .NET compare names: its simple (one
/// character) invariant upper case.
fn upper_invariant(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Equal names for ASP.NET (`StringComparer.OrdinalIgnoreCase`).
fn iis_name_eq(a: &str, b: &str) -> bool {
    a.chars()
        .map(upper_invariant)
        .eq(b.chars().map(upper_invariant))
}

fn iis_path(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => {
                let s = s.trim_end_matches(['.', ' ']);
                if !s.is_empty() {
                    segments.push(
                        s.chars()
                            .map(|c| match upper_invariant(c) {
                                u if u.is_ascii() => u.to_ascii_lowercase(),
                                _ => c,
                            })
                            .collect(),
                    );
                }
            }
        }
    }
    format!("/{}", segments.join("/"))
}

// ---------------------------------------------------------------------------
// Form fields

/// One request field as the diary's script sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Absent,
    Text(String),
    /// PHP made an array of it (`name[]=` or `name[key]=`).
    Array,
}

impl Field {
    /// The text, or `None` when absent or an array.
    pub fn text(&self) -> Option<&str> {
        match self {
            Field::Text(s) => Some(s),
            Field::Absent | Field::Array => None,
        }
    }
}

impl DiaryMode {
    /// Field `name` of a request with this query string and form body (give
    /// an empty body when the request has none).
    ///
    /// - Normal: the body only, the first value, the exact name (as axum's
    ///   `Form` reads it).
    /// - IIS: ASP.NET's `Request[name]`: the query string first, then the
    ///   body; in each the first value of a name equal in any case.
    /// - PHP: `$_REQUEST` with `request_order = "GP"`: the body's value
    ///   over the query's; in each the last value wins, names mangled as PHP
    ///   does (leading spaces dropped, `.` and space made `_`, cut at a NUL)
    ///   and `name[]` or `name[key]` makes an array.
    pub fn field(self, name: &str, query: &str, body: &[u8]) -> Field {
        let text = |v: Option<String>| v.map_or(Field::Absent, Field::Text);
        match self {
            DiaryMode::Normal => text(super::html::form_map(body).remove(name)),
            DiaryMode::Iis => {
                let first = |raw: &[u8]| {
                    url::form_urlencoded::parse(raw)
                        .find(|(k, _)| iis_name_eq(k, name))
                        .map(|(_, v)| v.into_owned())
                };
                text(first(query.as_bytes()).or_else(|| first(body)))
            }
            DiaryMode::Php => {
                let mut vars = php_vars(query.as_bytes());
                vars.extend(php_vars(body));
                vars.remove(name).unwrap_or(Field::Absent)
            }
        }
    }
}

/// A PHP variable name from a decoded field name: its name and whether it
/// is an array, or `None` when PHP drops it (an empty name).
fn php_name(raw: &str) -> Option<(String, bool)> {
    // PHP reads the name as a C string.
    let raw = raw.split('\0').next().unwrap_or_default();
    let raw = raw.trim_start_matches(' ');
    let mut name = String::with_capacity(raw.len());
    let mut array = false;
    for (i, c) in raw.char_indices() {
        match c {
            ' ' | '.' => name.push('_'),
            '[' => {
                if raw[i..].contains(']') {
                    array = true;
                } else {
                    // Not an index after all: the bracket becomes `_` and
                    // the rest is kept as it is.
                    name.push('_');
                    name.push_str(&raw[i + 1..]);
                }
                break;
            }
            c => name.push(c),
        }
    }
    (!name.is_empty()).then_some((name, array))
}

/// `$_GET` or `$_POST` from a query string or form body.
fn php_vars(raw: &[u8]) -> HashMap<String, Field> {
    let mut vars = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if let Some((name, array)) = php_name(&k) {
            let value = if array {
                Field::Array
            } else {
                Field::Text(v.into_owned())
            };
            vars.insert(name, value);
        }
    }
    vars
}

// ---------------------------------------------------------------------------
// Cookies

impl DiaryMode {
    /// The value of cookie `name` among a request's cookies (names and raw
    /// values, in the order sent); the first of a name wins in every mode.
    ///
    /// Normal: the exact name, the value as sent. IIS: the name in any case
    /// (ASP.NET's `Request.Cookies`). PHP: the exact name, the value
    /// percent-decoded (`+` stays `+`, as `$_COOKIE` reads it).
    pub fn cookie(self, cookies: &[(String, String)], name: &str) -> Option<String> {
        let (_, value) = cookies.iter().find(|(n, _)| match self {
            DiaryMode::Normal | DiaryMode::Php => n == name,
            DiaryMode::Iis => iis_name_eq(n, name),
        })?;
        Some(match self {
            DiaryMode::Php => percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned(),
            DiaryMode::Normal | DiaryMode::Iis => value.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    use DiaryMode::{Iis, Normal, Php};

    fn method(s: &str) -> Method {
        Method::from_bytes(s.as_bytes()).expect("method")
    }

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    fn with_header(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    /// Where a request lands: the method and path the routes see.
    fn lands(mode: DiaryMode, m: &str, path: &str, headers: &HeaderMap) -> (Method, String) {
        let p = mode.route_path(path).into_owned();
        (mode.route_method(&method(m), headers, &p), p)
    }

    fn text(s: &str) -> Field {
        Field::Text(s.to_string())
    }

    #[test]
    fn the_mode_is_read_from_its_name_and_unknown_names_are_refused() {
        for m in DiaryMode::ALL {
            assert_eq!(m.as_str().parse::<DiaryMode>(), Ok(m));
        }
        assert!("IIS".parse::<DiaryMode>().is_err());
        assert!("asp".parse::<DiaryMode>().is_err());
        assert_eq!(DiaryMode::default(), Normal);
    }

    #[test]
    fn an_iis_diary_serves_grades_in_any_case() {
        for p in ["/Grades", "/GRADES", "/gRaDeS"] {
            assert_eq!(Iis.route_path(p), "/grades", "{p}");
        }
        assert_eq!(Iis.route_path("/api/Grades"), "/api/grades");
        assert_eq!(Iis.route_path("/API/GRADES"), "/api/grades");
    }

    #[test]
    fn an_iis_diary_trims_trailing_dots_and_spaces_from_each_segment() {
        for p in [
            "/grades.",
            "/grades%20",
            "/grades.%20.%20",
            "/grades...",
            "/grades%2e",
            "/grades/",
            "//grades",
        ] {
            assert_eq!(Iis.route_path(p), "/grades", "{p}");
        }
        assert_eq!(Iis.route_path("/api. /grades. "), "/api/grades");
    }

    #[test]
    fn an_iis_diary_decodes_once_and_resolves_dot_segments() {
        assert_eq!(Iis.route_path("/%67rades"), "/grades");
        assert_eq!(Iis.route_path("/api%2Fgrades"), "/api/grades");
        assert_eq!(Iis.route_path("/api%5Cgrades"), "/api/grades");
        assert_eq!(Iis.route_path("/api\\grades"), "/api/grades");
        assert_eq!(Iis.route_path("/x/../grades"), "/grades");
        assert_eq!(Iis.route_path("/./grades"), "/grades");
        assert_eq!(Iis.route_path("/x/%2e%2e/grades"), "/grades");
        // Once only: a doubly encoded dot stays a percent sign.
        assert_eq!(Iis.route_path("/grades%252e"), "/grades%2e");
        assert_eq!(Iis.route_path(""), "/");
        assert_eq!(Iis.route_path("/.."), "/");
    }

    #[test]
    fn an_iis_diary_folds_case_as_windows_does() {
        // ſ (long s) and ı (dotless i) are S and I in the invariant upper case.
        assert_eq!(Iis.route_path("/grade%C5%BF"), "/grades");
        assert_eq!(Iis.route_path("/log%C4%B1n"), "/login");
        // Other letters keep their case.
        assert_eq!(Iis.route_path("/%D0%94%D0%B0"), "/Да");
    }

    #[test]
    fn a_normal_and_a_php_diary_route_the_path_as_sent() {
        for mode in [Normal, Php] {
            for p in ["/GRADES", "/grades.", "/grades%20", "/x/../grades"] {
                assert_eq!(mode.route_path(p), p, "{mode} {p}");
            }
        }
    }

    #[test]
    fn an_iis_diary_serves_grades_dot_to_any_method() {
        for m in [
            "GET", "POST", "PUT", "OPTIONS", "PROPFIND", "DELETE", "PATCH",
        ] {
            assert_eq!(
                lands(Iis, m, "/GRADES.", &no_headers()),
                (Method::GET, "/grades".to_string()),
                "{m}"
            );
        }
        assert_eq!(
            lands(Iis, "HEAD", "/grades", &no_headers()).0,
            Method::HEAD,
            "HEAD stays HEAD: the GET handler answers it without a body"
        );
    }

    #[test]
    fn an_iis_diary_takes_a_post_to_login_in_any_case_as_the_login() {
        for p in ["/login", "/LOGIN", "/Login.", "/login%20"] {
            assert_eq!(
                lands(Iis, "POST", p, &no_headers()),
                (Method::POST, "/login".to_string()),
                "{p}"
            );
        }
        for m in ["PUT", "PROPFIND", "GET"] {
            assert_eq!(lands(Iis, m, "/login", &no_headers()).0, Method::GET, "{m}");
        }
    }

    #[test]
    fn an_iis_diary_honours_method_override_headers_on_a_post() {
        for name in METHOD_OVERRIDE_HEADERS {
            let h = with_header(name, "GET");
            assert_eq!(lands(Iis, "POST", "/login", &h).0, Method::GET, "{name}");
        }
        let h = with_header("x-http-method-override", "post");
        assert_eq!(lands(Iis, "POST", "/login", &h).0, Method::POST);
        let h = with_header("x-http-method-override", "PUT");
        assert_eq!(lands(Iis, "POST", "/login", &h).0, Method::GET);
        // The first header in ASP.NET's order wins.
        let mut h = with_header("x-http-method-override", "POST");
        h.insert("x-http-method", HeaderValue::from_static("GET"));
        assert_eq!(lands(Iis, "POST", "/login", &h).0, Method::POST);
        // Only a POST is overridden: a GET never becomes the login.
        let h = with_header("x-http-method-override", "POST");
        assert_eq!(lands(Iis, "GET", "/login", &h).0, Method::GET);
        assert_eq!(lands(Iis, "PUT", "/login", &h).0, Method::GET);
    }

    #[test]
    fn a_normal_and_a_php_diary_keep_the_method_and_ignore_overrides() {
        let h = with_header("x-http-method-override", "GET");
        for mode in [Normal, Php] {
            for m in ["POST", "PROPFIND", "DELETE"] {
                assert_eq!(lands(mode, m, "/grades", &h).0, method(m), "{mode} {m}");
            }
        }
    }

    #[test]
    fn a_normal_diary_reads_the_first_body_field_by_its_exact_name() {
        let body = b"login=ivanova.m&password=demo&login=";
        assert_eq!(Normal.field("login", "", body), text("ivanova.m"));
        assert_eq!(Normal.field("login", "", b"LOGIN=x"), Field::Absent);
        assert_eq!(
            Normal.field("login", "login=x", b"password=demo"),
            Field::Absent
        );
        assert_eq!(Normal.field("login", "", b"login[]=x"), Field::Absent);
    }

    #[test]
    fn an_iis_diary_takes_the_first_login_field() {
        let body = b"login=ivanova.m&password=demo&login=";
        assert_eq!(Iis.field("login", "", body), text("ivanova.m"));
    }

    #[test]
    fn an_iis_diary_reads_field_names_in_any_case() {
        let body = b"LOGIN=ivanova.m&Password=demo";
        assert_eq!(Iis.field("login", "", body), text("ivanova.m"));
        assert_eq!(Iis.field("password", "", body), text("demo"));
        assert_eq!(Iis.field("login", "", b"log%C4%B1n=x"), text("x"));
    }

    #[test]
    fn an_iis_diary_reads_the_query_string_before_the_body() {
        let body = b"login=ivanova.m&password=demo";
        assert_eq!(
            Iis.field("login", "login=petrov.teacher", body),
            text("petrov.teacher")
        );
        // Present but empty in the query still wins.
        assert_eq!(Iis.field("login", "Login=", body), text(""));
        assert_eq!(Iis.field("password", "login=x", body), text("demo"));
    }

    #[test]
    fn a_php_diary_takes_the_last_login_field() {
        let body = b"login=ivanova.m&password=demo&login=";
        assert_eq!(Php.field("login", "", body), text(""));
        assert_eq!(
            Php.field("login", "", b"login=x&login=ivanova.m"),
            text("ivanova.m")
        );
    }

    #[test]
    fn a_php_diary_mangles_field_names() {
        assert_eq!(Php.field("log_in", "", b"log.in=x"), text("x"));
        assert_eq!(Php.field("log_in", "", b"log+in=x"), text("x"));
        assert_eq!(Php.field("log_in", "", b"log%20in=x"), text("x"));
        assert_eq!(Php.field("login", "", b"+login=x"), text("x"));
        assert_eq!(Php.field("login", "", b"login%00junk=x"), text("x"));
        assert_eq!(Php.field("login_x", "", b"login[x=y"), text("y"));
        assert_eq!(Php.field("login", "", b"LOGIN=x"), Field::Absent);
        assert_eq!(Php.field("login.", "", b"login.=x"), Field::Absent);
    }

    #[test]
    fn a_php_diary_makes_an_array_of_a_bracketed_field() {
        for body in [
            &b"login[]=ivanova.m&password=demo"[..],
            b"login[0]=ivanova.m",
            b"login=ivanova.m&login[x]=y",
            b"login%5B%5D=ivanova.m",
        ] {
            let f = Php.field("login", "", body);
            assert_eq!(f, Field::Array, "{}", String::from_utf8_lossy(body));
            assert_eq!(f.text(), None);
        }
        // A later plain field overwrites the array.
        assert_eq!(Php.field("login", "", b"login[]=x&login=y"), text("y"));
    }

    #[test]
    fn a_php_diary_reads_request_with_the_body_over_the_query() {
        assert_eq!(
            Php.field("login", "login=ivanova.m", b"password=demo"),
            text("ivanova.m")
        );
        assert_eq!(
            Php.field("login", "login=petrov.teacher", b"login=ivanova.m"),
            text("ivanova.m")
        );
        assert_eq!(Php.field("page", "page=x&page=grades", b""), text("grades"));
        assert_eq!(Php.field("login", "login[]=x", b""), Field::Array);
    }

    fn jar(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_iis_diary_reads_cookie_names_in_any_case() {
        let c = jar(&[("diarysessid", "abc"), ("DIARYSESSID", "def")]);
        assert_eq!(Iis.cookie(&c, "DIARYSESSID").as_deref(), Some("abc"));
        assert_eq!(Normal.cookie(&c, "DIARYSESSID").as_deref(), Some("def"));
        assert_eq!(Php.cookie(&c, "DIARYSESSID").as_deref(), Some("def"));
        assert_eq!(Normal.cookie(&c[..1], "DIARYSESSID"), None);
    }

    #[test]
    fn a_php_diary_percent_decodes_cookie_values() {
        let c = jar(&[("DIARYSESSID", "ab%63+d")]);
        assert_eq!(Php.cookie(&c, "DIARYSESSID").as_deref(), Some("abc+d"));
        assert_eq!(Normal.cookie(&c, "DIARYSESSID").as_deref(), Some("ab%63+d"));
        assert_eq!(Iis.cookie(&c, "DIARYSESSID").as_deref(), Some("ab%63+d"));
    }

    #[test]
    fn the_first_cookie_of_a_name_wins_in_every_mode() {
        let c = jar(&[("DIARYSESSID", "first"), ("DIARYSESSID", "second")]);
        for mode in DiaryMode::ALL {
            assert_eq!(mode.cookie(&c, "DIARYSESSID").as_deref(), Some("first"));
        }
    }
}
