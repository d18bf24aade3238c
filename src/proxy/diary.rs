//! A request to the diary: the session look-up, then the policy's word from
//! [`crate::auth`], given the request as plain values and a way to read its
//! body that keeps the body for the diary (Pingora's retry buffer).

use async_trait::async_trait;
use pingora::proxy::Session;

use super::{Ctx, Gateway};
use crate::auth::Reply;
use crate::auth::diary_forms::FormProblem;
use crate::auth::guard::{Body, BodySource, DiaryRequest, destination, is_navigation};

/// Largest body the gateway reads (a login form, or a form whose
/// parameters route a query-routed diary): what Pingora's retry buffer
/// keeps, so a body read here still reaches the diary unchanged.
const MAX_FORM_BODY: usize = 64 * 1024;

/// The request body, read once and kept in Pingora's retry buffer so that
/// the diary gets it as it came.
struct RetainedBody<'a>(&'a mut Session);

#[async_trait]
impl BodySource for RetainedBody<'_> {
    async fn read(&mut self) -> Body {
        let session = &mut *self.0;
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
}

impl Gateway {
    /// Decide a diary request. `None`: proxy it (with `ctx` telling what to
    /// insert and learn); `Some(reply)`: answer instead.
    pub(crate) async fn diary_request(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> Option<Reply> {
        // Read once: the session look-up and the policy both need them.
        ctx.cookies = Self::cookies(session.req_header());
        if let Some(c) = self.auth.current(&ctx.cookies, &ctx.request_id).await {
            ctx.session_id = c.id;
            ctx.session = Some(c.record);
        }
        let req = session.req_header();
        let text = |n: http::HeaderName| req.headers.get(n).and_then(|v| v.to_str().ok());
        let named = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let navigation = is_navigation(
            named("sec-fetch-mode"),
            text(http::header::ACCEPT),
            named("x-requested-with"),
        );
        let destination = destination(
            named("sec-fetch-mode"),
            named("sec-fetch-dest"),
            named("x-requested-with"),
        );
        let method = req.method.as_str().to_string();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        let target = req
            .uri
            .path_and_query()
            .map(|x| x.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let content_type = text(http::header::CONTENT_TYPE).map(str::to_string);
        let policy = self.policy.load_full();
        let request = DiaryRequest {
            method: &method,
            path: &path,
            query: query.as_deref(),
            target: &target,
            content_type: content_type.as_deref(),
            navigation,
            destination,
            cookies: &ctx.cookies,
            request_id: &ctx.request_id,
        };
        let verdict = self
            .auth
            .guard(
                &request,
                ctx.session.as_ref(),
                policy.as_deref(),
                &mut RetainedBody(session),
            )
            .await;
        if let Some(route) = verdict.route {
            ctx.route = route.into();
        }
        ctx.injection = verdict.injection;
        ctx.login_form = verdict.login_form;
        ctx.logging_out = verdict.logging_out;
        verdict.answer
    }
}
