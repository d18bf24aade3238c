//! The policy's answer for one request: a pure, total function of the
//! policy, the region's local date, the route class, the kind of session,
//! the role and whether the account has logged in before. No clock, no I/O;
//! exactly one [`Decision`] for every input.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;

use super::model::{
    ClosedPage, PasswordLogin, Policy, PolicyRole, RouteClass, Stage, Trust, Visibility,
};

/// What the policy is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The local date in the region ([`Policy::local_date`]).
    pub date: NaiveDate,
    /// [`Policy::classify`] of the request.
    pub route: RouteClass,
    pub session: SessionKind,
    /// `None` when unknown (anonymous visitors, logins the directory does
    /// not know).
    pub role: Option<PolicyRole>,
    /// The account has logged in before (for `existing_users`). On a login
    /// form submission: the account named in the login field.
    pub existing_user: bool,
}

/// How the request is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// A gateway session opened through ESIA; `trusted` = confirmed account.
    Esia { trusted: bool },
    /// The diary's own cookie, from a login the gateway saw at the diary's
    /// login form.
    Password,
    /// A diary cookie the gateway does not know (never learned, expired,
    /// learned by another gateway that forgot it, sent twice with different
    /// values): it cannot say whose session it is, so it gets the strictest
    /// treatment the stage in force allows.
    Unattributed,
    /// Neither.
    Anonymous,
}

impl SessionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Esia { .. } => "esia",
            Self::Password => "password",
            Self::Unattributed => "unattributed",
            Self::Anonymous => "anonymous",
        }
    }
}

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
    /// An ESIA account below the stage's trust: the page that explains how
    /// to confirm the account (and for children, how a parent attaches a
    /// child account).
    ConfirmAccount,
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
            Self::ConfirmAccount => "confirm_account",
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
    /// An ESIA session whose account is not confirmed, in a stage that
    /// wants confirmed accounts.
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
                "the stage lets in confirmed ESIA accounts only and this one is not confirmed",
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
    /// do not enforce it (see [`evaluate`]).
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

/// The decision of the stage in force, shadow or not.
pub fn decide(policy: &Policy, input: &Input) -> Decision {
    decide_among(policy, input, |_| true)
}

/// The decision to enforce, plus the shadow stage's decision when the stage
/// in force is a shadow stage: a shadow stage changes nothing a user sees,
/// so the request is decided as if it did not exist.
pub fn evaluate(policy: &Policy, input: &Input) -> Outcome {
    let first = decide(policy, input);
    if first.enforce {
        Outcome {
            enforced: first,
            shadow: None,
        }
    } else {
        Outcome {
            enforced: decide_among(policy, input, |s| s.enforce),
            shadow: Some(first),
        }
    }
}

fn decide_among(policy: &Policy, input: &Input, consider: impl Fn(&Stage) -> bool) -> Decision {
    match (input.session, input.role) {
        (SessionKind::Unattributed, _) => unattributed(policy, input, &consider),
        // Someone whose role the gateway does not know — a login the
        // directory lacks, an ESIA account no longer in it — gets what the
        // strictest role gets: an unknown role is never an exemption.
        (SessionKind::Password | SessionKind::Esia { .. }, None) => {
            strictest_role(policy, input, input.session, &consider)
        }
        _ => for_role(policy, input, input.role, &consider),
    }
}

/// The decision for one role (or, for anonymous visitors, none): the stage
/// in force for it decides.
fn for_role(
    policy: &Policy,
    input: &Input,
    role: Option<PolicyRole>,
    consider: &impl Fn(&Stage) -> bool,
) -> Decision {
    let not_esia = !matches!(input.session, SessionKind::Esia { .. });
    let button = input.route == RouteClass::LoginPage && not_esia;
    match policy.stage_for(role, input.date, consider) {
        None => {
            let public = input.route == RouteClass::Public;
            Decision {
                action: Action::Show,
                stage: None,
                enforce: true,
                banner: None,
                inject_esia_button: button,
                reason: if public {
                    Reason::PublicRoute
                } else {
                    Reason::BeforeFirstStage
                },
            }
        }
        Some(stage) => in_stage(policy, stage, input, button),
    }
}

/// How far a decision keeps a request from the diary, to pick the strictest.
fn strictness(a: &Action) -> u8 {
    match a {
        Action::Show => 0,
        Action::Rewrite { .. } => 1,
        Action::Hide { .. } | Action::ConfirmAccount => 2,
        Action::Login | Action::Relogin { .. } | Action::DenyPasswordLogin => 3,
    }
}

/// The strictest decision any role would get with a session of `kind`
/// (the first such role's, in [`PolicyRole::ALL`] order, on a tie).
fn strictest_role(
    policy: &Policy,
    input: &Input,
    kind: SessionKind,
    consider: &impl Fn(&Stage) -> bool,
) -> Decision {
    let as_kind = Input {
        session: kind,
        ..input.clone()
    };
    let mut best = for_role(policy, &as_kind, Some(PolicyRole::ALL[0]), consider);
    for role in &PolicyRole::ALL[1..] {
        let d = for_role(policy, &as_kind, Some(*role), consider);
        if strictness(&d.action) > strictness(&best.action) {
            best = d;
        }
    }
    best
}

/// A diary cookie the gateway cannot attribute: at best someone's password
/// session, at worst anybody's. It gets what the strictest role's password
/// session gets; where that is "log in again", the diary's own login page
/// when some role may still log in by password (so the gateway learns the
/// session), ESIA otherwise.
fn unattributed(policy: &Policy, input: &Input, consider: &impl Fn(&Stage) -> bool) -> Decision {
    let anonymous_input = Input {
        session: SessionKind::Anonymous,
        ..input.clone()
    };
    if input.route == RouteClass::LoginPage {
        // The diary's login form is where such a browser should be: shown
        // as to anyone not logged in.
        return for_role(policy, &anonymous_input, None, consider);
    }
    let strict = strictest_role(policy, input, SessionKind::Password, consider);
    let anonymous = for_role(policy, &anonymous_input, None, consider);
    let must_log_in = match strict.action {
        Action::Show => anonymous.action == Action::Login,
        Action::Login => true,
        _ => false,
    };
    if !must_log_in {
        return Decision {
            reason: Reason::UnattributedStrictest,
            ..strict
        };
    }
    let some_role_keeps_passwords = PolicyRole::ALL.into_iter().any(|r| {
        policy
            .stage_for(Some(r), input.date, consider)
            .is_none_or(|s| s.password_login != PasswordLogin::Denied)
    });
    let base = if strict.action == Action::Login {
        strict
    } else {
        anonymous
    };
    match policy.login_page_href() {
        Some(href) if some_role_keeps_passwords => Decision {
            action: Action::Relogin { href },
            banner: None,
            inject_esia_button: false,
            reason: Reason::UnattributedRelogin,
            ..base
        },
        _ => Decision {
            action: Action::Login,
            banner: None,
            inject_esia_button: false,
            reason: Reason::UnattributedToEsia,
            ..base
        },
    }
}

fn in_stage(policy: &Policy, stage: &Stage, input: &Input, button: bool) -> Decision {
    let show = |reason: Reason, banner: bool, button: bool| Decision {
        action: Action::Show,
        stage: Some(stage.name.clone()),
        enforce: stage.enforce,
        banner: if banner { stage.banner.clone() } else { None },
        inject_esia_button: button,
        reason,
    };
    let other = |action: Action, reason: Reason| Decision {
        action,
        stage: Some(stage.name.clone()),
        enforce: stage.enforce,
        banner: None,
        inject_esia_button: false,
        reason,
    };
    // The banner goes into pages, never API answers or form posts.
    let page_route = !matches!(
        input.route,
        RouteClass::GradesApi | RouteClass::LoginSubmit { .. }
    );
    match (&input.route, input.session) {
        (RouteClass::Public, _) => show(Reason::PublicRoute, false, false),
        // A login form submission is a password login attempt by the account
        // in the login field, whatever session the browser already has.
        (RouteClass::LoginSubmit { .. }, _) => match stage.password_login {
            PasswordLogin::Allowed => show(Reason::PasswordLoginAllowed, false, false),
            PasswordLogin::ExistingUsers if input.existing_user => {
                show(Reason::ExistingUserPasswordLogin, false, false)
            }
            PasswordLogin::ExistingUsers => {
                other(Action::DenyPasswordLogin, Reason::NewUserMustUseEsia)
            }
            PasswordLogin::Denied => other(Action::DenyPasswordLogin, Reason::PasswordLoginDenied),
        },
        (_, SessionKind::Esia { trusted }) => {
            if stage.trust == Trust::Confirmed && !trusted {
                other(Action::ConfirmAccount, Reason::EsiaBelowTrust)
            } else {
                show(Reason::EsiaSession, false, false)
            }
        }
        // An unattributed session is decided per role as a password session
        // (see `unattributed`); it only reaches here through that.
        (route, SessionKind::Password | SessionKind::Unattributed) => {
            if stage.password_login == PasswordLogin::Denied {
                return other(Action::Login, Reason::PasswordSessionDenied);
            }
            match stage.visibility(route) {
                None => show(Reason::PasswordSessionAllowed, page_route, button),
                Some(Visibility::Show) => show(
                    Reason::PasswordVisibility(Visibility::Show),
                    page_route,
                    button,
                ),
                Some(v @ Visibility::Hide) => other(
                    Action::Hide {
                        page: policy.closed_page.clone(),
                    },
                    Reason::PasswordVisibility(v),
                ),
                Some(v @ Visibility::Rewrite) => {
                    let action = match policy.rewrites.get(route.name()) {
                        Some(r) => Action::Rewrite {
                            status: r.status,
                            content_type: r.content_type.clone(),
                            body: r.body.clone(),
                        },
                        // The loader refuses `rewrite` without a body; should a
                        // policy be built by hand without one, hiding is the
                        // safe reading.
                        None => Action::Hide {
                            page: policy.closed_page.clone(),
                        },
                    };
                    other(action, Reason::PasswordVisibility(v))
                }
            }
        }
        (_, SessionKind::Anonymous) => {
            if stage.anonymous_to_esia {
                other(Action::Login, Reason::AnonymousToEsia)
            } else {
                show(Reason::AnonymousAllowed, page_route, button)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::load::parse;
    use proptest::prelude::*;

    const YAROSLAVL: &str = include_str!("../../policies/yaroslavl-2019.toml");
    const IRKUTSK: &str = include_str!("../../policies/irkutsk-2018.toml");
    const VORONEZH: &str = include_str!("../../policies/voronezh-2017.toml");
    const ARKHANGELSK: &str = include_str!("../../policies/arkhangelsk-2024.toml");

    fn policy(src: &str) -> Policy {
        match parse("shipped.toml", src) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn ask(
        p: &Policy,
        date: &str,
        method: &str,
        path: &str,
        session: SessionKind,
        role: Option<PolicyRole>,
        existing_user: bool,
    ) -> Decision {
        let input = Input {
            date: d(date),
            route: p.classify(&crate::policy::RouteRequest::get(method, path)),
            session,
            role,
            existing_user,
        };
        let out = evaluate(p, &input);
        assert!(out.shadow.is_none(), "shipped policies enforce every stage");
        out.enforced
    }

    const PARENT: Option<PolicyRole> = Some(PolicyRole::Parent);
    const ESIA: SessionKind = SessionKind::Esia { trusted: true };
    const ESIA_UNCONFIRMED: SessionKind = SessionKind::Esia { trusted: false };

    #[test]
    fn yaroslavl_before_2019_a_password_session_sees_grades_with_the_banner() {
        let p = policy(YAROSLAVL);
        let dec = ask(
            &p,
            "2018-12-15",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(dec.action, Action::Show);
        assert_eq!(dec.stage.as_deref(), Some("banner"));
        let banner = dec.banner.as_deref().unwrap_or_default();
        assert!(banner.contains("01.01.2019"), "{banner}");
        // The API answer is JSON: no banner there.
        let api = ask(
            &p,
            "2018-12-15",
            "GET",
            "/api/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(api.action, Action::Show);
        assert_eq!(api.banner, None);
        // Before the banner stage nothing changes at all.
        let early = ask(
            &p,
            "2018-09-30",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(
            (early.action, early.stage, early.banner),
            (Action::Show, None, None)
        );
    }

    #[test]
    fn yaroslavl_after_2019_01_01_a_password_session_sees_no_grades() {
        let p = policy(YAROSLAVL);
        let html = ask(
            &p,
            "2019-01-02",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        let Action::Hide { page } = &html.action else {
            panic!("{html:?}");
        };
        assert_eq!(html.stage.as_deref(), Some("esia-only-grades"));
        let alternatives = page.alternatives.join(" ");
        assert!(alternatives.contains("e-mail"), "{alternatives}");
        assert!(alternatives.contains("Бумажный дневник"), "{alternatives}");

        let api = ask(
            &p,
            "2019-01-02",
            "GET",
            "/api/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        let Action::Rewrite {
            status,
            content_type,
            body,
        } = &api.action
        else {
            panic!("{api:?}");
        };
        assert_eq!(*status, 200);
        assert!(content_type.starts_with("application/json"));
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["grades"], serde_json::json!([]));
        assert_eq!(json["esia_required"], true);

        // The rest of the diary still opens for the password session.
        let home = ask(
            &p,
            "2019-01-02",
            "GET",
            "/",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(home.action, Action::Show);
    }

    #[test]
    fn yaroslavl_after_2019_01_01_an_esia_session_sees_grades() {
        let p = policy(YAROSLAVL);
        for session in [ESIA, ESIA_UNCONFIRMED] {
            for path in ["/grades", "/api/grades"] {
                let dec = ask(&p, "2019-01-02", "GET", path, session, PARENT, true);
                assert_eq!(dec.action, Action::Show, "{path} {session:?}");
                assert_eq!(dec.banner, None);
            }
        }
    }

    #[test]
    fn yaroslavl_after_2019_01_01_a_new_user_logs_in_only_through_esia() {
        let p = policy(YAROSLAVL);
        let new = ask(
            &p,
            "2019-01-02",
            "POST",
            "/login",
            SessionKind::Anonymous,
            PARENT,
            false,
        );
        assert_eq!(new.action, Action::DenyPasswordLogin);
        assert_eq!(new.reason, Reason::NewUserMustUseEsia);
        let old = ask(
            &p,
            "2019-01-02",
            "POST",
            "/login",
            SessionKind::Anonymous,
            PARENT,
            true,
        );
        assert_eq!(old.action, Action::Show);
        // In December a new user could still use the password.
        let dec = ask(
            &p,
            "2018-12-15",
            "POST",
            "/login",
            SessionKind::Anonymous,
            PARENT,
            false,
        );
        assert_eq!(dec.action, Action::Show);
        // The login page keeps the form and gets the ESIA button.
        let page = ask(
            &p,
            "2019-01-02",
            "GET",
            "/login",
            SessionKind::Anonymous,
            None,
            false,
        );
        assert_eq!(page.action, Action::Show);
        assert!(page.inject_esia_button);
    }

    #[test]
    fn yaroslavl_midnight_is_moscow_midnight() {
        let p = policy(YAROSLAVL);
        let utc = chrono::DateTime::parse_from_rfc3339("2018-12-31T21:30:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(p.local_date(utc), d("2019-01-01"));
    }

    #[test]
    fn irkutsk_on_2018_12_02_a_student_of_13_keeps_the_password_and_one_of_15_does_not() {
        let p = policy(IRKUTSK);
        let on = d("2018-12-02");
        let thirteen = PolicyRole::from("student", Some(d("2005-03-10")), on);
        let fifteen = PolicyRole::from("student", Some(d("2003-03-10")), on);
        assert_eq!(thirteen, Some(PolicyRole::StudentUnder14));
        assert_eq!(fifteen, Some(PolicyRole::Student14Plus));

        let young = ask(
            &p,
            "2018-12-02",
            "POST",
            "/login",
            SessionKind::Anonymous,
            thirteen,
            false,
        );
        assert_eq!(young.action, Action::Show);
        let grades = ask(
            &p,
            "2018-12-02",
            "GET",
            "/grades",
            SessionKind::Password,
            thirteen,
            true,
        );
        assert_eq!(grades.action, Action::Show);

        let older = ask(
            &p,
            "2018-12-02",
            "POST",
            "/login",
            SessionKind::Anonymous,
            fifteen,
            true,
        );
        assert_eq!(older.action, Action::DenyPasswordLogin);
        let grades = ask(
            &p,
            "2018-12-02",
            "GET",
            "/grades",
            SessionKind::Password,
            fifteen,
            true,
        );
        assert_eq!(grades.action, Action::Login);
        // Staff and parents go the same way on the same day.
        for role in [PolicyRole::Staff, PolicyRole::Parent] {
            let dec = ask(
                &p,
                "2018-12-02",
                "POST",
                "/login",
                SessionKind::Anonymous,
                Some(role),
                true,
            );
            assert_eq!(dec.action, Action::DenyPasswordLogin, "{role}");
        }
        // The day before, everyone could still use a password.
        let before = ask(
            &p,
            "2018-11-30",
            "POST",
            "/login",
            SessionKind::Anonymous,
            fifteen,
            true,
        );
        assert_eq!(before.action, Action::Show);
    }

    #[test]
    fn irkutsk_a_student_turning_14_loses_the_password_on_the_birthday() {
        let p = policy(IRKUTSK);
        let birth = d("2004-12-10");
        let role = |on: &str| PolicyRole::from("student", Some(birth), d(on));
        let on_9th = ask(
            &p,
            "2018-12-09",
            "POST",
            "/login",
            SessionKind::Anonymous,
            role("2018-12-09"),
            true,
        );
        assert_eq!(on_9th.action, Action::Show);
        let on_10th = ask(
            &p,
            "2018-12-10",
            "POST",
            "/login",
            SessionKind::Anonymous,
            role("2018-12-10"),
            true,
        );
        assert_eq!(on_10th.action, Action::DenyPasswordLogin);
    }

    #[test]
    fn arkhangelsk_from_2024_07_01_an_unconfirmed_account_is_asked_to_confirm() {
        let p = policy(ARKHANGELSK);
        for role in PolicyRole::ALL {
            let dec = ask(
                &p,
                "2024-07-01",
                "GET",
                "/grades",
                ESIA_UNCONFIRMED,
                Some(role),
                true,
            );
            assert_eq!(dec.action, Action::ConfirmAccount, "{role}");
            assert_eq!(dec.reason, Reason::EsiaBelowTrust);
            let ok = ask(&p, "2024-07-01", "GET", "/grades", ESIA, Some(role), true);
            assert_eq!(ok.action, Action::Show, "{role}");
            let pw = ask(
                &p,
                "2024-07-01",
                "POST",
                "/login",
                SessionKind::Anonymous,
                Some(role),
                true,
            );
            assert_eq!(pw.action, Action::DenyPasswordLogin, "{role}");
        }
        // Anonymous visitors go straight to ESIA, except public assets.
        let anon = ask(
            &p,
            "2024-07-01",
            "GET",
            "/",
            SessionKind::Anonymous,
            None,
            false,
        );
        assert_eq!(anon.action, Action::Login);
        // On 30 June the unconfirmed account still got in, with the banner
        // shown to password users.
        let before = ask(
            &p,
            "2024-06-30",
            "GET",
            "/grades",
            ESIA_UNCONFIRMED,
            PARENT,
            true,
        );
        assert_eq!(before.action, Action::Show);
        let pw = ask(
            &p,
            "2024-06-30",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert!(pw.banner.is_some());
    }

    #[test]
    fn voronezh_from_2017_09_29_the_diary_is_reached_only_through_esia() {
        let p = policy(VORONEZH);
        let before = ask(
            &p,
            "2017-09-28",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(before.action, Action::Show);
        assert!(before.banner.is_some());
        let after = ask(
            &p,
            "2017-09-29",
            "GET",
            "/grades",
            SessionKind::Password,
            PARENT,
            true,
        );
        assert_eq!(after.action, Action::Login);
        let login = ask(
            &p,
            "2017-09-29",
            "POST",
            "/login",
            SessionKind::Anonymous,
            PARENT,
            true,
        );
        assert_eq!(login.action, Action::DenyPasswordLogin);
        let anon = ask(
            &p,
            "2017-09-29",
            "GET",
            "/grades",
            SessionKind::Anonymous,
            None,
            false,
        );
        assert_eq!(anon.action, Action::Login);
        let esia = ask(&p, "2017-09-29", "GET", "/grades", ESIA, PARENT, true);
        assert_eq!(esia.action, Action::Show);
    }

    const SHADOW: &str = r#"
name = "shadow"
timezone = "Europe/Moscow"

[[routes]]
class = "grades_html"
paths = ["/grades"]

[[stages]]
name = "banner"
from = 2019-01-01
roles = ["all"]
password_login = "allowed"
banner = "Скоро только через Госуслуги"

[[stages]]
name = "trial"
from = 2019-02-01
roles = ["all"]
password_login = "allowed"
grades_html = "hide"
enforce = false
"#;

    #[test]
    fn a_shadow_stage_is_decided_but_the_request_gets_the_enforced_stage() {
        let p = policy(SHADOW);
        let input = Input {
            date: d("2019-02-10"),
            route: p.classify(&crate::policy::RouteRequest::get("GET", "/grades")),
            session: SessionKind::Password,
            role: PARENT,
            existing_user: true,
        };
        let raw = decide(&p, &input);
        assert!(!raw.enforce);
        assert_eq!(raw.action.name(), "hide");
        let out = evaluate(&p, &input);
        assert_eq!(out.shadow, Some(raw));
        assert_eq!(out.enforced.action, Action::Show);
        assert_eq!(out.enforced.stage.as_deref(), Some("banner"));
        assert!(out.enforced.enforce);
        assert!(out.enforced.banner.is_some());
    }

    #[test]
    fn public_routes_are_never_gated() {
        let p = policy(ARKHANGELSK);
        let dec = ask(
            &p,
            "2024-07-02",
            "GET",
            "/static/site.css",
            SessionKind::Anonymous,
            None,
            false,
        );
        assert_eq!(
            (dec.action, dec.reason),
            (Action::Show, Reason::PublicRoute)
        );
    }

    #[test]
    fn a_diary_cookie_the_gateway_never_saw_gets_the_strictest_treatment() {
        let u = SessionKind::Unattributed;
        // Yaroslavl after the cut-over: grades closed, the API rewritten,
        // the rest of the diary open (every role's password session gets
        // the same).
        let p = policy(YAROSLAVL);
        let on = |path| ask(&p, "2019-01-02", "GET", path, u, None, false);
        assert_eq!(on("/grades").action.name(), "hide");
        assert_eq!(on("/GRADES.").action.name(), "hide");
        assert_eq!(on("/api/grades").action.name(), "rewrite");
        assert_eq!(on("/index.php?page=grades").action.name(), "hide");
        assert_eq!(on("/").action, Action::Show);
        assert_eq!(on("/grades").reason, Reason::UnattributedStrictest);
        // Before the cut-over every password session sees grades: so does
        // an unattributed one (the diary decides by its own cookie).
        let before = ask(&p, "2018-12-15", "GET", "/grades", u, None, false);
        assert_eq!(before.action, Action::Show);
        assert!(before.banner.is_some());

        // Irkutsk: adults are sent to ESIA, students under 14 keep their
        // passwords — an unknown cookie logs in again at the diary's form.
        let p = policy(IRKUTSK);
        for path in ["/grades", "/", "/api/grades"] {
            let d = ask(&p, "2018-12-02", "GET", path, u, None, false);
            assert_eq!(
                d.action,
                Action::Relogin {
                    href: "/login".into()
                },
                "{path}"
            );
            assert_eq!(d.reason, Reason::UnattributedRelogin);
        }
        // The diary's login page itself stays open, or nobody could.
        let login = ask(&p, "2018-12-02", "GET", "/login", u, None, false);
        assert_eq!(login.action, Action::Show);

        // Voronezh and Arkhangelsk: no role keeps a password — ESIA.
        for (src, date) in [(VORONEZH, "2017-10-02"), (ARKHANGELSK, "2024-07-02")] {
            let p = policy(src);
            let d = ask(&p, date, "GET", "/grades", u, None, false);
            assert_eq!(
                (d.action, d.reason),
                (Action::Login, Reason::UnattributedToEsia)
            );
        }
    }

    #[test]
    fn an_unknown_role_is_never_an_exemption() {
        let p = policy(IRKUTSK);
        // A password session of a login the directory lacks: what the
        // strictest role gets (parents and staff are sent to ESIA), not
        // the under-14 exemption.
        let d = ask(
            &p,
            "2018-12-02",
            "GET",
            "/grades",
            SessionKind::Password,
            None,
            true,
        );
        assert_eq!(d.action, Action::Login);
        // Its login form submission is refused likewise.
        let d = ask(
            &p,
            "2018-12-02",
            "POST",
            "/login",
            SessionKind::Password,
            None,
            true,
        );
        assert_eq!(d.action, Action::DenyPasswordLogin);
        // The student under 14 whom the directory knows keeps the password.
        let d = ask(
            &p,
            "2018-12-02",
            "POST",
            "/login",
            SessionKind::Password,
            Some(PolicyRole::StudentUnder14),
            true,
        );
        assert_eq!(d.action, Action::Show);
    }

    #[test]
    fn route_variants_and_methods_land_in_the_grades_class() {
        let p = policy(YAROSLAVL);
        let class = |m: &'static str, path: &'static str| {
            p.classify(&crate::policy::RouteRequest::get(m, path))
        };
        for m in [
            "GET", "HEAD", "POST", "PUT", "OPTIONS", "PROPFIND", "DELETE",
        ] {
            for path in [
                "/grades",
                "/Grades",
                "/GRADES",
                "/grades.",
                "/grades%20",
                "/grades/x",
                "/x/../grades",
            ] {
                assert_eq!(class(m, path), RouteClass::GradesHtml, "{m} {path}");
            }
            assert_eq!(class(m, "/api/Grades"), RouteClass::GradesApi, "{m}");
        }
        // A login in the query string makes any request to the form's path a
        // submission; a plain GET is the login page.
        assert_eq!(class("GET", "/login"), RouteClass::LoginPage);
        assert!(matches!(
            class("GET", "/login?login=a&password=b"),
            RouteClass::LoginSubmit { .. }
        ));
        assert!(matches!(
            class("POST", "/Login"),
            RouteClass::LoginSubmit { .. }
        ));
        assert!(matches!(
            class("PUT", "/login."),
            RouteClass::LoginSubmit { .. }
        ));
        // Query routes: any value of a repeated parameter counts.
        assert_eq!(
            class("GET", "/index.php?page=x&page=Grades"),
            RouteClass::GradesHtml
        );
        assert_eq!(
            class("GET", "/index.php?page=grades&page=x"),
            RouteClass::GradesHtml
        );
        assert_eq!(class("GET", "/index.php?page=other"), RouteClass::Default);
        assert_eq!(class("GET", "/index.php"), RouteClass::Default);
    }

    fn role_strategy() -> impl Strategy<Value = Option<PolicyRole>> {
        prop_oneof![
            Just(None),
            Just(Some(PolicyRole::Staff)),
            Just(Some(PolicyRole::Parent)),
            Just(Some(PolicyRole::Student14Plus)),
            Just(Some(PolicyRole::StudentUnder14)),
        ]
    }

    fn session_strategy() -> impl Strategy<Value = SessionKind> {
        prop_oneof![
            Just(SessionKind::Esia { trusted: true }),
            Just(SessionKind::Esia { trusted: false }),
            Just(SessionKind::Password),
            Just(SessionKind::Anonymous),
        ]
    }

    fn route_strategy() -> impl Strategy<Value = RouteClass> {
        prop_oneof![
            Just(RouteClass::GradesHtml),
            Just(RouteClass::GradesApi),
            Just(RouteClass::LoginPage),
            Just(RouteClass::LoginSubmit {
                login_field: "login".into(),
                password_field: "password".into()
            }),
            Just(RouteClass::Public),
            Just(RouteClass::Default),
            "[a-z]{1,8}".prop_map(RouteClass::Other),
        ]
    }

    fn date_strategy() -> impl Strategy<Value = NaiveDate> {
        // 2000-01-01 .. 2040-12-31, dense around the seeds' dates.
        (0i64..15_000).prop_map(|n| d("2000-01-01") + chrono::Duration::days(n))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every role × session × trust × date × route gets exactly one
        /// decision (the function returns, without panicking), and the
        /// decision is consistent with the stage it names.
        #[test]
        fn the_evaluator_is_total(
            which in 0usize..5,
            role in role_strategy(),
            session in session_strategy(),
            route in route_strategy(),
            date in date_strategy(),
            existing_user in any::<bool>(),
        ) {
            let src = [YAROSLAVL, IRKUTSK, VORONEZH, ARKHANGELSK, SHADOW][which];
            let p = policy(src);
            let input = Input { date, route: route.clone(), session, role, existing_user };
            let once = decide(&p, &input);
            prop_assert_eq!(&once, &decide(&p, &input));
            let out = evaluate(&p, &input);
            prop_assert!(out.enforced.enforce);
            match &out.shadow {
                Some(s) => prop_assert!(!s.enforce),
                None => prop_assert_eq!(&out.enforced, &once),
            }
            match &once.stage {
                None => prop_assert_eq!(&once.action, &Action::Show),
                Some(name) => {
                    let stage = p.stages.iter().find(|s| s.name == *name);
                    prop_assert!(stage.is_some());
                    if let Some(stage) = stage {
                        prop_assert!(stage.from <= date);
                        if let Some(r) = role { prop_assert!(stage.roles.contains(r)); }
                    }
                }
            }
            // Only pages get banners, and only for sessions not from ESIA.
            if once.banner.is_some() {
                prop_assert_eq!(&once.action, &Action::Show);
                let from_esia = matches!(session, SessionKind::Esia { .. });
                prop_assert!(!from_esia);
                prop_assert!(route != RouteClass::GradesApi);
            }
            if route == RouteClass::Public {
                prop_assert_eq!(&once.action, &Action::Show);
            }
            if once.action == Action::ConfirmAccount {
                prop_assert_eq!(session, SessionKind::Esia { trusted: false });
            }
        }
    }

    #[test]
    fn every_combination_on_the_seeds_dates_gets_a_decision() {
        let dates = [
            "2017-09-28",
            "2017-09-29",
            "2018-09-30",
            "2018-10-01",
            "2018-11-30",
            "2018-12-01",
            "2018-12-31",
            "2019-01-01",
            "2024-06-30",
            "2024-07-01",
        ];
        let routes = [
            RouteClass::GradesHtml,
            RouteClass::GradesApi,
            RouteClass::LoginPage,
            RouteClass::LoginSubmit {
                login_field: "login".into(),
                password_field: "password".into(),
            },
            RouteClass::Public,
            RouteClass::Default,
        ];
        let roles = [None]
            .into_iter()
            .chain(PolicyRole::ALL.into_iter().map(Some))
            .collect::<Vec<_>>();
        let sessions = [
            ESIA,
            ESIA_UNCONFIRMED,
            SessionKind::Password,
            SessionKind::Anonymous,
        ];
        let mut count = 0;
        for src in [YAROSLAVL, IRKUTSK, VORONEZH, ARKHANGELSK] {
            let p = policy(src);
            for date in dates {
                for route in &routes {
                    for role in &roles {
                        for session in sessions {
                            for existing_user in [false, true] {
                                let input = Input {
                                    date: d(date),
                                    route: route.clone(),
                                    session,
                                    role: *role,
                                    existing_user,
                                };
                                let _ = evaluate(&p, &input);
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(count, 4 * 10 * 6 * 5 * 4 * 2);
    }
}
