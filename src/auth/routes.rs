//! The gateway's own routes under `/esia-gate/` and which flow answers
//! each. The account pages need a live gateway session; their POSTs carry
//! a form the proxy reads before asking here.

use super::Auth;
use super::accounts::Form;
use super::error::{BadInput, GateError, Step};
use super::reply::Reply;
use super::session::csrf_ok;
use crate::config::GATE_PREFIX;
use crate::pages;

/// A route under the gateway's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateRoute {
    Login,
    Callback,
    Logout,
    LoggedOut,
    /// «Нет учётной записи в дневнике или не помню пароль»: who helps.
    NoAccount,
    Accounts,
    AccountsSelect,
    AccountsUnlink,
    Link,
    Children,
    ChildrenSelect,
    ChildrenAttach,
    ChildrenRemove,
    Unknown,
}

impl GateRoute {
    /// The route of a path under [`GATE_PREFIX`] (`None`: not the
    /// gateway's).
    pub fn of(path: &str) -> Option<Self> {
        let rest = path.strip_prefix(GATE_PREFIX)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(match rest {
            "/login" => Self::Login,
            "/callback" => Self::Callback,
            "/logout" => Self::Logout,
            "/logged-out" => Self::LoggedOut,
            "/no-account" => Self::NoAccount,
            "/accounts" => Self::Accounts,
            "/accounts/select" => Self::AccountsSelect,
            "/accounts/unlink" => Self::AccountsUnlink,
            "/link" => Self::Link,
            "/children" => Self::Children,
            "/children/select" => Self::ChildrenSelect,
            "/children/attach" => Self::ChildrenAttach,
            "/children/remove" => Self::ChildrenRemove,
            _ => Self::Unknown,
        })
    }

    /// Whether a POST to this route carries a form the gateway reads.
    pub fn reads_form(self) -> bool {
        !matches!(
            self,
            Self::Login | Self::Callback | Self::LoggedOut | Self::NoAccount | Self::Unknown
        )
    }

    /// Where a failure here counts.
    pub fn step(self) -> Step {
        match self {
            Self::Login => Step::LoginStart,
            Self::Callback => Step::Callback,
            Self::Logout => Step::Logout,
            Self::LoggedOut | Self::NoAccount | Self::Unknown => Step::Gate,
            Self::Accounts | Self::AccountsSelect => Step::Accounts,
            Self::AccountsUnlink => Step::Unlink,
            Self::Link => Step::Link,
            Self::Children | Self::ChildrenSelect | Self::ChildrenAttach | Self::ChildrenRemove => {
                Step::Children
            }
        }
    }
}

/// The form of a POST, as the proxy could read it.
pub enum FormBody {
    /// Not a POST, or a route that reads none.
    None,
    Read(Form),
    /// Too large, or the browser went away.
    Unreadable,
}

/// A request to one of the gateway's routes, as plain values.
pub struct GateRequest<'a> {
    pub route: GateRoute,
    pub post: bool,
    pub query: Option<&'a str>,
    /// The request's `Cookie` headers, joined.
    pub cookies: &'a str,
    /// The browser's address (for the linking limits).
    pub client: &'a str,
    pub request_id: &'a str,
    pub form: FormBody,
}

impl Auth {
    /// Answer a request to one of the gateway's own routes.
    pub async fn gate(&self, req: GateRequest<'_>) -> Reply {
        let rid = req.request_id;
        match req.route {
            GateRoute::Login => return self.start_login(req.query, rid).await,
            GateRoute::Callback => return self.callback(req.query, req.cookies, rid).await,
            GateRoute::LoggedOut => return Reply::page(pages::logged_out()),
            GateRoute::NoAccount => return Reply::page(pages::accounts::no_diary_account()),
            _ => {}
        }
        match self.manage(&req).await {
            Ok(reply) => reply,
            Err(e) => self.fail(req.route.step(), &e, rid),
        }
    }

    /// Logout and the pages a gateway session manages its accounts with.
    async fn manage(&self, req: &GateRequest<'_>) -> Result<Reply, GateError> {
        let rid = req.request_id;
        let route = req.route;
        if route == GateRoute::Unknown {
            return Err(GateError::NotFound);
        }
        let Some(current) = self.current(req.cookies, rid).await else {
            return Ok(if route == GateRoute::Logout {
                // Nobody to log out: nothing changes, whoever sent it.
                Reply::redirect(format!("{GATE_PREFIX}/logged-out"))
            } else {
                Reply::redirect(pages::login_href("/"))
            });
        };
        // Nobody is asked for a diary password whose ESIA account no role
        // lets in today: the page says how to raise it instead.
        if route == GateRoute::Link
            && current.record.active.is_none()
            && current.record.accounts.is_empty()
            && let Some(page) = self.confirm_first(current.record.trust_level())
        {
            return Ok(Reply::page(page));
        }
        if !req.post {
            return match route {
                GateRoute::Logout => Ok(Reply::page(pages::logout_confirm(&current.record.csrf))),
                GateRoute::Accounts => self.accounts_page(&current).await,
                GateRoute::Link => self.link_page(&current),
                GateRoute::Children => Ok(self.children_page(&current, None).await),
                _ => Err(GateError::NotFound),
            };
        }
        let empty = Form::new();
        let form = match &req.form {
            FormBody::Read(f) => f,
            // A logout without its token only asks again.
            _ if route == GateRoute::Logout => &empty,
            _ => return Err(BadInput::FormUnreadable.into()),
        };
        match route {
            GateRoute::Logout if csrf_ok(&current.record, form) => {
                Ok(self.logout(req.cookies, rid).await)
            }
            GateRoute::Logout => Ok(Reply::page(pages::logout_confirm(&current.record.csrf))),
            GateRoute::AccountsSelect => self.select_account(current, form, rid).await,
            GateRoute::AccountsUnlink => self.unlink_account(current, form, rid).await,
            GateRoute::Link => self.link_account(current, form, req.client, rid).await,
            GateRoute::ChildrenSelect => self.select_child(current, form, rid).await,
            GateRoute::ChildrenAttach => self.attach_child(current, form, req.client, rid).await,
            GateRoute::ChildrenRemove => self.remove_child(current, form, rid).await,
            // A POST to a page that only shows something.
            _ => Err(GateError::NotFound),
        }
    }
}
