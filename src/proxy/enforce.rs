//! The region's policy on the diary's own routes: who is asking (ESIA
//! session, password session, anonymous), which route class, which date in
//! the region, and then the one decision the pure evaluator gives. Password
//! sessions are learned here too: a login form submission is read (and
//! passed on unchanged), and the diary's session cookie it earns is tied to
//! that login.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::diary_check::login_succeeded;
use super::diary_forms::{
    DiaryCookie, FormProblem, cookie_name_key, diary_cookie, is_urlencoded, login_of,
};
use super::login::Reply;
use super::{Ctx, Gateway};
use crate::identity::{LegacyLogin, Role};
use crate::pages;
use crate::policy::routes::form_params;
use crate::policy::slot::ActivePolicy;
use crate::policy::{
    Action, BodyParams, Decision, Input, PolicyRole, RouteClass, RouteRequest, SessionKind,
    evaluate,
};
use crate::store::{LoginMethod, LoginRecord};
use crate::telemetry::metrics;

/// What the response side must do for this request.
#[derive(Default)]
pub struct Injection {
    pub banner: Option<Arc<str>>,
    pub esia_button: bool,
    pub button_after: Option<String>,
    /// The gateway's account bar (switch account or child, log out) for an
    /// ESIA session with more than one account or with children.
    pub account_bar: Option<String>,
}

impl Injection {
    pub fn any(&self) -> bool {
        self.banner.is_some() || self.esia_button || self.account_bar.is_some()
    }
}

/// Largest body the gateway reads (a login form, or a form whose
/// parameters route a query-routed diary): what Pingora's retry buffer
/// keeps, so a body read here still reaches the diary unchanged.
const MAX_FORM_BODY: usize = 64 * 1024;

pub fn cookie_hash(value: &str) -> String {
    hex::encode(openssl::sha::sha256(value.as_bytes()))
}

fn policy_role(role: Role, birth: Option<NaiveDate>, on: NaiveDate) -> Option<PolicyRole> {
    PolicyRole::from(role.as_str(), birth, on)
}

/// The diary session a request carries, as far as the gateway knows it.
enum DiarySession {
    None,
    /// A password session the gateway saw log in.
    Known(LegacyLogin),
    /// A diary cookie it cannot attribute (reason for the metric).
    Unknown(&'static str),
}

/// A request body read for the policy.
enum Body {
    /// Read whole, and kept for the diary in Pingora's retry buffer.
    Read(Vec<u8>),
    /// Not read: larger than the gateway reads (its `Content-Length` said
    /// so), or of a type the gateway does not parse. Still intact for the
    /// diary.
    Unread,
    /// Partly read and lost to the diary: the request must be answered by
    /// the gateway.
    Broken(FormProblem),
}

impl Gateway {
    fn policy_date(&self, p: &ActivePolicy) -> NaiveDate {
        match &self.rehearse_date {
            Some(d) => **d.load(),
            None => p.policy.local_date((self.clock)()),
        }
    }

    fn role_of(&self, login: &LegacyLogin, on: NaiveDate) -> Option<PolicyRole> {
        let dir = self.directory.load();
        let a = dir.by_login(&login.0)?;
        policy_role(a.role, a.birth_date, on)
    }

    /// The diary's own session: known when the gateway saw its login,
    /// unknown when the cookie is new to it, sent twice, or the store
    /// cannot say.
    async fn diary_session(&self, cookies: &str, request_id: &str) -> DiarySession {
        let Some(name) = self.cfg.settings.upstream.session_cookie.as_ref() else {
            return DiarySession::None;
        };
        let value = match diary_cookie(cookies, name) {
            DiaryCookie::Absent => return DiarySession::None,
            DiaryCookie::Ambiguous => return DiarySession::Unknown("ambiguous"),
            DiaryCookie::One(v) if v.len() > 4096 => return DiarySession::Unknown("unknown"),
            DiaryCookie::One(v) => v,
        };
        match self.store.cookie_login(&cookie_hash(value)).await {
            Ok(Some(login)) => DiarySession::Known(login),
            Ok(None) => DiarySession::Unknown("unknown"),
            Err(e) => {
                tracing::error!(request_id, error = %e, "password session look-up failed");
                DiarySession::Unknown("store_error")
            }
        }
    }

    /// Read a request body for the policy without losing it: it is kept in
    /// Pingora's retry buffer and sent to the diary as it came.
    async fn read_body(session: &mut Session) -> Body {
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_FORM_BODY) {
            return Body::Unread;
        }
        session.as_downstream_mut().enable_retry_buffering();
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_FORM_BODY {
                        return Body::Broken(FormProblem::TooLarge);
                    }
                }
                Ok(None) => return Body::Read(body),
                Err(_) => return Body::Broken(FormProblem::Unreadable),
            }
        }
    }

    /// Decide a diary request under the policy. `None`: proxy it (with
    /// `ctx` telling what to inject and learn); `Some(reply)`: answer
    /// instead.
    pub(crate) async fn enforce(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        p: &ActivePolicy,
    ) -> Option<Reply> {
        let req = session.req_header();
        let method = req.method.as_str().to_string();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        let target = req
            .uri
            .path_and_query()
            .map(|x| x.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let content_type = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let navigation = Self::is_navigation(req);
        let date = self.policy_date(p);
        let rid = ctx.request_id.clone();
        let pol = &p.policy;

        // A query-routed diary may take its routing parameters from a form
        // body as well (PHP's `$_REQUEST`).
        let mut body = None;
        if pol.needs_body(&method, &path) {
            body = Some(if is_urlencoded(content_type.as_deref()) {
                Self::read_body(session).await
            } else {
                Body::Unread
            });
        }
        let body_params = match &body {
            Some(Body::Read(b)) => Some(form_params(b, pol.case_insensitive_paths)),
            _ => None,
        };
        let route = pol.classify(&RouteRequest {
            method: &method,
            path: &path,
            query: query.as_deref(),
            body: match (&body, &body_params) {
                (None, _) => BodyParams::None,
                (Some(_), Some(params)) => BodyParams::Form(params),
                (Some(_), None) => BodyParams::Unreadable,
            },
        });
        // Class names are the policy's own, so the label stays bounded.
        ctx.route = route.name().to_string().into();

        // Who is asking.
        let (mut kind, mut role, mut existing_user) = match &ctx.session {
            Some(s) if s.active.is_some() => {
                let role = s.active.as_ref().and_then(|l| self.role_of(l, date));
                (SessionKind::Esia { trusted: s.trusted }, role, true)
            }
            _ => match self.diary_session(&ctx.cookies, &rid).await {
                DiarySession::Known(login) => {
                    let role = self.role_of(&login, date);
                    ctx.password_session = Some(login);
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
        // A login form submission is a password login of the named account,
        // read strictly; a form the gateway cannot read unambiguously never
        // reaches the diary.
        if let RouteClass::LoginSubmit {
            login_field,
            password_field,
        } = &route
        {
            if body.is_none() {
                body = Some(if is_urlencoded(content_type.as_deref()) {
                    Self::read_body(session).await
                } else {
                    Body::Broken(FormProblem::ContentType)
                });
            }
            let read = match &body {
                Some(Body::Read(b)) => login_of(
                    content_type.as_deref(),
                    query.as_deref(),
                    b,
                    login_field,
                    password_field,
                ),
                Some(Body::Broken(problem)) => Err(*problem),
                _ => Err(FormProblem::TooLarge),
            };
            match read {
                Ok(login) => {
                    let login = login.map(LegacyLogin);
                    existing_user = match &login {
                        Some(l) => self.store.has_logged_in(l).await.unwrap_or(false),
                        None => false,
                    };
                    role = login.as_ref().and_then(|l| self.role_of(l, date));
                    kind = SessionKind::Password;
                    ctx.password_attempt = login;
                    ctx.login_form = true;
                    ctx.login_path = path.clone();
                }
                Err(problem) => return Some(self.refuse_form(ctx, problem, navigation)),
            }
        } else if let Some(Body::Broken(problem)) = body {
            // Part of the body is gone: the diary would wait for the rest.
            return Some(self.refuse_form(ctx, problem, navigation));
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
        if let Some(shadow) = &outcome.shadow {
            m.policy_decisions
                .with_label_values(&[shadow.action.name(), route.name(), "shadow", role_label])
                .inc();
            if shadow.action != outcome.enforced.action {
                // Who would lose what on the cut-over date, by school: the
                // region's list of people still to move to ESIA.
                let who = ctx
                    .password_session
                    .as_ref()
                    .or(ctx.password_attempt.as_ref());
                let school = who
                    .and_then(|l| {
                        self.directory
                            .load()
                            .by_login(&l.0)
                            .map(|a| a.school.clone())
                    })
                    .unwrap_or_default();
                tracing::info!(target: "audit", event = "policy_shadow", request_id = %rid,
                    action = shadow.action.name(), route = route.name(),
                    stage = shadow.stage.as_deref().unwrap_or("-"),
                    session = kind.name(), role = role_label, school = %school,
                    login = who.map(|l| l.0.as_str()).unwrap_or("-"));
            }
        }
        let d = outcome.enforced;
        m.policy_decisions
            .with_label_values(&[d.action.name(), route.name(), "enforce", role_label])
            .inc();
        self.act(ctx, &d, &route, &target, navigation, p)
    }

    /// Answer a diary login form (or a routing form) the gateway cannot
    /// read unambiguously: a page saying what to do, counted and logged.
    fn refuse_form(&self, ctx: &Ctx, problem: FormProblem, navigation: bool) -> Reply {
        metrics::get()
            .login_forms
            .with_label_values(&[problem.label()])
            .inc();
        tracing::warn!(request_id = %ctx.request_id, problem = problem.label(),
            "diary form refused: the gateway cannot read it unambiguously");
        let page = pages::policy::form_refused(problem == FormProblem::TooLarge);
        if navigation {
            Reply::Page {
                page,
                cookies: Vec::new(),
            }
        } else {
            Reply::Json {
                status: page.status,
                body: serde_json::json!({"error": "form_refused", "reason": problem.label()})
                    .to_string(),
            }
        }
    }

    fn act(
        &self,
        ctx: &mut Ctx,
        d: &Decision,
        route: &RouteClass,
        path: &str,
        navigation: bool,
        p: &ActivePolicy,
    ) -> Option<Reply> {
        let blocked = |event: &str| {
            tracing::info!(target: "audit", event, request_id = %ctx.request_id,
                action = d.action.name(), route = route.name(),
                stage = d.stage.as_deref().unwrap_or("-"),
                login = ctx.password_session.as_ref().or(ctx.password_attempt.as_ref()).map(|l| l.0.as_str()).unwrap_or("-"));
        };
        let to_esia = |path: &str| Reply::Redirect {
            location: pages::login_href(path),
            cookies: Vec::new(),
        };
        let unauthorized = || Reply::Json {
            status: 401,
            body: serde_json::json!({"error": "unauthorized", "login": pages::login_href("/")})
                .to_string(),
        };
        match &d.action {
            Action::Show => {
                ctx.injection.banner = d.banner.clone();
                ctx.injection.esia_button = d.inject_esia_button;
                ctx.injection.button_after = p.policy.esia_button_after.clone();
                None
            }
            Action::Login => Some(if navigation {
                to_esia(path)
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
                    Reply::Json {
                        status: 401,
                        body: serde_json::json!({"error": "login_required", "login": href})
                            .to_string(),
                    }
                })
            }
            Action::Hide { page } => {
                blocked("policy_block");
                Some(if *route == RouteClass::GradesApi || !navigation {
                    Reply::Json {
                        status: 403,
                        body: serde_json::json!({
                            "error": "grades_closed",
                            "message": page.title,
                            "login": pages::login_href(path),
                        })
                        .to_string(),
                    }
                } else {
                    Reply::Page {
                        page: pages::policy::grades_closed(page, &pages::login_href(path)),
                        cookies: Vec::new(),
                    }
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
                // The form submission never reaches the diary; the person is
                // sent to ESIA (the banner on the login page says why).
                Some(if navigation {
                    Reply::Redirect {
                        location: pages::login_href("/"),
                        cookies: Vec::new(),
                    }
                } else {
                    Reply::Page {
                        page: pages::policy::password_login_closed(&pages::login_href("/")),
                        cookies: Vec::new(),
                    }
                })
            }
            Action::ConfirmAccount => {
                blocked("policy_block");
                Some(if navigation {
                    Reply::Page {
                        page: pages::policy::confirm_account(),
                        cookies: Vec::new(),
                    }
                } else {
                    Reply::Json {
                        status: 403,
                        body: serde_json::json!({"error": "esia_account_not_confirmed"})
                            .to_string(),
                    }
                })
            }
        }
    }

    /// The diary's answer to a login form the gateway passed on: when the
    /// diary's success rule says the login worked, tie the diary session
    /// (the cookie it sets, or the one the browser already had) to the
    /// login, durably, for the diary's session lifetime.
    pub(crate) async fn learn_password_session(&self, resp: &ResponseHeader, ctx: &Ctx) {
        let rid = ctx.request_id.as_str();
        let (Some(name), Some(rule)) = (
            self.cfg.settings.upstream.session_cookie.as_ref(),
            self.cfg.login_rule.as_ref(),
        ) else {
            return;
        };
        let set_cookies: Vec<String> = resp
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let location = resp
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        let m = metrics::get();
        if !login_succeeded(
            rule,
            resp.status.as_u16(),
            location,
            &ctx.login_path,
            &set_cookies,
        ) {
            m.login_forms.with_label_values(&["failed"]).inc();
            return;
        }
        m.login_forms.with_label_values(&["succeeded"]).inc();
        let Some(login) = ctx.password_attempt.as_ref() else {
            tracing::warn!(
                request_id = rid,
                "a diary login without a login field succeeded; its session stays unattributed"
            );
            return;
        };
        let set = set_cookies.iter().find_map(|c| {
            let (k, v) = c.split(';').next()?.split_once('=')?;
            let v = v.trim().trim_matches('"');
            (cookie_name_key(k) == cookie_name_key(name) && !v.is_empty()).then_some(v)
        });
        let value = match (set, diary_cookie(&ctx.cookies, name)) {
            (Some(v), _) => v,
            // Diaries that keep the session they had before the login.
            (None, DiaryCookie::One(v)) => v,
            _ => {
                tracing::warn!(
                    request_id = rid,
                    "the diary's login answer names no session cookie; the session stays unattributed"
                );
                return;
            }
        };
        let ttl = Duration::from_secs(self.cfg.settings.upstream.session_lifetime_seconds);
        if let Err(e) = self
            .store
            .put_cookie_login(&cookie_hash(value), login, ttl)
            .await
        {
            tracing::error!(request_id = rid, error = %e, "cannot remember a password session");
            return;
        }
        let r = LoginRecord {
            login: login.clone(),
            method: LoginMethod::Password,
            at: (self.clock)().timestamp(),
        };
        if let Err(e) = self.store.record_login(&r).await {
            tracing::error!(request_id = rid, error = %e, "cannot record the password login");
        }
        m.logins.with_label_values(&["password"]).inc();
        let role = self.directory.load().by_login(&login.0).map(|a| a.role);
        m.account_logins
            .with_label_values(&["password", crate::identity::Role::label(role)])
            .inc();
        tracing::info!(target: "audit", event = "password_login", request_id = rid, login = %login);
    }
}
