//! One error type for every flow, naming the real cause, and the one place
//! where a cause becomes what the person sees (a Russian page), what is
//! counted (the label in `esia_gate_logins_total` on the login way, in
//! `esia_gate_links_total` on the account pages, in
//! `esia_gate_login_forms_total` on a diary request) and what the log says.
//! A store outage is the gateway's own problem and says so; ESIA is blamed
//! only for what ESIA did.

use super::Auth;
use super::cookies::BINDING_COOKIE;
use super::diary_forms::FormProblem;
use super::matching::Unmatched;
use super::reply::Reply;
use crate::config::GATE_PREFIX;
use crate::esia::EsiaError;
use crate::esia::protocol::codes;
use crate::identity::LegacyLogin;
use crate::pages::accounts as account_pages;
use crate::pages::{self, Page};
use crate::store::StoreError;
use crate::telemetry::metrics;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The store (sessions, pending logins, links, limits) did not answer
    /// (its own message names the store).
    #[error("{0}")]
    Store(String),
    /// ESIA failed or refused the login.
    #[error("ESIA ({endpoint}): {detail}")]
    Esia {
        kind: EsiaKind,
        /// `ac`, `te`, `prns`, ... as in `esia_gate_esia_errors_total`.
        endpoint: &'static str,
        /// The ESIA client's own failure label (`timeout`, `bad_token`, ...).
        esia_label: &'static str,
        /// The `ESIA-NNNNNN` code ESIA sent, or `none`.
        code: String,
        detail: String,
    },
    /// The diary's login form did not answer a password check.
    #[error("the diary's login form is unreachable: {0}")]
    DiaryUnreachable(String),
    /// The client secret could not be signed.
    #[error("signing the client secret failed: {0}")]
    Signer(String),
    /// Too many wrong diary passwords for this person or address.
    #[error("manual linking refused: too many failures ({minutes} min left)")]
    RateLimited { minutes: u64 },
    #[error("{0}")]
    BadInput(BadInput),
    #[error("no such page of the gateway")]
    NotFound,
    #[error("manual linking is not set up")]
    LinkingDisabled,
    #[error("the diary login is already linked to another ESIA person")]
    AlreadyLinked,
    /// No diary account for the ESIA person, and no linking to offer.
    #[error("no diary account for the ESIA person ({})", .0.as_str())]
    NoMatch(Unmatched),
    /// The diary accepted a login the gateway's directory does not list yet.
    #[error("the linked login {0} is not in the directory")]
    NotInDirectory(LegacyLogin),
    /// Anything else on the gateway's side (a bad ESIA URL in the settings).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What ESIA did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsiaKind {
    /// No answer in time, no connection, or a 5xx: usually temporary.
    Unreachable,
    /// The person pressed «Отказать» (ESIA-007004).
    ConsentRefused,
    /// The code is unknown or used (ESIA-007011): the login is stale.
    BadCode,
    /// An ESIA error code (or an HTTP status, `HTTP`) the gateway does not
    /// explain better.
    Refused { code: String },
    /// The token or the answer failed the gateway's checks.
    BadToken,
}

/// What the browser sent that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    #[error("callback without state")]
    NoState,
    #[error("callback with an unknown, used or expired state")]
    UnknownState,
    #[error("callback from a browser that did not start the login")]
    WrongBrowser,
    #[error("callback without code or error")]
    NoCode,
    #[error("gateway form too large or unreadable")]
    FormUnreadable,
    /// Without the page's token (an old tab, a forgery), or naming an
    /// account the person may not use.
    #[error("gateway form expired or forged")]
    FormExpired,
    #[error("diary form refused: the gateway cannot read it unambiguously ({})", .0.label())]
    FormRefused(FormProblem),
}

/// Where a failure happened: it decides the counter, the way back and,
/// for the callback, that the login's binding cookie goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    LoginStart,
    Callback,
    /// The account choice page and choosing.
    Accounts,
    Unlink,
    /// The linking page and linking.
    Link,
    /// The children page, choosing, attaching and removing a child.
    Children,
    Logout,
    /// Any other route under the gateway's prefix.
    Gate,
    /// A request to the diary under the policy.
    Diary {
        navigation: bool,
    },
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::LoginStart => "login",
            Step::Callback => "callback",
            Step::Accounts => "accounts",
            Step::Unlink => "unlink",
            Step::Link => "link",
            Step::Children => "children",
            Step::Logout => "logout",
            Step::Gate => "gate",
            Step::Diary { .. } => "diary",
        }
    }

    /// The `action` label of `esia_gate_links_total` on the account pages.
    fn links_action(self) -> &'static str {
        match self {
            Step::Link => "link",
            Step::Unlink => "unlink",
            Step::Children => "child",
            Step::Logout => "logout",
            Step::Gate => "page",
            _ => "select",
        }
    }
}

impl From<StoreError> for GateError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyLinked => GateError::AlreadyLinked,
            e => GateError::Store(e.to_string()),
        }
    }
}

impl From<EsiaError> for GateError {
    fn from(e: EsiaError) -> Self {
        let kind = match &e {
            EsiaError::Signing(why) => return GateError::Signer(why.clone()),
            EsiaError::Timeout { .. } | EsiaError::Unreachable { .. } => EsiaKind::Unreachable,
            EsiaError::Status { status, .. } if *status >= 500 => EsiaKind::Unreachable,
            EsiaError::Status { .. } => EsiaKind::Refused {
                code: "HTTP".into(),
            },
            EsiaError::Protocol { code, .. } if code == codes::BAD_CODE => EsiaKind::BadCode,
            EsiaError::Protocol { code, .. } if code == codes::CONSENT_REFUSED => {
                EsiaKind::ConsentRefused
            }
            EsiaError::Protocol { code, .. } => EsiaKind::Refused { code: code.clone() },
            EsiaError::Token(_) | EsiaError::StateMismatch | EsiaError::BadAnswer { .. } => {
                EsiaKind::BadToken
            }
        };
        GateError::Esia {
            kind,
            endpoint: e.endpoint(),
            esia_label: e.label(),
            code: e.code().to_string(),
            detail: e.to_string(),
        }
    }
}

impl From<BadInput> for GateError {
    fn from(b: BadInput) -> Self {
        GateError::BadInput(b)
    }
}

impl GateError {
    /// ESIA's own error at the callback (`?error=...&error_description=`).
    pub fn esia_callback_error(error: &str, code: &str) -> Self {
        let kind = if code == codes::CONSENT_REFUSED {
            EsiaKind::ConsentRefused
        } else {
            EsiaKind::Refused { code: code.into() }
        };
        GateError::Esia {
            kind,
            endpoint: "ac",
            esia_label: "esia_error",
            code: code.into(),
            detail: format!("ESIA returned {error} ({code}) to the callback"),
        }
    }

    /// The cause as a metric label and log word (bounded).
    pub fn label(&self) -> &'static str {
        match self {
            GateError::Store(_) => "store_error",
            GateError::Esia { kind, .. } => match kind {
                EsiaKind::Unreachable => "esia_unavailable",
                EsiaKind::ConsentRefused => "consent_refused",
                EsiaKind::BadCode => "bad_code",
                EsiaKind::Refused { .. } => "esia_error",
                EsiaKind::BadToken => "bad_token",
            },
            GateError::DiaryUnreachable(_) => "diary_unreachable",
            GateError::Signer(_) => "signing_error",
            GateError::RateLimited { .. } => "rate_limited",
            GateError::BadInput(b) => match b {
                BadInput::NoState | BadInput::UnknownState => "bad_state",
                BadInput::WrongBrowser => "bad_binding",
                BadInput::NoCode => "bad_callback",
                BadInput::FormUnreadable => "unreadable",
                BadInput::FormExpired => "form_expired",
                BadInput::FormRefused(p) => p.label(),
            },
            GateError::NotFound => "not_found",
            GateError::LinkingDisabled => "linking_disabled",
            GateError::AlreadyLinked => "already_linked",
            GateError::NoMatch(_) => "no_match",
            GateError::NotInDirectory(_) => "not_in_directory",
            GateError::Internal(_) => "internal_error",
        }
    }

    /// The Russian page for the cause, at `step`.
    pub fn page(&self, step: Step) -> Page {
        match self {
            GateError::Store(_) => pages::service_unavailable(),
            GateError::Esia { kind, .. } => match kind {
                EsiaKind::Unreachable => pages::esia_unavailable(),
                EsiaKind::ConsentRefused => pages::consent_refused(&[], None),
                EsiaKind::BadCode => pages::login_expired(),
                EsiaKind::Refused { code } => pages::esia_refused(code),
                EsiaKind::BadToken => pages::login_not_verified(),
            },
            GateError::DiaryUnreachable(_) => {
                let back = match step {
                    Step::Children => "/children",
                    _ => "/link",
                };
                account_pages::diary_login_unavailable(&format!("{GATE_PREFIX}{back}"))
            }
            GateError::Signer(_) | GateError::Internal(_) => pages::internal_error(),
            GateError::RateLimited { minutes } => account_pages::rate_limited(*minutes),
            GateError::BadInput(b) => match b {
                BadInput::NoState
                | BadInput::UnknownState
                | BadInput::WrongBrowser
                | BadInput::NoCode => pages::login_expired(),
                BadInput::FormUnreadable => pages::form_unreadable(),
                BadInput::FormExpired => account_pages::form_expired(),
                BadInput::FormRefused(p) => {
                    pages::policy::form_refused(*p == FormProblem::TooLarge)
                }
            },
            GateError::NotFound => pages::not_found(),
            // The children page offers no attaching then: an old tab.
            GateError::LinkingDisabled if step == Step::Children => account_pages::form_expired(),
            GateError::LinkingDisabled => account_pages::linking_disabled(),
            GateError::AlreadyLinked => account_pages::already_linked(),
            GateError::NoMatch(Unmatched::NoSnilsFromEsia) => pages::no_snils(),
            GateError::NoMatch(u) => pages::no_match(u.text()),
            GateError::NotInDirectory(_) => pages::no_match(
                "Эта учётная запись есть в дневнике, но ещё не попала в справочник шлюза.",
            ),
        }
    }

    /// How loud the log line is: the gateway's own failures are errors,
    /// others' failures and suspicious input warnings, a person's choices
    /// information.
    fn level(&self) -> tracing::Level {
        match self {
            GateError::Store(_) | GateError::Signer(_) | GateError::Internal(_) => {
                tracing::Level::ERROR
            }
            GateError::Esia {
                kind: EsiaKind::ConsentRefused | EsiaKind::Refused { .. },
                endpoint: "ac",
                ..
            }
            | GateError::NoMatch(_)
            | GateError::NotFound
            | GateError::LinkingDisabled => tracing::Level::INFO,
            _ => tracing::Level::WARN,
        }
    }
}

impl Auth {
    /// The one place a failure becomes an answer: the page, the log line
    /// and the counters (and on the login way the audit line). A diary
    /// request that is not a navigation gets JSON instead of the page.
    pub fn fail(&self, step: Step, err: &GateError, request_id: &str) -> Reply {
        let cause = err.label();
        let step_name = step.name();
        match err.level() {
            tracing::Level::ERROR => {
                tracing::error!(request_id, step = step_name, cause, error = %err, "answered with a failure page")
            }
            tracing::Level::WARN => {
                tracing::warn!(request_id, step = step_name, cause, error = %err, "answered with a failure page")
            }
            _ => {
                tracing::info!(request_id, step = step_name, cause, error = %err, "answered with a failure page")
            }
        }
        let m = metrics::get();
        match err {
            GateError::Esia {
                endpoint,
                esia_label,
                code,
                ..
            } => {
                m.esia_errors
                    .with_label_values(&[endpoint, esia_label, codes::label(code)])
                    .inc();
            }
            GateError::Signer(_) => {
                m.esia_errors
                    .with_label_values(&["signer", "signing", "none"])
                    .inc();
            }
            _ => {}
        }
        let page = self.page_for(err, step);
        match step {
            Step::LoginStart | Step::Callback => {
                m.logins.with_label_values(&[cause]).inc();
            }
            Step::Diary { .. } => {
                m.login_forms.with_label_values(&[cause]).inc();
            }
            // A page that is not there: counted by its status alone.
            _ if matches!(err, GateError::NotFound) => {}
            _ => {
                // A password check counts as `check` wherever it was made;
                // an unreadable form as `form`.
                let action = match err {
                    GateError::RateLimited { .. } | GateError::DiaryUnreachable(_) => "check",
                    GateError::BadInput(BadInput::FormUnreadable) => "form",
                    _ => step.links_action(),
                };
                m.links.with_label_values(&[action, cause]).inc();
            }
        }
        match step {
            Step::Callback => {
                tracing::info!(target: "audit", event = "login_result", request_id, outcome = cause);
                Reply::Page {
                    page,
                    cookies: vec![self.expired_cookie(BINDING_COOKIE, GATE_PREFIX)],
                }
            }
            Step::Diary { navigation: false } => Reply::json(
                page.status,
                serde_json::json!({"error": json_error(err), "reason": cause}),
            ),
            _ => Reply::page(page),
        }
    }
}

/// The `error` of a JSON answer to a script.
fn json_error(err: &GateError) -> &'static str {
    match err {
        GateError::BadInput(BadInput::FormRefused(_)) => "form_refused",
        GateError::Store(_) => "unavailable",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esia::token::TokenError;

    fn esia(e: EsiaError) -> GateError {
        GateError::from(e)
    }

    #[test]
    fn esia_failures_are_told_apart_by_what_esia_did() {
        let unreachable = esia(EsiaError::Timeout { endpoint: "te" });
        assert_eq!(unreachable.label(), "esia_unavailable");
        assert_eq!(
            unreachable.page(Step::Callback).title,
            "Госуслуги сейчас не отвечают"
        );
        let five = esia(EsiaError::Status {
            endpoint: "te",
            status: 503,
        });
        assert_eq!(five.label(), "esia_unavailable");
        let four = esia(EsiaError::Status {
            endpoint: "te",
            status: 400,
        });
        assert_eq!(four.label(), "esia_error");
        assert_eq!(four.page(Step::Callback).status, 502);
        let stale = esia(EsiaError::Protocol {
            endpoint: "te",
            error: "invalid_grant".into(),
            code: codes::BAD_CODE.into(),
        });
        assert_eq!(stale.label(), "bad_code");
        assert_eq!(stale.page(Step::Callback).title, "Вход не завершён");
        let forged = esia(EsiaError::Token(TokenError::Signature));
        assert_eq!(forged.label(), "bad_token");
        assert_eq!(
            forged.page(Step::Callback).title,
            "Не удалось проверить вход"
        );
        let signer = esia(EsiaError::Signing("engine".into()));
        assert!(matches!(signer, GateError::Signer(_)));
        assert_eq!(signer.page(Step::LoginStart).status, 500);
        let refused = GateError::esia_callback_error("access_denied", codes::CONSENT_REFUSED);
        assert_eq!(refused.label(), "consent_refused");
        assert_eq!(refused.page(Step::Callback).status, 403);
    }

    #[test]
    fn a_store_outage_is_not_blamed_on_esia() {
        let e = GateError::from(StoreError::Unavailable("redis: connection refused".into()));
        assert_eq!(e.label(), "store_error");
        let page = e.page(Step::Callback);
        assert_eq!(page.status, 503);
        let html = page.render("rid");
        assert!(!html.contains("Госуслуги сейчас не отвечают"), "{html}");
        assert!(!html.contains("Госуслуги не"), "{html}");
        assert!(
            html.contains("Войти через Госуслуги"),
            "logging in again helps: {html}"
        );
        // A link taken by someone else is not an outage.
        assert!(matches!(
            GateError::from(StoreError::AlreadyLinked),
            GateError::AlreadyLinked
        ));
    }

    #[test]
    fn the_three_password_check_failures_are_three_answers() {
        let limited = GateError::RateLimited { minutes: 7 };
        let down = GateError::DiaryUnreachable("connection refused".into());
        assert_eq!(limited.page(Step::Link).status, 429);
        assert!(limited.page(Step::Link).render("r").contains("через 7 мин"));
        assert_eq!(down.page(Step::Link).status, 503);
        assert!(
            down.page(Step::Children)
                .actions
                .iter()
                .any(|(href, _)| href == "/esia-gate/children"),
            "a parent tries again on the children page"
        );
        assert_ne!(limited.label(), down.label());
    }
}
