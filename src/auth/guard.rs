//! The policy on one request to the diary: who is asking (a gateway
//! session, a password session, an unattributed diary cookie, nobody),
//! which route class (read on the canonical path, and on a form body where
//! the diary reads one), which date in the region, and then the one
//! decision the pure evaluator gives, as an answer or as what to insert
//! into the diary's page. A login form submission is read strictly: one
//! the gateway cannot read unambiguously never reaches the diary.
//! Without a policy every diary route needs a gateway session.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::Auth;
use super::diary_forms::{FormProblem, is_urlencoded, login_of};
use super::error::{BadInput, GateError, Step};
use super::password::{DiarySession, LoginAttempt};
use super::reply::Reply;
use crate::identity::LegacyLogin;
use crate::pages;
use crate::policy::routes::form_params;
use crate::policy::slot::ActivePolicy;
use crate::policy::{
    Action, BodyParams, Decision, Input, PolicyRole, RouteClass, RouteRequest, SessionKind,
    TrustLevel, evaluate,
};
use crate::store::SessionRecord;
use crate::telemetry::metrics;

/// A request to the diary, as plain values.
pub struct DiaryRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Path and query: where a login sends the person back to.
    pub target: &'a str,
    pub content_type: Option<&'a str>,
    /// A person on a page (gets pages and redirects), not a script (gets
    /// JSON and 401).
    pub navigation: bool,
    /// Whether the answer is shown as a page (where snippets may go).
    pub destination: Destination,
    /// The request's `Cookie` headers, joined.
    pub cookies: &'a str,
    pub request_id: &'a str,
}

/// A request body read for the policy.
pub enum Body {
    /// Read whole, and still whole for the diary.
    Read(Vec<u8>),
    /// Not read (larger than the gateway reads, as its `Content-Length`
    /// said, or of a type it does not parse): still intact for the diary.
    Unread,
    /// Partly read and lost to the diary: the gateway must answer.
    Broken(FormProblem),
}

/// Reads the request body once, when the policy needs it, keeping it for
/// the diary (the proxy knows how).
#[async_trait]
pub trait BodySource: Send {
    async fn read(&mut self) -> Body;
}

/// What the response side inserts into the diary's HTML: only into pages
/// a person opens, never into what a script or an image tag asks for.
#[derive(Default)]
pub struct Injection {
    pub banner: Option<Arc<str>>,
    pub esia_button: bool,
    pub button_after: Option<String>,
    /// The account bar (switch account or child, log out) for an ESIA
    /// session with more than one account or with children; built by the
    /// response side only for an HTML answer.
    pub account_bar: bool,
    /// The request did not say how its answer is used
    /// ([`Destination::Unknown`]): only an answer that starts like a whole
    /// document gets anything.
    pub only_whole_documents: bool,
}

impl Injection {
    pub fn any(&self) -> bool {
        self.banner.is_some() || self.esia_button || self.account_bar
    }
}

/// How the browser uses the answer, as the request's fetch metadata tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A page a person opens (a document, or a frame of a frameset).
    Page,
    /// A script's request (XHR, `fetch`), an image, a style sheet, an
    /// iframe's widget: never a place for the banner or the button.
    Subresource,
    /// No fetch metadata (an old browser, a tool): decided from the answer.
    Unknown,
}

/// From `Sec-Fetch-Mode`, `Sec-Fetch-Dest` and `X-Requested-With`. An
/// HTML fragment a script loads (a diary's menu) comes as `cors` or
/// `same-origin` with destination `empty`, or with `X-Requested-With` from
/// jQuery-era code.
pub fn destination(
    sec_fetch_mode: Option<&str>,
    sec_fetch_dest: Option<&str>,
    requested_with: Option<&str>,
) -> Destination {
    fn given(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    if given(requested_with).is_some() {
        return Destination::Subresource;
    }
    match given(sec_fetch_mode) {
        Some(mode) if mode.eq_ignore_ascii_case("navigate") => match given(sec_fetch_dest) {
            None => Destination::Page,
            Some(dest)
                if dest.eq_ignore_ascii_case("document") || dest.eq_ignore_ascii_case("frame") =>
            {
                Destination::Page
            }
            Some(_) => Destination::Subresource,
        },
        Some(_) => Destination::Subresource,
        None => Destination::Unknown,
    }
}

/// The guard's word on a diary request.
#[derive(Default)]
pub struct Verdict {
    /// The policy's route class (for metrics); `None` without a policy.
    pub route: Option<String>,
    /// Answer this instead of asking the diary.
    pub answer: Option<Reply>,
    pub injection: Injection,
    /// The diary session's login, when the gateway knows it.
    pub password_session: Option<LegacyLogin>,
    /// A login form submission passed on: its answer may teach a password
    /// session.
    pub login_form: Option<LoginAttempt>,
    /// The diary's own «Выйти»: the gateway session has ended; its answer
    /// clears the gateway's cookie and goes through ESIA's logout.
    pub logging_out: bool,
}

/// Who is asking, as the decision's answer needs it: the diary login (for
/// the audit line) and the kind of session (the confirmation page names
/// the account's level).
struct Asker<'a> {
    login: Option<&'a LegacyLogin>,
    session: SessionKind,
}

/// Navigation (a person on a page) or an API call (a script)? From
/// `Sec-Fetch-Mode` when the browser sends it, else from `Accept` and
/// `X-Requested-With`.
pub fn is_navigation(
    sec_fetch_mode: Option<&str>,
    accept: Option<&str>,
    requested_with: Option<&str>,
) -> bool {
    let lower = |v: Option<&str>| v.unwrap_or("").to_ascii_lowercase();
    let mode = lower(sec_fetch_mode);
    if !mode.is_empty() {
        return mode == "navigate";
    }
    let accept = lower(accept);
    let wants_json = accept.contains("application/json") && !accept.contains("text/html");
    !wants_json && lower(requested_with).is_empty()
}

fn unauthorized() -> Reply {
    Reply::json(
        401,
        serde_json::json!({"error": "unauthorized", "login": pages::login_href("/")}),
    )
}

impl Auth {
    /// Decide a diary request. `session` is the gateway session the
    /// request's cookies name, if alive.
    pub async fn guard(
        &self,
        req: &DiaryRequest<'_>,
        session: Option<&SessionRecord>,
        policy: Option<&ActivePolicy>,
        body: &mut dyn BodySource,
    ) -> Verdict {
        if session.is_some() && self.is_diary_logout(req.path, req.query) {
            // Passed on (the diary ends its own session), never blocked.
            self.end_session(req.cookies, req.request_id, "diary").await;
            return Verdict {
                logging_out: true,
                ..Verdict::default()
            };
        }
        if let Some(s) = session.filter(|s| s.active.is_none() && req.navigation) {
            // Logged in at ESIA, but no account chosen or linked yet.
            return Verdict {
                answer: Some(Reply::redirect(self.next_step(s))),
                ..Verdict::default()
            };
        }
        let mut verdict = match policy {
            Some(p) => self.enforce(req, session, p, body).await,
            None if session.is_some_and(|s| s.active.is_some()) => Verdict::default(),
            // Without a policy every diary route needs a gateway session.
            None if req.navigation => Verdict {
                answer: Some(Reply::redirect(pages::login_href(req.target))),
                ..Verdict::default()
            },
            None => Verdict {
                answer: Some(unauthorized()),
                ..Verdict::default()
            },
        };
        if verdict.answer.is_none() {
            // Without fetch metadata, a script's request (JSON only, or
            // `X-Requested-With`) is no page either.
            let destination = match req.destination {
                Destination::Unknown if !req.navigation => Destination::Subresource,
                d => d,
            };
            match destination {
                Destination::Subresource => verdict.injection = Injection::default(),
                d => {
                    verdict.injection.account_bar = session.is_some_and(Self::has_account_bar);
                    verdict.injection.only_whole_documents = d == Destination::Unknown;
                }
            }
        }
        verdict
    }

    pub(super) fn policy_date(&self, p: &ActivePolicy) -> NaiveDate {
        match &self.rehearsal {
            Some(d) => **d.load(),
            None => p.policy.local_date(self.now()),
        }
    }

    fn role_of(&self, login: &LegacyLogin, on: NaiveDate) -> Option<PolicyRole> {
        let dir = self.directory.load();
        let a = dir.by_login(&login.0)?;
        PolicyRole::from(a.role.as_str(), a.birth_date, on)
    }

    /// Read the body for the policy: forms only, anything else intact.
    async fn form_body(req: &DiaryRequest<'_>, body: &mut dyn BodySource, other: Body) -> Body {
        if is_urlencoded(req.content_type) {
            body.read().await
        } else {
            other
        }
    }

    async fn enforce(
        &self,
        req: &DiaryRequest<'_>,
        session: Option<&SessionRecord>,
        p: &ActivePolicy,
        source: &mut dyn BodySource,
    ) -> Verdict {
        let pol = &p.policy;
        let date = self.policy_date(p);
        let mut v = Verdict::default();
        // A query-routed diary may take its routing parameters from a form
        // body as well (PHP's `$_REQUEST`).
        let mut body = None;
        if pol.needs_body(req.method, req.path) {
            body = Some(Self::form_body(req, source, Body::Unread).await);
        }
        let body_params = match &body {
            Some(Body::Read(b)) => Some(form_params(b, pol.case_insensitive_paths)),
            _ => None,
        };
        let route = pol.classify(&RouteRequest {
            method: req.method,
            path: req.path,
            query: req.query,
            body: match (&body, &body_params) {
                (None, _) => BodyParams::None,
                (Some(_), Some(params)) => BodyParams::Form(params),
                (Some(_), None) => BodyParams::Unreadable,
            },
        });
        // Class names are the policy's own, so the label stays bounded.
        v.route = Some(route.name().to_string());

        // Who is asking.
        let (mut kind, mut role, mut existing_user) = match session {
            Some(s) if s.active.is_some() => {
                let role = s.active.as_ref().and_then(|l| self.role_of(l, date));
                let level = s.trust_level();
                (SessionKind::Esia { level }, role, true)
            }
            _ => match self.diary_session(req.cookies, req.request_id).await {
                DiarySession::Known(login) => {
                    let role = self.role_of(&login, date);
                    v.password_session = Some(login);
                    (SessionKind::Password, role, true)
                }
                DiarySession::Unknown(reason) => {
                    metrics::get()
                        .unattributed
                        .with_label_values(&[reason])
                        .inc();
                    (SessionKind::Unattributed, None, false)
                }
                DiarySession::None => (SessionKind::Anonymous, None, false),
            },
        };
        let refuse = |problem: FormProblem| {
            let err = GateError::BadInput(BadInput::FormRefused(problem));
            let step = Step::Diary {
                navigation: req.navigation,
            };
            self.fail(step, &err, req.request_id)
        };
        // A login form submission is a password login of the named account,
        // read strictly; a form the gateway cannot read unambiguously never
        // reaches the diary.
        if let RouteClass::LoginSubmit {
            login_field,
            password_field,
        } = &route
        {
            if body.is_none() {
                body = Some(
                    Self::form_body(req, source, Body::Broken(FormProblem::ContentType)).await,
                );
            }
            let read = match &body {
                Some(Body::Read(b)) => {
                    login_of(req.content_type, req.query, b, login_field, password_field)
                }
                Some(Body::Broken(problem)) => Err(*problem),
                _ => Err(FormProblem::TooLarge),
            };
            match read {
                Ok(login) => {
                    let login = login.map(LegacyLogin);
                    // Logged in before: as the gateway saw it, or as the
                    // diary's directory says (from the gateway's first day).
                    existing_user = match &login {
                        Some(l) => {
                            self.directory
                                .load()
                                .by_login(&l.0)
                                .is_some_and(|a| a.logged_in_before)
                                || self.store.has_logged_in(l).await.unwrap_or(false)
                        }
                        None => false,
                    };
                    role = login.as_ref().and_then(|l| self.role_of(l, date));
                    kind = SessionKind::Password;
                    v.login_form = Some(LoginAttempt {
                        login,
                        path: req.path.to_string(),
                    });
                }
                Err(problem) => {
                    v.answer = Some(refuse(problem));
                    return v;
                }
            }
        } else if let Some(Body::Broken(problem)) = body {
            // Part of the body is gone: the diary would wait for the rest.
            v.answer = Some(refuse(problem));
            return v;
        }

        let input = Input {
            date,
            route: route.clone(),
            session: kind,
            role,
            existing_user,
        };
        let outcome = evaluate(pol, &input);
        let m = metrics::get();
        let role_label = role.map(|r| r.as_str()).unwrap_or("unknown");
        let who = v
            .password_session
            .clone()
            .or_else(|| v.login_form.as_ref().and_then(|a| a.login.clone()));
        if let Some(shadow) = &outcome.shadow {
            m.policy_decisions
                .with_label_values(&[shadow.action.name(), route.name(), "shadow", role_label])
                .inc();
            if shadow.action != outcome.enforced.action {
                // Who would lose what on the cut-over date, by school: the
                // region's list of people still to move to ESIA.
                let school = who
                    .as_ref()
                    .and_then(|l| {
                        self.directory
                            .load()
                            .by_login(&l.0)
                            .map(|a| a.school.clone())
                    })
                    .unwrap_or_default();
                tracing::info!(target: "audit", event = "policy_shadow", request_id = %req.request_id,
                    action = shadow.action.name(), route = route.name(),
                    stage = shadow.stage.as_deref().unwrap_or("-"),
                    session = kind.name(), role = role_label, school = %school,
                    login = who.as_ref().map(|l| l.0.as_str()).unwrap_or("-"));
            }
        }
        let d = outcome.enforced;
        m.policy_decisions
            .with_label_values(&[d.action.name(), route.name(), "enforce", role_label])
            .inc();
        let asker = Asker {
            login: who.as_ref(),
            session: kind,
        };
        v.answer = self.act(&d, &route, req, &asker, p, &mut v.injection);
        v
    }

    /// The decision as an answer (`None`: on to the diary, with what to
    /// insert into its page).
    fn act(
        &self,
        d: &Decision,
        route: &RouteClass,
        req: &DiaryRequest<'_>,
        asker: &Asker<'_>,
        p: &ActivePolicy,
        injection: &mut Injection,
    ) -> Option<Reply> {
        let who = asker.login;
        let blocked = |event: &str| {
            tracing::info!(target: "audit", event, request_id = %req.request_id,
                action = d.action.name(), route = route.name(),
                stage = d.stage.as_deref().unwrap_or("-"),
                login = who.map(|l| l.0.as_str()).unwrap_or("-"));
        };
        let path = req.target;
        let navigation = req.navigation;
        match &d.action {
            Action::Show => {
                injection.banner = d.banner.clone();
                injection.esia_button = d.inject_esia_button;
                injection.button_after = p.policy.esia_button_after.clone();
                None
            }
            Action::Login => Some(if navigation {
                Reply::redirect(pages::login_href(path))
            } else {
                unauthorized()
            }),
            Action::Relogin { href } => {
                blocked("policy_relogin");
                // Without the cookie it could not attribute, the diary shows
                // its login form instead of sending a logged-in browser back.
                Some(if navigation {
                    Reply::Redirect {
                        location: href.clone(),
                        cookies: self
                            .cfg
                            .settings
                            .upstream
                            .session_cookie
                            .iter()
                            .map(|c| self.expired_cookie(c, "/"))
                            .collect(),
                    }
                } else {
                    Reply::json(
                        401,
                        serde_json::json!({"error": "login_required", "login": href}),
                    )
                })
            }
            Action::Hide { page } => {
                blocked("policy_block");
                Some(if *route == RouteClass::GradesApi || !navigation {
                    Reply::json(
                        403,
                        serde_json::json!({
                            "error": "grades_closed",
                            "message": page.title,
                            "login": pages::login_href(path),
                        }),
                    )
                } else {
                    Reply::page(pages::policy::grades_closed(page, &pages::login_href(path)))
                })
            }
            Action::Rewrite {
                status,
                content_type,
                body,
            } => {
                blocked("policy_rewrite");
                Some(Reply::Raw {
                    status: *status,
                    content_type: content_type.clone(),
                    body: body.clone(),
                })
            }
            Action::DenyPasswordLogin => {
                blocked("policy_block");
                // The form submission never reaches the diary. A person
                // reads why, with the button to log in through ESIA; a
                // script gets the same as JSON.
                Some(if navigation {
                    Reply::page(pages::policy::password_login_closed(
                        &pages::login_href("/"),
                        &p.policy.closed_page.alternatives,
                    ))
                } else {
                    Reply::json(
                        403,
                        serde_json::json!({
                            "error": "password_login_closed",
                            "login": pages::login_href("/"),
                        }),
                    )
                })
            }
            Action::ConfirmAccount { need } => {
                blocked("policy_block");
                let level = match asker.session {
                    SessionKind::Esia { level } => level,
                    _ => TrustLevel::Simplified,
                };
                Some(if navigation {
                    Reply::page(self.confirm_page(Some(p), *need, level))
                } else {
                    Reply::json(
                        403,
                        serde_json::json!({
                            "error": "esia_account_not_confirmed",
                            "trust": need.as_str(),
                        }),
                    )
                })
            }
        }
    }
}
