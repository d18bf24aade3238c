//! Checking a diary login and password against the diary's own login form,
//! as the diary itself would: the password is sent once and never kept.

use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};

use crate::config::Resolved;
use crate::config::linking::SuccessRule;

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

pub struct DiaryChecker {
    http: reqwest::Client,
    url: String,
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
        let url = cfg
            .upstream_url
            .join(&d.url)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| d.url.clone());
        Self::new(
            url,
            d.login_field.clone(),
            d.password_field.clone(),
            rule.clone(),
            Duration::from_secs(d.timeout_seconds),
        )
        .map_err(|e| tracing::error!(error = %e, "manual linking disabled"))
        .ok()
    }

    pub fn new(
        url: String,
        login_field: String,
        password_field: String,
        rule: SuccessRule,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            url,
            login_field,
            password_field,
            rule,
        })
    }

    pub async fn check(&self, login: &str, password: &str) -> Result<Checked, Unreachable> {
        let form = [
            (self.login_field.as_str(), login),
            (self.password_field.as_str(), password),
        ];
        let resp = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Unreachable(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if status >= 500 {
            return Err(Unreachable(format!("HTTP {status}")));
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        Ok(
            if login_succeeded(
                &self.rule,
                status,
                location.as_deref(),
                resp.url().path(),
                &cookies,
            ) {
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
}
