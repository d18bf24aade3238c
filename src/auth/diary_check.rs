//! Checking a diary login and password against the diary's own login form,
//! as a browser would: fetch the login page first and keep what it hands
//! out (its cookies, the form's hidden inputs such as a CSRF token), post
//! the login and password with them, and, for a redirect rule, follow the
//! redirects to the page the browser would land on. Every check has a
//! cookie jar of its own, dropped when it ends. The password is sent once
//! and never kept or logged.

use std::time::Duration;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use super::login_page;
use crate::config::Resolved;
use crate::config::linking::SuccessRule;

/// How many redirects a check follows after the login, as a browser
/// would (browsers allow about 20; a login lands in two or three).
const MAX_REDIRECTS: usize = 5;

/// The most of a login page that is read for its form.
const PAGE_LIMIT: usize = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Valid,
    Invalid,
}

#[derive(Debug, thiserror::Error)]
#[error("the diary's login form is unreachable: {0}")]
pub struct Unreachable(pub String);

/// Did the diary's answer mean "logged in"? A pure function of the answer;
/// `request_path` is the form's path, against which a relative `Location`
/// (`grades`, `../index.php?x=1`) is read as a browser reads it.
pub fn login_succeeded(
    rule: &SuccessRule,
    status: u16,
    location: Option<&str>,
    request_path: &str,
    set_cookies: &[String],
) -> bool {
    match rule {
        SuccessRule::Status(s) => status == *s,
        SuccessRule::RedirectTo(target) => {
            (300..400).contains(&status)
                && location.is_some_and(|l| redirects_to(target, l, request_path))
        }
        SuccessRule::Cookie(name) => set_cookies.iter().any(|c| {
            let first = c.split(';').next().unwrap_or("");
            first
                .split_once('=')
                .is_some_and(|(k, v)| k.trim() == name && !v.trim().is_empty())
        }),
    }
}

/// Whether `location` (absolute or relative to `request_path`) goes to
/// `target`: its path starts with the target's path, and it carries every
/// parameter of the target's query (`/index.php?modfunc=ok`).
fn redirects_to(target: &str, location: &str, request_path: &str) -> bool {
    let Ok(base) = url::Url::parse("http://diary.invalid/").and_then(|b| b.join(request_path))
    else {
        return false;
    };
    let Ok(to) = base.join(location.trim()) else {
        return false;
    };
    let (want_path, want_query) = target.split_once('?').unwrap_or((target, ""));
    if !to.path().starts_with(want_path) {
        return false;
    }
    let have: Vec<(String, String)> = to.query_pairs().into_owned().collect();
    url::form_urlencoded::parse(want_query.as_bytes())
        .into_owned()
        .all(|w| have.contains(&w))
}

/// One answer on a redirect walk: where it came from and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub url: Url,
    pub status: u16,
    pub location: Option<String>,
}

/// Did the login succeed, judged on the whole walk a browser made after
/// posting the form (`walk[0]` is the answer to the post)? For a redirect
/// rule: some answer redirected to the target, and the browser did not end
/// up back on the login page or form (a diary that sends every attempt to
/// its start page, which then sends a stranger back to the login form,
/// does not pass). Other rules judge the answer to the post alone.
pub fn walk_succeeded(
    rule: &SuccessRule,
    walk: &[Hop],
    set_cookies: &[String],
    login_pages: &[&Url],
) -> bool {
    let Some(first) = walk.first() else {
        return false;
    };
    let SuccessRule::RedirectTo(target) = rule else {
        return login_succeeded(
            rule,
            first.status,
            first.location.as_deref(),
            first.url.path(),
            set_cookies,
        );
    };
    let redirected = walk
        .iter()
        .any(|h| login_succeeded(rule, h.status, h.location.as_deref(), h.url.path(), &[]));
    // Where the browser is at the end: the last answer's own address, or
    // the redirect it was not followed to.
    let Some(last) = walk.last() else {
        return false;
    };
    let landed = match &last.location {
        Some(l) if (300..400).contains(&last.status) => last.url.join(l.trim()).ok(),
        _ => Some(last.url.clone()),
    };
    let Some(landed) = landed else {
        return false;
    };
    let on_target = redirects_to(target, landed.as_str(), "/");
    // The login page itself, whatever else its query says (`/login?error=1`).
    let back_at_login = login_pages.iter().any(|p| {
        let have: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
        landed.path() == p.path() && p.query_pairs().into_owned().all(|w| have.contains(&w))
    });
    redirected && (on_target || !back_at_login)
}

/// A redirect a browser would follow with a GET: 301, 302, 303 to the same
/// origin (a login's cookies stay with the diary). 307 and 308 would
/// repeat the post, password included: not followed.
fn next_hop(from: &Url, status: u16, location: Option<&str>) -> Option<Url> {
    if !matches!(status, 301..=303) {
        return None;
    }
    let to = from.join(location?.trim()).ok()?;
    (to.origin() == from.origin()).then_some(to)
}

/// A page's text, decoded by the charset its `Content-Type` names (UTF-8
/// when none), at most [`PAGE_LIMIT`] bytes of it.
async fn page_text(mut resp: reqwest::Response) -> Result<String, reqwest::Error> {
    let charset = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        });
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= PAGE_LIMIT {
            bytes.truncate(PAGE_LIMIT);
            break;
        }
    }
    let encoding = charset
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    Ok(encoding.decode(&bytes).0.into_owned())
}

fn unreachable(e: reqwest::Error) -> Unreachable {
    Unreachable(e.without_url().to_string())
}

pub struct DiaryChecker {
    http: reqwest::Client,
    /// The form's action: where the login is posted.
    url: Url,
    /// The login page fetched first, if any.
    page_url: Option<Url>,
    login_field: String,
    password_field: String,
    rule: SuccessRule,
}

impl DiaryChecker {
    /// The checker `[diary_login]` asks for, on the diary's origin; `None`
    /// when linking is off (or its client cannot be built, which is logged).
    pub fn from_settings(cfg: &Resolved) -> Option<Self> {
        let (d, rule) = cfg
            .settings
            .diary_login
            .as_ref()
            .zip(cfg.success_rule.as_ref())?;
        let join = |u: &str| cfg.upstream_url.join(u);
        let trust = cfg
            .trust(crate::config::tls::Client::DiaryLogin)
            .map_err(|e| e.to_string());
        let built = join(&d.url).map_err(|e| e.to_string()).and_then(|url| {
            let page_url = match (&d.page_url, d.fetch_page) {
                (_, false) => None,
                (None, true) => Some(url.clone()),
                (Some(p), true) => Some(join(p).map_err(|e| e.to_string())?),
            };
            Self::new(
                url,
                page_url,
                d.login_field.clone(),
                d.password_field.clone(),
                rule.clone(),
                Duration::from_secs(d.timeout_seconds),
                &trust?,
            )
        });
        built
            .map_err(|e| tracing::error!(error = %e, "manual linking disabled"))
            .ok()
    }

    pub fn new(
        url: Url,
        page_url: Option<Url>,
        login_field: String,
        password_field: String,
        rule: SuccessRule,
        timeout: Duration,
        trust: &crate::config::tls::Trust,
    ) -> Result<Self, String> {
        // Redirects and cookies are handled here, per check: the client
        // follows none and keeps none.
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(trust.client_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            url,
            page_url,
            login_field,
            password_field,
            rule,
        })
    }

    /// GET `url` with the jar's cookies, keeping the ones it sets.
    async fn get(&self, jar: &Jar, url: &Url) -> Result<reqwest::Response, Unreachable> {
        let mut req = self.http.get(url.clone());
        if let Some(c) = jar.cookies(url) {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.map_err(unreachable)?;
        jar.set_cookies(&mut resp.headers().get_all(SET_COOKIE).iter(), url);
        Ok(resp)
    }

    /// The login page, as a browser opens it: its cookies go into `jar`
    /// (redirects followed), and the login form's hidden inputs come back.
    async fn open_page(&self, jar: &Jar, page: &Url) -> Result<Vec<(String, String)>, Unreachable> {
        let mut at = page.clone();
        let mut resp = self.get(jar, &at).await?;
        for _ in 0..MAX_REDIRECTS {
            let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            let Some(next) = next_hop(&at, resp.status().as_u16(), location) else {
                break;
            };
            at = next;
            resp = self.get(jar, &at).await?;
        }
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            // A wrong page_url, or a diary in trouble: not the person's
            // wrong password.
            return Err(Unreachable(format!(
                "the login page answered HTTP {status}"
            )));
        }
        let text = page_text(resp).await.map_err(unreachable)?;
        Ok(
            match login_page::hidden_fields(&text, &self.login_field, &self.password_field) {
                Some(hidden) => hidden,
                None => {
                    tracing::warn!(
                        page = %at.path(),
                        "the diary's login page has no login form; posting without its hidden fields"
                    );
                    Vec::new()
                }
            },
        )
    }

    pub async fn check(&self, login: &str, password: &str) -> Result<Checked, Unreachable> {
        // This check's own cookies: never shared with another check.
        let jar = Jar::default();
        let hidden = match &self.page_url {
            Some(page) => self.open_page(&jar, page).await?,
            None => Vec::new(),
        };
        let mut form: Vec<(&str, &str)> = hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push((self.login_field.as_str(), login));
        form.push((self.password_field.as_str(), password));
        let mut req = self.http.post(self.url.clone()).form(&form);
        if let Some(c) = jar.cookies(&self.url) {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        if status >= 500 {
            return Err(Unreachable(format!("HTTP {status}")));
        }
        let cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        jar.set_cookies(&mut resp.headers().get_all(SET_COOKIE).iter(), &self.url);
        let location = |r: &reqwest::Response| {
            r.headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut walk = vec![Hop {
            url: self.url.clone(),
            status,
            location: location(&resp),
        }];
        // Only a redirect rule needs the page the browser lands on.
        if matches!(self.rule, SuccessRule::RedirectTo(_)) {
            while walk.len() <= MAX_REDIRECTS {
                let Some(last) = walk.last() else { break };
                let Some(next) = next_hop(&last.url, last.status, last.location.as_deref()) else {
                    break;
                };
                let resp = self.get(&jar, &next).await?;
                let status = resp.status().as_u16();
                if status >= 500 {
                    return Err(Unreachable(format!("HTTP {status} after the login")));
                }
                walk.push(Hop {
                    location: location(&resp),
                    url: next,
                    status,
                });
            }
        }
        let login_pages: Vec<&Url> = [Some(&self.url), self.page_url.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        Ok(
            if walk_succeeded(&self.rule, &walk, &cookies, &login_pages) {
                Checked::Valid
            } else {
                Checked::Invalid
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_success_rule_reads_the_answer() {
        let r = SuccessRule::RedirectTo("/grades".into());
        let ok = |r: &SuccessRule, status, loc| login_succeeded(r, status, loc, "/login", &[]);
        assert!(ok(&r, 302, Some("/grades")));
        assert!(ok(&r, 303, Some("http://d/grades?x=1")));
        assert!(!ok(&r, 302, Some("/login?error=1")));
        assert!(!ok(&r, 200, None));
        // Relative targets are read as a browser reads them.
        assert!(ok(&r, 302, Some("grades")));
        assert!(ok(&r, 302, Some("./grades/")));
        assert!(!ok(&r, 302, Some("login?error=1")));
        assert!(login_succeeded(
            &r,
            302,
            Some("../grades"),
            "/app/login",
            &[]
        ));
        // A target with a query needs its parameters.
        let q = SuccessRule::RedirectTo("/Modules.php?modfunc=ok".into());
        assert!(ok(&q, 302, Some("Modules.php?x=1&modfunc=ok")));
        assert!(!ok(&q, 302, Some("Modules.php?modfunc=fail")));
        let c = SuccessRule::Cookie("SID".into());
        assert!(login_succeeded(
            &c,
            200,
            None,
            "/login",
            &["SID=abc; Path=/".into()]
        ));
        assert!(!login_succeeded(
            &c,
            200,
            None,
            "/login",
            &["SID=; Max-Age=0".into()]
        ));
        assert!(ok(&SuccessRule::Status(204), 204, None));
    }

    fn hop(url: &str, status: u16, location: Option<&str>) -> Hop {
        Hop {
            url: Url::parse(url).expect("url"),
            status,
            location: location.map(str::to_string),
        }
    }

    #[test]
    fn a_redirect_rule_judges_where_the_browser_lands() {
        let login = Url::parse("http://d/login").expect("url");
        let pages = [&login];
        let r = SuccessRule::RedirectTo("/grades".into());
        let judge = |walk: &[Hop]| walk_succeeded(&r, walk, &[], &pages);
        // Straight to the grades, relative or not.
        assert!(judge(&[
            hop("http://d/login", 302, Some("grades?welcome=1")),
            hop("http://d/grades?welcome=1", 200, None),
        ]));
        // Through the grades on to a page of their own.
        assert!(judge(&[
            hop("http://d/login", 303, Some("/grades")),
            hop("http://d/grades", 302, Some("/grades/term/1")),
            hop("http://d/grades/term/1", 200, None),
        ]));
        // A diary that sends every attempt to the grades, which send a
        // stranger back to the login form.
        assert!(!judge(&[
            hop("http://d/login", 302, Some("/grades")),
            hop("http://d/grades", 302, Some("/login?from=%2Fgrades")),
            hop("http://d/login?from=%2Fgrades", 200, None),
        ]));
        // The form again, or a redirect elsewhere.
        assert!(!judge(&[hop("http://d/login", 200, None)]));
        assert!(!judge(&[
            hop("http://d/login", 302, Some("/login?error=1")),
            hop("http://d/login?error=1", 200, None),
        ]));
        // Not followed (another origin, or the limit): judged by the
        // redirect itself.
        assert!(judge(&[hop(
            "http://d/login",
            302,
            Some("http://d/grades")
        )]));
        // A login page with a query is only that page.
        let php = Url::parse("http://d/index.php?page=login").expect("url");
        let q = SuccessRule::RedirectTo("/index.php?page=home".into());
        let walk = [
            hop(
                "http://d/index.php?page=login",
                302,
                Some("index.php?page=home"),
            ),
            hop(
                "http://d/index.php?page=home",
                302,
                Some("index.php?page=grades"),
            ),
            hop("http://d/index.php?page=grades", 200, None),
        ];
        assert!(walk_succeeded(&q, &walk, &[], &[&php]));
    }

    #[test]
    fn status_and_cookie_rules_judge_the_answer_to_the_post() {
        let c = SuccessRule::Cookie("SID".into());
        let walk = [hop("http://d/login", 302, Some("/"))];
        assert!(walk_succeeded(&c, &walk, &["SID=1; Path=/".into()], &[]));
        assert!(!walk_succeeded(&c, &walk, &[], &[]));
        assert!(walk_succeeded(&SuccessRule::Status(302), &walk, &[], &[]));
        assert!(!walk_succeeded(&SuccessRule::Status(200), &walk, &[], &[]));
    }

    #[test]
    fn only_a_get_to_the_same_origin_is_followed() {
        let from = Url::parse("http://d/app/login").expect("url");
        assert_eq!(
            next_hop(&from, 302, Some("../grades?x=1")).map(|u| u.to_string()),
            Some("http://d/grades?x=1".into())
        );
        assert_eq!(next_hop(&from, 302, Some("https://sso.example/")), None);
        assert_eq!(next_hop(&from, 307, Some("/grades")), None);
        assert_eq!(next_hop(&from, 200, Some("/grades")), None);
        assert_eq!(next_hop(&from, 302, None), None);
    }
}
