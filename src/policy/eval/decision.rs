//! What the policy answers: the [`Action`] for a request, the [`Reason`]
//! behind it (with its stable code and its sentence for operators), the
//! whole [`Decision`] and the [`Outcome`] of enforced and shadow stages.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::policy::model::{ClosedPage, Trust, Visibility};

/// What the gateway does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the diary (with the banner / button injected as the
    /// [`Decision`] says).
    Show,
    /// Do not pass it: answer with the closed page (why, a button to log in
    /// through ESIA and link the account, the region's alternatives). On an
    /// API route the glue answers with its JSON equivalent.
    Hide { page: Arc<ClosedPage> },
    /// Do not pass it: answer with this configured response.
    Rewrite {
        status: u16,
        content_type: String,
        body: Bytes,
    },
    /// Send the visitor to ESIA login (a redirect for navigation, `401` for
    /// API calls).
    Login,
    /// Send the visitor to the diary's own login page (`href`) without the
    /// diary cookie the gateway could not attribute: a password login there
    /// is seen, so the session becomes known.
    Relogin { href: String },
    /// A submission of the diary's login form that must not reach the diary:
    /// answer with the page that explains that this account logs in through
    /// ESIA, with the ESIA button.
    DenyPasswordLogin,
    /// An ESIA account below the stage's trust (`need`): the page that
    /// explains how to raise the account to that level, in the region's
    /// words.
    ConfirmAccount { need: Trust },
}

impl Action {
    /// Short name for metrics, logs and `explain`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Show => "show",
            Self::Hide { .. } => "hide",
            Self::Rewrite { .. } => "rewrite",
            Self::Login => "login",
            Self::Relogin { .. } => "relogin",
            Self::DenyPasswordLogin => "deny_password_login",
            Self::ConfirmAccount { .. } => "confirm_account",
        }
    }
}

/// Why the decision is what it is (for `explain` and the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No stage has started for this role yet: everything allowed.
    BeforeFirstStage,
    /// The route is `public`.
    PublicRoute,
    /// An ESIA session whose account meets the stage's trust.
    EsiaSession,
    /// An ESIA session whose account is below the level the stage wants
    /// (simplified where standard is wanted, not confirmed where confirmed
    /// is).
    EsiaBelowTrust,
    /// The stage denies password login; the password session goes to ESIA.
    PasswordSessionDenied,
    /// A password session on a route with a visibility rule.
    PasswordVisibility(Visibility),
    /// A password session on a route without a visibility rule.
    PasswordSessionAllowed,
    /// A login form submission the stage allows.
    PasswordLoginAllowed,
    /// A login form submission of an account that has logged in before, in
    /// an `existing_users` stage.
    ExistingUserPasswordLogin,
    /// A login form submission of a new account, in an `existing_users`
    /// stage.
    NewUserMustUseEsia,
    /// A login form submission in a `denied` stage.
    PasswordLoginDenied,
    /// An anonymous visitor, sent to ESIA by the stage.
    AnonymousToEsia,
    /// An anonymous visitor, let through to the diary.
    AnonymousAllowed,
    /// A diary cookie the gateway cannot attribute, given what the
    /// strictest role's password session gets.
    UnattributedStrictest,
    /// A diary cookie the gateway cannot attribute, where some role must log
    /// in again and some role may still use a password: sent to the diary's
    /// login page.
    UnattributedRelogin,
    /// A diary cookie the gateway cannot attribute, where no role may use a
    /// password: sent to ESIA.
    UnattributedToEsia,
}

impl Reason {
    /// Stable short code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::BeforeFirstStage => "before_first_stage",
            Self::PublicRoute => "public_route",
            Self::EsiaSession => "esia_session",
            Self::EsiaBelowTrust => "esia_below_trust",
            Self::PasswordSessionDenied => "password_session_denied",
            Self::PasswordVisibility(_) => "password_visibility",
            Self::PasswordSessionAllowed => "password_session_allowed",
            Self::PasswordLoginAllowed => "password_login_allowed",
            Self::ExistingUserPasswordLogin => "existing_user_password_login",
            Self::NewUserMustUseEsia => "new_user_must_use_esia",
            Self::PasswordLoginDenied => "password_login_denied",
            Self::AnonymousToEsia => "anonymous_to_esia",
            Self::AnonymousAllowed => "anonymous_allowed",
            Self::UnattributedStrictest => "unattributed_strictest",
            Self::UnattributedRelogin => "unattributed_relogin",
            Self::UnattributedToEsia => "unattributed_to_esia",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BeforeFirstStage => {
                f.write_str("no stage has started for this role yet: everything is allowed")
            }
            Self::PublicRoute => f.write_str("the route is public: never gated"),
            Self::EsiaSession => f.write_str("an ESIA session whose account meets the stage's trust"),
            Self::EsiaBelowTrust => f.write_str(
                "the stage lets in ESIA accounts of a higher level than this one (see `trust`)",
            ),
            Self::PasswordSessionDenied => {
                f.write_str("the stage denies password login, so a password session is sent to ESIA")
            }
            Self::PasswordVisibility(v) => write!(
                f,
                "a password session gets `{}` on this route in this stage",
                v.as_str()
            ),
            Self::PasswordSessionAllowed => {
                f.write_str("a password session may use this route in this stage")
            }
            Self::PasswordLoginAllowed => f.write_str("the stage allows password login"),
            Self::ExistingUserPasswordLogin => f.write_str(
                "the stage allows password login to accounts that have logged in before, and this one has",
            ),
            Self::NewUserMustUseEsia => f.write_str(
                "the stage allows password login only to accounts that have logged in before; new users log in through ESIA",
            ),
            Self::PasswordLoginDenied => f.write_str("the stage denies password login"),
            Self::AnonymousToEsia => {
                f.write_str("the stage sends anonymous visitors straight to ESIA")
            }
            Self::AnonymousAllowed => {
                f.write_str("the stage lets anonymous visitors reach the diary")
            }
            Self::UnattributedStrictest => f.write_str(
                "a diary cookie the gateway did not see log in: it gets what the strictest role's password session gets",
            ),
            Self::UnattributedRelogin => f.write_str(
                "a diary cookie the gateway did not see log in, where some role must log in again: sent to the diary's login page (without that cookie) so the gateway sees who logs in",
            ),
            Self::UnattributedToEsia => f.write_str(
                "a diary cookie the gateway did not see log in, where no role may use a password: sent to ESIA",
            ),
        }
    }
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The stage that made it; `None` before the first stage.
    pub stage: Option<Arc<str>>,
    /// `false`: the stage is in shadow mode — count and log the decision,
    /// do not enforce it (see [`evaluate`](super::evaluate)).
    pub enforce: bool,
    /// Sanitised HTML to insert after `<body>` of the diary's HTML page.
    pub banner: Option<Arc<str>>,
    /// Insert the «Войти через госуслуги» button into the diary's page.
    pub inject_esia_button: bool,
    pub reason: Reason,
}

impl Decision {
    /// The `mode` label of the policy decision metric: `enforce` or
    /// `shadow`.
    pub fn mode(&self) -> &'static str {
        if self.enforce { "enforce" } else { "shadow" }
    }
}

/// What to enforce and what to only count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The decision to act on: made by the stages that enforce.
    pub enforced: Decision,
    /// The decision of a shadow stage in force, when there is one: count it
    /// with `mode="shadow"` and audit-log it; the request gets `enforced`.
    pub shadow: Option<Decision>,
}
