//! The gateway's own routes under `/esia-gate/`: the request as plain
//! values (and its form, read here) to [`crate::auth`], the answer back to
//! the browser. The JWKS of the identity assertion is the proxy's own.

use pingora::prelude::*;
use pingora::proxy::Session;

use super::reply::write_reply;
use super::{Ctx, Gateway, forms};
use crate::auth::Reply;
use crate::auth::routes::{FormBody, GateRequest, GateRoute};
use crate::config::GATE_PREFIX;

impl Gateway {
    pub(crate) async fn gate_route(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: GateRoute,
    ) -> Result<()> {
        let req = session.req_header();
        if req.uri.path() == format!("{GATE_PREFIX}/.well-known/jwks.json") {
            let jwks = Reply::Json {
                status: 200,
                body: self.assertion.load().jwks().to_string(),
            };
            return write_reply(session, jwks, &ctx.request_id, &self.cfg.settings.help).await;
        }
        let query = req.uri.query().map(str::to_string);
        let post = req.method == http::Method::POST;
        let cookies = Self::cookies(req);
        let client = self.client_of(session);
        let form = if post && route.reads_form() {
            forms::read_form(session).await
        } else {
            FormBody::None
        };
        let reply = self
            .auth
            .gate(GateRequest {
                route,
                post,
                query: query.as_deref(),
                cookies: &cookies,
                client: &client,
                request_id: &ctx.request_id,
                form,
            })
            .await;
        write_reply(session, reply, &ctx.request_id, &self.cfg.settings.help).await
    }
}
