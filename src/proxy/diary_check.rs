//! Checking a diary login and password against the diary's own login form,
//! as the diary itself would: the password is sent once and never kept.

use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};

use crate::config::linking::SuccessRule;

#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Valid,
    Invalid,
}

#[derive(Debug, thiserror::Error)]
#[error("the diary's login form is unreachable: {0}")]
pub struct Unreachable(pub String);

/// Did the diary's answer mean "logged in"? A pure function of the answer.
pub fn login_succeeded(
    rule: &SuccessRule,
    status: u16,
    location: Option<&str>,
    set_cookies: &[String],
) -> bool {
    match rule {
        SuccessRule::Status(s) => status == *s,
        SuccessRule::RedirectTo(prefix) => {
            (300..400).contains(&status)
                && location.is_some_and(|l| {
                    let path = url::Url::parse(l)
                        .map(|u| u.path().to_string())
                        .unwrap_or_else(|_| l.split('?').next().unwrap_or("").to_string());
                    path.starts_with(prefix.as_str())
                })
        }
        SuccessRule::Cookie(name) => set_cookies.iter().any(|c| {
            let first = c.split(';').next().unwrap_or("");
            first
                .split_once('=')
                .is_some_and(|(k, v)| k.trim() == name && !v.trim().is_empty())
        }),
    }
}

pub struct DiaryChecker {
    http: reqwest::Client,
    url: String,
    login_field: String,
    password_field: String,
    rule: SuccessRule,
}

impl DiaryChecker {
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
            if login_succeeded(&self.rule, status, location.as_deref(), &cookies) {
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
        assert!(login_succeeded(&r, 302, Some("/grades"), &[]));
        assert!(login_succeeded(&r, 303, Some("http://d/grades?x=1"), &[]));
        assert!(!login_succeeded(&r, 302, Some("/login?error=1"), &[]));
        assert!(!login_succeeded(&r, 200, None, &[]));
        let c = SuccessRule::Cookie("SID".into());
        assert!(login_succeeded(&c, 200, None, &["SID=abc; Path=/".into()]));
        assert!(!login_succeeded(&c, 200, None, &["SID=; Max-Age=0".into()]));
        assert!(login_succeeded(&SuccessRule::Status(204), 204, None, &[]));
    }
}
