//! The policy's answer for one request: a pure, total function of the
//! policy, the region's local date, the route class, the kind of session,
//! the role and whether the account has logged in before. No clock, no I/O;
//! exactly one [`Decision`] for every input.
//!
//! Here: the question ([`Input`], [`SessionKind`]) and the evaluation; the
//! answer's types are in `decision`.

mod decision;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;

use super::model::{
    PasswordLogin, Policy, PolicyRole, RouteClass, Stage, Trust, TrustLevel, Visibility,
};

pub use decision::{Action, Decision, Outcome, Reason};

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
    /// A gateway session opened through ESIA, with the account's level.
    Esia { level: TrustLevel },
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

/// The least trust some role is let in with on `date` by the stages that
/// enforce (`any` for a role no stage names yet). An ESIA person below it
/// cannot use any diary account, whatever its role: such a person is told
/// how to raise the account before being asked to link one by password.
pub fn least_trust(policy: &Policy, date: NaiveDate) -> Trust {
    PolicyRole::ALL
        .into_iter()
        .map(|r| {
            policy
                .stage_for(Some(r), date, |s| s.enforce)
                .map_or(Trust::Any, |s| s.trust)
        })
        .min()
        .unwrap_or(Trust::Any)
}

/// How far a decision keeps a request from the diary, to pick the strictest.
fn strictness(a: &Action) -> u8 {
    match a {
        Action::Show => 0,
        Action::Rewrite { .. } => 1,
        Action::Hide { .. } | Action::ConfirmAccount { .. } => 2,
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
    // The banner goes into pages, never API answers. A login form's answer
    // is a page when the login failed (the form again, with its error):
    // it gets the banner and the button, as the login page does.
    let page_route = !matches!(input.route, RouteClass::GradesApi);
    let not_esia = !matches!(input.session, SessionKind::Esia { .. });
    match (&input.route, input.session) {
        (RouteClass::Public, _) => show(Reason::PublicRoute, false, false),
        // A login form submission is a password login attempt by the account
        // in the login field, whatever session the browser already has.
        (RouteClass::LoginSubmit { .. }, _) => match stage.password_login {
            PasswordLogin::Allowed => show(Reason::PasswordLoginAllowed, not_esia, not_esia),
            PasswordLogin::ExistingUsers if input.existing_user => {
                show(Reason::ExistingUserPasswordLogin, not_esia, not_esia)
            }
            PasswordLogin::ExistingUsers => {
                other(Action::DenyPasswordLogin, Reason::NewUserMustUseEsia)
            }
            PasswordLogin::Denied => other(Action::DenyPasswordLogin, Reason::PasswordLoginDenied),
        },
        (_, SessionKind::Esia { level }) => {
            if !stage.trust.admits(level) {
                other(
                    Action::ConfirmAccount { need: stage.trust },
                    Reason::EsiaBelowTrust,
                )
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
