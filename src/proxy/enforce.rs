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

use super::headers::cookie_value;
use super::login::Reply;
use super::{Ctx, Gateway};
use crate::admin::metrics;
use crate::config::policy::ActivePolicy;
use crate::identity::{LegacyLogin, Role};
use crate::pages;
use crate::policy::{Action, Decision, Input, PolicyRole, RouteClass, SessionKind, evaluate};
use crate::store::{LoginMethod, LoginRecord};

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

/// Largest login form body the gateway reads to learn the login.
const MAX_LOGIN_FORM: usize = 64 * 1024;

pub fn cookie_hash(value: &str) -> String {
    hex::encode(openssl::sha::sha256(value.as_bytes()))
}

fn policy_role(role: Role, birth: Option<NaiveDate>, on: NaiveDate) -> Option<PolicyRole> {
    PolicyRole::from(role.as_str(), birth, on)
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

    /// The diary's own session, when the gateway saw its login.
    async fn password_login(&self, cookies: &str, request_id: &str) -> Option<LegacyLogin> {
        let name = self.cfg.settings.upstream.session_cookie.as_ref()?;
        let value = cookie_value(cookies, name).filter(|v| !v.is_empty() && v.len() <= 4096)?;
        match self.store.cookie_login(&cookie_hash(value)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(request_id, error = %e, "password session look-up failed");
                None
            }
        }
    }

    /// Read a login form submission without losing it: the body is kept in
    /// Pingora's retry buffer and sent to the diary as it came.
    async fn login_field(session: &mut Session, field: &str) -> Option<String> {
        session.as_downstream_mut().enable_retry_buffering();
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_LOGIN_FORM {
                        return None;
                    }
                }
                Ok(None) => break,
                Err(_) => return None,
            }
        }
        super::forms::parse_form(&body)
            .remove(field)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
    }

    /// Decide a diary request under the policy. `Ok(None)`: proxy it (with
    /// `ctx` telling what to inject); `Ok(Some(reply))`: answer instead.
    pub(crate) async fn enforce(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        p: &ActivePolicy,
    ) -> Option<Reply> {
        let req = session.req_header();
        let method = req.method.as_str().to_string();
        let path = req
            .uri
            .path_and_query()
            .map(|x| x.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let navigation = Self::is_navigation(req);
        let date = self.policy_date(p);
        let route = p.policy.classify(&method, &path);
        // Class names are the policy's own, so the label stays bounded.
        ctx.route = route.name().to_string().into();
        let rid = ctx.request_id.clone();

        // Who is asking.
        let (kind, role, mut existing_user) = match &ctx.session {
            Some(s) if s.active.is_some() => {
                let role = s.active.as_ref().and_then(|l| self.role_of(l, date));
                (SessionKind::Esia { trusted: s.trusted }, role, true)
            }
            _ => match self.password_login(&ctx.cookies, &rid).await {
                Some(login) => {
                    let role = self.role_of(&login, date);
                    ctx.password_session = Some(login);
                    (SessionKind::Password, role, true)
                }
                None => (SessionKind::Anonymous, None, false),
            },
        };
        // A login form submission is a password login of the named account.
        let (kind, role) = if let RouteClass::LoginSubmit { login_field } = &route {
            match Self::login_field(session, login_field).await {
                Some(login) => {
                    let login = LegacyLogin(login);
                    existing_user = self.store.has_logged_in(&login).await.unwrap_or(false);
                    let role = self.role_of(&login, date);
                    ctx.password_attempt = Some(login);
                    (SessionKind::Password, role)
                }
                None => (SessionKind::Password, None),
            }
        } else {
            (kind, role)
        };

        let input = Input {
            date,
            route: route.clone(),
            session: kind,
            role,
            existing_user,
        };
        let outcome = evaluate(&p.policy, &input);
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
        self.act(ctx, &d, &route, &path, navigation, p)
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

    /// A login form answer: tie the diary cookie it sets to the login.
    pub(crate) async fn learn_password_session(
        &self,
        resp: &ResponseHeader,
        login: &LegacyLogin,
        request_id: &str,
    ) {
        let Some(name) = self.cfg.settings.upstream.session_cookie.as_ref() else {
            return;
        };
        for v in resp.headers.get_all(http::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let first = v.split(';').next().unwrap_or("");
            let Some((k, value)) = first.split_once('=') else {
                continue;
            };
            if k.trim() != name || value.trim().is_empty() {
                continue;
            }
            let ttl = Duration::from_secs(self.cfg.settings.session.ttl_seconds);
            if let Err(e) = self
                .store
                .put_cookie_login(&cookie_hash(value.trim()), login, ttl)
                .await
            {
                tracing::error!(request_id, error = %e, "cannot remember a password session");
                return;
            }
            let r = LoginRecord {
                login: login.clone(),
                method: LoginMethod::Password,
                at: (self.clock)().timestamp(),
            };
            if let Err(e) = self.store.record_login(&r).await {
                tracing::error!(request_id, error = %e, "cannot record the password login");
            }
            metrics::get().logins.with_label_values(&["password"]).inc();
            let role = self.directory.load().by_login(&login.0).map(|a| a.role);
            metrics::get()
                .account_logins
                .with_label_values(&["password", metrics::role_label(role)])
                .inc();
            tracing::info!(target: "audit", event = "password_login", request_id, login = %login);
            return;
        }
    }
}
