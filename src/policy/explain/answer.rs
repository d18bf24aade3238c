//! `policy explain` in words: the decision for one request, the stage that
//! made it and why, what the user gets, and a shadow stage's decision when
//! one is in force.

use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::policy::eval::{Action, Decision, Input, SessionKind, evaluate};
use crate::policy::model::{Policy, PolicyRole, TrustLevel};

/// What the policy does with one request, in words: the decision, the stage
/// that made it and why, what the user gets, and a shadow stage's decision
/// when one is in force.
pub fn explain(
    policy: &Policy,
    date: NaiveDate,
    role: Option<PolicyRole>,
    session: SessionKind,
    method: &str,
    path: &str,
    existing_user: bool,
) -> String {
    let route = policy.classify(&crate::policy::routes::RouteRequest::get(method, path));
    let input = Input {
        date,
        route: route.clone(),
        session,
        role,
        existing_user,
    };
    let out = evaluate(policy, &input);
    let d = &out.enforced;
    let mut s = String::new();
    let _ = writeln!(s, "policy:   {} ({})", policy.name, policy.timezone);
    let _ = writeln!(
        s,
        "request:  {} {} -> route class {}",
        method.to_ascii_uppercase(),
        path,
        route
    );
    let session_text = match session {
        SessionKind::Esia { level } => match level {
            TrustLevel::Confirmed => "ESIA session, confirmed account",
            TrustLevel::Standard => "ESIA session, standard account (not confirmed)",
            TrustLevel::Simplified => "ESIA session, simplified account",
        },
        SessionKind::Password => "password session",
        SessionKind::Unattributed => {
            "unattributed diary cookie (the gateway did not see its login)"
        }
        SessionKind::Anonymous => "anonymous",
    };
    let _ = writeln!(
        s,
        "who:      {}, {}{}",
        role.map_or("role unknown", PolicyRole::as_str),
        session_text,
        if existing_user { "" } else { ", new user" }
    );
    let _ = writeln!(s, "date:     {date} (local date in {})", policy.timezone);
    let _ = writeln!(s, "decision: {}", d.action.name());
    let _ = writeln!(s, "stage:    {}", stage_text(policy, d));
    let _ = writeln!(s, "why:      {}", d.reason);
    let _ = writeln!(s, "answer:   {}", answer_text(d));
    let _ = writeln!(s, "banner:   {}", d.banner.as_deref().unwrap_or("none"));
    let _ = writeln!(
        s,
        "button:   {}",
        if d.inject_esia_button {
            "«Войти через госуслуги» inserted into the page"
        } else {
            "none"
        }
    );
    if let Some(shadow) = &out.shadow {
        let _ = writeln!(
            s,
            "shadow:   stage {} (enforce = false) decides {}: {}; counted and logged, not enforced",
            stage_text(policy, shadow),
            shadow.action.name(),
            shadow.reason
        );
    }
    s
}

fn stage_text(policy: &Policy, d: &Decision) -> String {
    match &d.stage {
        None => "none (before the first stage for this role)".to_string(),
        Some(name) => match policy.stages.iter().find(|s| s.name == *name) {
            Some(st) => format!("{name} (from {})", st.from.format("%Y-%m-%d")),
            None => name.to_string(),
        },
    }
}

fn answer_text(d: &Decision) -> String {
    match &d.action {
        Action::Show => "passed to the diary".to_string(),
        Action::Hide { page } => format!("closed page «{}», not passed to the diary", page.title),
        Action::Rewrite {
            status,
            content_type,
            body,
        } => format!(
            "configured answer: {status} {content_type}, {} bytes; not passed to the diary",
            body.len()
        ),
        Action::Login => "sent to ESIA login (a redirect for pages, 401 for API calls)".to_string(),
        Action::Relogin { href } => format!(
            "sent to the diary's login page {href} with the unknown diary cookie cleared (a redirect for pages, 401 for API calls)"
        ),
        Action::DenyPasswordLogin => {
            "the login form is not passed to the diary: a page says to log in through ESIA"
                .to_string()
        }
        Action::ConfirmAccount { need } => format!(
            "a page explains how to raise the ESIA account to {} (the policy's [confirm.{}] texts); not passed to the diary",
            need.as_str(),
            need.as_str()
        ),
    }
}
