//! Who is asking: the diary's own session cookie, or the gateway's identity
//! headers, which the diary trusts as a diary behind a reverse proxy does.

use axum::http::{HeaderMap, header};

use crate::diary_mode::DiaryMode;

use super::{Diary, SESSION_COOKIE, lock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Visitor {
    pub(super) login: String,
    /// `esia` or `password`.
    pub(super) via: &'static str,
}

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Names and values of every cookie in every `Cookie` header.
pub(super) fn cookies(h: &HeaderMap) -> Vec<(String, String)> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let n = n.trim();
            (!n.is_empty()).then(|| (n.to_string(), v.trim().to_string()))
        })
        .collect()
}

pub(super) fn session_id(mode: DiaryMode, h: &HeaderMap) -> Option<String> {
    mode.cookie(&cookies(h), SESSION_COOKIE)
}

pub(super) fn visitor(d: &Diary, h: &HeaderMap) -> Option<Visitor> {
    if let Some(user) = header_str(h, "x-remote-user") {
        let via = match header_str(h, "x-auth-method") {
            Some(m) if m.eq_ignore_ascii_case("password") => "password",
            _ => "esia",
        };
        return Some(Visitor {
            login: user.to_string(),
            via,
        });
    }
    let sid = session_id(d.mode, h)?;
    let login = lock(&d.sessions).get(&sid).cloned()?;
    Some(Visitor {
        login,
        via: "password",
    })
}

impl Diary {
    pub(super) fn display_name(&self, login: &str) -> String {
        if let Some(u) = self.users.get(login).filter(|u| !u.display_name.is_empty()) {
            return u.display_name.clone();
        }
        if let Some(a) = self.accounts.get(login).filter(|a| !a.full_name.is_empty()) {
            return a.full_name.clone();
        }
        login.to_string()
    }
}
