//! Settings of manual linking: how the gateway checks a diary login and
//! password against the diary's own login form, and how often one may try.

use serde::Deserialize;

/// What tells a successful login at the diary's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuccessRule {
    /// A redirect (3xx) whose `Location` path starts with this.
    RedirectTo(String),
    /// This exact status code.
    Status(u16),
    /// A `Set-Cookie` of this name with a non-empty value.
    Cookie(String),
}

impl SuccessRule {
    /// `redirect:/grades`, `status:200` or `cookie:DIARYSESSID`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: write redirect:/path, status:NNN or cookie:NAME"))?;
        let value = value.trim();
        match kind.trim() {
            "redirect" if value.starts_with('/') => Ok(Self::RedirectTo(value.to_string())),
            "redirect" => Err(format!(
                "`{s}`: the redirect target must be a path starting with /"
            )),
            "status" => value
                .parse::<u16>()
                .ok()
                .filter(|c| (100..600).contains(c))
                .map(Self::Status)
                .ok_or_else(|| format!("`{s}`: not an HTTP status code")),
            "cookie" if !value.is_empty() => Ok(Self::Cookie(value.to_string())),
            _ => Err(format!(
                "`{s}`: write redirect:/path, status:NNN or cookie:NAME"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiaryLogin {
    /// The diary's login form action, absolute or a path on the upstream.
    #[serde(default = "default_path")]
    pub url: String,
    /// The page that shows the login form, fetched first as a browser
    /// does (its cookies and the form's hidden inputs go with the login);
    /// absolute or a path on the upstream. Default: `url`.
    #[serde(default)]
    pub page_url: Option<String>,
    /// Whether to fetch `page_url` first. Off only for a diary whose form
    /// needs neither a cookie nor a hidden field from its page.
    #[serde(default = "default_fetch_page")]
    pub fetch_page: bool,
    #[serde(default = "default_login_field")]
    pub login_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    /// `redirect:/path`, `status:NNN` or `cookie:NAME`.
    pub success: String,
    /// Failed attempts allowed per ESIA person and per client address.
    #[serde(default = "default_attempts")]
    pub max_failures: u64,
    /// The window those attempts are counted in, seconds.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_path() -> String {
    "/login".into()
}
fn default_fetch_page() -> bool {
    true
}
fn default_login_field() -> String {
    "login".into()
}
fn default_password_field() -> String {
    "password".into()
}
fn default_attempts() -> u64 {
    5
}
fn default_window() -> u64 {
    900
}
fn default_timeout() -> u64 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rules_parse() {
        assert_eq!(
            SuccessRule::parse("redirect:/grades"),
            Ok(SuccessRule::RedirectTo("/grades".into()))
        );
        assert_eq!(
            SuccessRule::parse("status:200"),
            Ok(SuccessRule::Status(200))
        );
        assert_eq!(
            SuccessRule::parse("cookie:DIARYSESSID"),
            Ok(SuccessRule::Cookie("DIARYSESSID".into()))
        );
        for bad in ["redirect:grades", "status:abc", "cookie:", "grades"] {
            assert!(SuccessRule::parse(bad).is_err(), "{bad}");
        }
    }
}
