//! What the diary hears: identity headers and client claims stripped in
//! every spelling, the forwarding headers the gateway determined, the
//! public `Host`, no gateway cookie, for a gateway session the person's
//! identity with its signed assertion, and, when the page may get the
//! gateway's content, only the content codings the gateway reads.

use pingora::http::RequestHeader;
use pingora::prelude::*;

use super::headers::{header_key, strip_cookies};
use super::{Ctx, Gateway, inject};
use crate::auth::cookies::BINDING_COOKIE;

impl Gateway {
    pub(crate) fn set_upstream_headers(
        &self,
        upstream: &mut RequestHeader,
        client: &str,
        ctx: &Ctx,
    ) -> Result<()> {
        // Identity and client claims go first, in every spelling: the diary
        // learns the client as the gateway determined it, never as the
        // client claimed it.
        self.strip_identity(upstream);
        upstream.insert_header("X-Real-IP", client)?;
        upstream.insert_header("X-Forwarded-For", client)?;
        upstream.insert_header("X-Forwarded-Host", self.public_host.as_str())?;
        upstream.insert_header("X-Forwarded-Proto", self.cfg.public_url.scheme())?;
        // The diary builds links (and password-reset mails) from `Host`:
        // it hears the public origin, never a client-chosen host.
        upstream.insert_header(http::header::HOST, self.public_host.as_str())?;
        let cookies = Self::cookies(upstream);
        upstream.remove_header(&http::header::COOKIE);
        let ours = [
            self.cfg.settings.session.cookie_name.as_str(),
            BINDING_COOKIE,
        ];
        if let Some(kept) = strip_cookies(&cookies, &ours) {
            upstream.insert_header(http::header::COOKIE, kept)?;
        }
        upstream.insert_header("X-Request-Id", ctx.request_id.as_str())?;
        if ctx.injection.any() {
            // A page that may get the banner or the button must come in a
            // coding the gateway can decode (brotli and zstd would pass
            // without them); any other request asks as the browser asked.
            let browser = upstream
                .headers
                .get(http::header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok());
            if let Some(narrowed) = inject::accept_encoding_for_diary(browser) {
                upstream.insert_header(http::header::ACCEPT_ENCODING, narrowed)?;
            }
        }
        if let Some(s) = &ctx.session
            && let (Some(login), Some(role)) = (&s.active, s.role)
        {
            let h = &self.cfg.settings.identity_headers;
            upstream.insert_header(h.user.clone(), login.0.as_str())?;
            upstream.insert_header(h.oid.clone(), s.oid.0.as_str())?;
            upstream.insert_header(h.method.clone(), "esia")?;
            upstream.insert_header(h.trusted.clone(), if s.trusted { "true" } else { "false" })?;
            upstream.insert_header(h.role.clone(), role.as_str())?;
            if let Some(child) = &s.child {
                upstream.insert_header(h.child.clone(), child.0.as_str())?;
            }
            let jwt = self.assertion.load().sign_cached(
                &ctx.session_id,
                (self.clock())().timestamp(),
                super::assertion::Subject {
                    login: &login.0,
                    oid: &s.oid.0,
                    trusted: s.trusted,
                    role: role.as_str(),
                    child: s.child.as_ref().map(|c| c.0.as_str()),
                },
            );
            upstream.insert_header(h.assertion.clone(), jwt)?;
        }
        Ok(())
    }

    fn strip_identity(&self, req: &mut RequestHeader) {
        let doomed: Vec<http::HeaderName> = req
            .headers
            .keys()
            .filter(|k| {
                // Header names arrive lower-cased; only `_` spellings need
                // rewriting (no allocation for the usual header).
                let name = k.as_str();
                if name.contains('_') {
                    self.identity_keys.contains(&header_key(name))
                } else {
                    self.identity_keys.contains(name)
                }
            })
            .cloned()
            .collect();
        for name in doomed {
            req.remove_header(&name);
        }
    }
}
