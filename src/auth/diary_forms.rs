//! Reading what the browser sends the diary, the way the most lenient diary
//! would: its session cookie (to tell a password session from an unknown
//! one) and its login form (to learn whose session it becomes). Where the
//! gateway and the diary could read the same bytes differently — a cookie
//! or a field sent twice, a content type the gateway does not parse — the
//! answer is "ambiguous", and the caller treats it as strictly as it can.
//! Pure functions of their inputs.

use crate::policy::routes::{canonical_name, canonical_path, form_params};

/// The diary's session cookie in a request's `Cookie` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiaryCookie<'a> {
    /// No diary session cookie (or only empty ones).
    Absent,
    One(&'a str),
    /// Sent more than once with different values: the diary may read
    /// either.
    Ambiguous,
}

/// Cookie names compare as a lenient server compares them: percent-decoded,
/// case folded, PHP's `.` and space read as `_`.
pub fn cookie_name_key(name: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(name.trim()).decode_utf8_lossy();
    canonical_name(&decoded, true)
}

/// Find the diary's session cookie `name` in a joined `Cookie` header.
pub fn diary_cookie<'a>(header: &'a str, name: &str) -> DiaryCookie<'a> {
    let want = cookie_name_key(name);
    let mut found: Option<&'a str> = None;
    for pair in header.split(';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        if v.is_empty() || cookie_name_key(k) != want {
            continue;
        }
        match found {
            Some(seen) if seen != v => return DiaryCookie::Ambiguous,
            _ => found = Some(v),
        }
    }
    found.map_or(DiaryCookie::Absent, DiaryCookie::One)
}

/// Why a login form submission is refused instead of passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    /// Not `application/x-www-form-urlencoded`.
    ContentType,
    /// The login or the password field appears more than once (in the body,
    /// the query string, or both, in any spelling a diary folds together).
    Repeated,
    /// Larger than the gateway reads (and than Pingora can replay to the
    /// diary).
    TooLarge,
    /// The body could not be read (the browser went away or stalled).
    Unreadable,
}

impl FormProblem {
    /// Metric label and log word.
    pub fn label(self) -> &'static str {
        match self {
            Self::ContentType => "content_type",
            Self::Repeated => "repeated_field",
            Self::TooLarge => "too_large",
            Self::Unreadable => "unreadable",
        }
    }
}

/// Whether a `Content-Type` is an urlencoded form.
pub fn is_urlencoded(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The login named by a diary login form submission, read strictly: the
/// body must be an urlencoded form, and the login and password fields may
/// appear once at most across the query string and the body. `Ok(None)`:
/// a well-formed submission without a login.
pub fn login_of(
    content_type: Option<&str>,
    query: Option<&str>,
    body: &[u8],
    login_field: &str,
    password_field: &str,
) -> Result<Option<String>, FormProblem> {
    if !is_urlencoded(content_type) {
        return Err(FormProblem::ContentType);
    }
    let (login_key, password_key) = (
        canonical_name(login_field, true),
        canonical_name(password_field, true),
    );
    // Names are compared folded and mangled (so `LOGIN` and `log.in` count
    // as the field on diaries that read them so); values are read raw.
    let raw_pairs = query
        .map(str::as_bytes)
        .into_iter()
        .chain(std::iter::once(body))
        .flat_map(|part| part.split(|b| *b == b'&' || *b == b';'))
        .filter(|pair| !pair.is_empty())
        .flat_map(|pair| url::form_urlencoded::parse(pair).take(1))
        .map(|(k, v)| (canonical_name(&k, true), v.into_owned()));
    let (mut logins, mut passwords) = (Vec::new(), 0usize);
    for (k, v) in raw_pairs {
        if k == login_key {
            logins.push(v);
        } else if k == password_key {
            passwords += 1;
        }
    }
    if logins.len() > 1 || passwords > 1 {
        return Err(FormProblem::Repeated);
    }
    Ok(logins
        .pop()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty()))
}

/// Whether a request is the diary's own logout: `configured` is a path,
/// optionally with a query (`/index.php?modfunc=logout`), whose every
/// parameter the request must carry with the same value.
pub fn is_logout(configured: &str, path: &str, query: Option<&str>) -> bool {
    let (want_path, want_query) = match configured.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (configured, None),
    };
    if canonical_path(path, true) != canonical_path(want_path, true) {
        return false;
    }
    let Some(want) = want_query else {
        return true;
    };
    let have = form_params(query.unwrap_or("").as_bytes(), true);
    form_params(want.as_bytes(), true)
        .iter()
        .all(|w| have.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn the_diary_cookie_is_found_in_any_spelling_and_twice_is_ambiguous() {
        let name = "DIARYSESSID";
        assert_eq!(
            diary_cookie("a=1; DIARYSESSID=abc", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie("diarysessid=abc", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie("%44IARYSESSID=abc", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie(" DIARYSESSID = abc ", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie("DIARYSESSID=\"abc\"", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie("DIARYSESSID=abc; DIARYSESSID=abc", name),
            DiaryCookie::One("abc")
        );
        assert_eq!(
            diary_cookie("DIARYSESSID=abc; diarysessid=xyz", name),
            DiaryCookie::Ambiguous
        );
        assert_eq!(diary_cookie("DIARYSESSID=", name), DiaryCookie::Absent);
        assert_eq!(diary_cookie("other=1", name), DiaryCookie::Absent);
        assert_eq!(diary_cookie("", name), DiaryCookie::Absent);
        assert_eq!(
            diary_cookie("PHP.SESSID=z", "PHP_SESSID"),
            DiaryCookie::One("z")
        );
    }

    #[test]
    fn a_login_form_is_read_once_and_strictly() {
        let ok = |q: Option<&str>, b: &str| login_of(FORM, q, b.as_bytes(), "login", "password");
        assert_eq!(
            ok(None, "login=ivanova.m&password=demo"),
            Ok(Some("ivanova.m".into()))
        );
        assert_eq!(
            ok(None, "login=+ivanova.m+&password=x"),
            Ok(Some("ivanova.m".into()))
        );
        assert_eq!(ok(None, "password=demo"), Ok(None));
        assert_eq!(ok(None, "login=&password=demo"), Ok(None));
        assert_eq!(ok(None, ""), Ok(None));
        // Parameter pollution: whichever value the diary takes, the
        // gateway cannot know it.
        for polluted in [
            "login=ivanova.m&password=demo&login=",
            "login=&login=ivanova.m&password=demo",
            "login=a&LOGIN=b&password=x",
            "login=a&login%00x=b&password=x",
            " login=a&login=b&password=x",
            "login=a&login[]=b&password=x",
            "login=a&password=x&password=y",
            "login=a;login=b&password=x",
            "%6Cogin=a&login=b&password=x",
        ] {
            assert_eq!(ok(None, polluted), Err(FormProblem::Repeated), "{polluted}");
        }
        assert_eq!(
            ok(Some("login=orlova.t"), "login=petrov.teacher&password=demo"),
            Err(FormProblem::Repeated)
        );
        assert_eq!(ok(Some("login=a&password=b"), ""), Ok(Some("a".into())));
        for ct in [
            None,
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/json"),
        ] {
            assert_eq!(
                login_of(ct, None, b"login=a&password=b", "login", "password"),
                Err(FormProblem::ContentType),
                "{ct:?}"
            );
        }
        assert_eq!(
            login_of(
                Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
                None,
                b"USERNAME=a&PASSWORD=b",
                "USERNAME",
                "PASSWORD"
            ),
            Ok(Some("a".into()))
        );
    }

    #[test]
    fn the_diarys_logout_is_recognised_with_or_without_a_query() {
        assert!(is_logout("/logout", "/logout", None));
        assert!(is_logout("/logout", "/Logout/", Some("x=1")));
        assert!(!is_logout("/logout", "/logoutx", None));
        let php = "/index.php?modfunc=logout";
        assert!(is_logout(php, "/index.php", Some("modfunc=logout")));
        assert!(is_logout(php, "/INDEX.php", Some("a=1&modfunc=Logout")));
        assert!(!is_logout(php, "/index.php", None));
        assert!(!is_logout(php, "/index.php", Some("modfunc=login")));
    }
}
