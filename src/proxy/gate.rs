//! The gateway's own routes under `/esia-gate/` (login, callback, logout,
//! account and child choice, linking, JWKS) and how a gateway answer is
//! written to the browser.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::login::Reply;
use super::{Ctx, Gateway, forms};
use crate::config::GATE_PREFIX;
use crate::pages::{self, Page};
use crate::telemetry::metrics;

impl Gateway {
    pub(crate) async fn gate_route(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let req = session.req_header();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        let post = req.method == http::Method::POST;
        let cookies = Self::cookies(req);
        let client = self.client_of(session);
        let rid = ctx.request_id.clone();
        let route = path[GATE_PREFIX.len()..].to_string();
        let reply = match route.as_str() {
            "/login" => self.start_login(query.as_deref(), &rid).await,
            "/callback" => self.callback(query.as_deref(), &cookies, &rid).await,
            "/logout" => match self.current(&cookies, &rid).await {
                // Nobody to log out: nothing changes, whoever sent it.
                None => Reply::Redirect {
                    location: format!("{GATE_PREFIX}/logged-out"),
                    cookies: Vec::new(),
                },
                Some(current) if post => {
                    let form = forms::read_form(session).await.unwrap_or_default();
                    if super::accounts::csrf_ok(&current.record, &form) {
                        self.logout(&cookies, &rid).await
                    } else {
                        Reply::Page {
                            page: pages::logout_confirm(&current.record.csrf),
                            cookies: Vec::new(),
                        }
                    }
                }
                Some(current) => Reply::Page {
                    page: pages::logout_confirm(&current.record.csrf),
                    cookies: Vec::new(),
                },
            },
            "/logged-out" => Reply::Page {
                page: pages::logged_out(),
                cookies: Vec::new(),
            },
            "/.well-known/jwks.json" => Reply::Json {
                status: 200,
                body: self.assertion.jwks().to_string(),
            },
            "/accounts" | "/accounts/select" | "/accounts/unlink" | "/link" | "/children"
            | "/children/select" | "/children/attach" | "/children/remove" => {
                match self.current(&cookies, &rid).await {
                    None => Reply::Redirect {
                        location: pages::login_href("/"),
                        cookies: Vec::new(),
                    },
                    Some(current) if !post => match route.as_str() {
                        "/accounts" => self.accounts_page(&current).await,
                        "/link" => self.link_page(&current),
                        "/children" => self.children_page(&current, None).await,
                        _ => Reply::Page {
                            page: pages::not_found(),
                            cookies: Vec::new(),
                        },
                    },
                    Some(current) => {
                        let Some(form) = forms::read_form(session).await else {
                            tracing::warn!(request_id = %rid, route = %route, "gateway form too large or unreadable");
                            metrics::get()
                                .links
                                .with_label_values(&["form", "unreadable"])
                                .inc();
                            return write_reply(
                                session,
                                Reply::Page {
                                    page: pages::internal_error(),
                                    cookies: Vec::new(),
                                },
                                &rid,
                            )
                            .await;
                        };
                        match route.as_str() {
                            "/accounts/select" => self.select_account(current, &form, &rid).await,
                            "/accounts/unlink" => self.unlink_account(current, &form, &rid).await,
                            "/link" => self.link_account(current, &form, &client, &rid).await,
                            "/children/select" => self.select_child(current, &form, &rid).await,
                            "/children/attach" => {
                                self.attach_child(current, &form, &client, &rid).await
                            }
                            _ => self.remove_child(current, &form, &rid).await,
                        }
                    }
                }
            }
            _ => Reply::Page {
                page: pages::not_found(),
                cookies: Vec::new(),
            },
        };
        write_reply(session, reply, &rid).await
    }
}

pub(crate) async fn write_reply(
    session: &mut Session,
    reply: Reply,
    request_id: &str,
) -> Result<()> {
    let (status, content_type, body, location, cookies) = match reply {
        Reply::Redirect { location, cookies } => (
            302,
            "text/plain; charset=utf-8".to_string(),
            Bytes::new(),
            Some(location),
            cookies,
        ),
        Reply::Page { page, cookies } => page_parts(page, request_id, cookies),
        Reply::Json { status, body } => (
            status,
            "application/json".to_string(),
            Bytes::from(body),
            None,
            Vec::new(),
        ),
        Reply::Raw {
            status,
            content_type,
            body,
        } => (status, content_type, body, None, Vec::new()),
    };
    let mut resp = ResponseHeader::build(status, Some(6))?;
    resp.insert_header("Content-Type", content_type)?;
    resp.insert_header("Content-Length", body.len().to_string())?;
    resp.insert_header("Cache-Control", "no-store")?;
    resp.insert_header("X-Request-Id", request_id)?;
    if let Some(l) = location {
        resp.insert_header("Location", l)?;
    }
    for c in cookies {
        resp.append_header("Set-Cookie", c)?;
    }
    session
        .write_response_header(Box::new(resp), body.is_empty())
        .await?;
    if !body.is_empty() {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

type Parts = (u16, String, Bytes, Option<String>, Vec<String>);

fn page_parts(page: Page, request_id: &str, cookies: Vec<String>) -> Parts {
    (
        page.status,
        "text/html; charset=utf-8".to_string(),
        Bytes::from(page.render(request_id)),
        None,
        cookies,
    )
}
