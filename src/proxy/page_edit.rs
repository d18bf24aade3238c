//! Inserting the gateway's content (the policy's banner, the account bar,
//! the «Войти через госуслуги» button) into a diary page: decided once the
//! answer's headers are known ([`start`]: HTML only, so that an image or a
//! style sheet never costs an account bar), then each piece of the body
//! changed as it passes ([`edit_body`]).

use std::sync::Mutex;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::{Ctx, Gateway, header_text, inject};
use crate::auth::guard::Injection;
use crate::pages;

/// A diary page being changed on its way.
pub struct BodyEdit {
    /// In a `Mutex` only so that the request's context is `Sync`: the hooks
    /// get the context by `&mut`, so it is never locked (`get_mut`).
    stream: Mutex<inject::PageStream>,
    sent_plain: bool,
}

impl BodyEdit {
    /// The page goes to the browser plain: drop its `Content-Encoding`.
    pub fn sent_plain(&self) -> bool {
        self.sent_plain
    }
}

impl Gateway {
    /// An HTML answer the policy puts something into: its body will change
    /// as it passes, so its length, validator and byte ranges go (it goes
    /// out chunked when `chunked` — an HTTP/1.1 browser —, so the connection
    /// stays open for the next request; to an HTTP/1.0 one its end is the
    /// connection's; HTTP/2 frames it itself).
    pub(crate) fn start_page_edit(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
        chunked: bool,
    ) -> Result<()> {
        let content_type = header_text(resp, http::header::CONTENT_TYPE);
        let content_encoding = header_text(resp, http::header::CONTENT_ENCODING);
        let session = ctx.session.as_ref();
        let edit = start(
            &ctx.injection,
            content_type.as_deref(),
            content_encoding.as_deref(),
            || session.and_then(|s| self.auth.account_bar(s)),
        );
        match edit {
            Ok(Some(edit)) => {
                resp.remove_header(&http::header::CONTENT_LENGTH);
                if chunked {
                    resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
                }
                resp.remove_header(&http::header::ETAG);
                resp.remove_header(&http::header::ACCEPT_RANGES);
                if edit.sent_plain() {
                    resp.remove_header(&http::header::CONTENT_ENCODING);
                }
                ctx.body = Some(edit);
            }
            Ok(None) => {}
            Err(why) => {
                tracing::debug!(request_id = %ctx.request_id, ?why, "diary answer left unchanged");
            }
        }
        Ok(())
    }
}

/// Whether this answer gets content, and the edit that inserts it.
/// `account_bar` builds the bar, and is called only for an HTML answer.
pub fn start(
    injection: &Injection,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    account_bar: impl FnOnce() -> Option<String>,
) -> Result<Option<BodyEdit>, inject::Skipped> {
    let page = inject::Page::of(content_type, content_encoding)?;
    let top: String = [
        injection
            .banner
            .as_deref()
            .map(|b| inject::banner_snippet(b, &pages::login_href("/"))),
        injection.account_bar.then(account_bar).flatten(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let snippets = inject::Snippets {
        top: (!top.is_empty()).then_some(top),
        button: injection
            .esia_button
            .then(|| inject::esia_button_snippet(&pages::login_href("/"))),
        button_after: injection.button_after.clone(),
        only_whole_documents: injection.only_whole_documents,
    };
    if snippets.top.is_none() && snippets.button.is_none() {
        return Ok(None);
    }
    Ok(Some(BodyEdit {
        sent_plain: page.sent_plain(),
        stream: Mutex::new(page.stream(snippets)),
    }))
}

/// Change the next piece of the answer (`body`), sending on what is ready.
/// `Err`: the diary's body broke its coding after part of the page went
/// out; the answer is cut off, as it would be without the gateway.
pub fn edit_body(ctx: &mut Ctx, body: &mut Option<Bytes>, end_of_stream: bool) -> Result<()> {
    let Some(edit) = ctx.body.as_mut() else {
        return Ok(());
    };
    let stream = edit.stream.get_mut().unwrap_or_else(|e| e.into_inner());
    let mut out = match body.take() {
        Some(chunk) => stream.push(&chunk),
        None => Ok(Vec::new()),
    };
    if end_of_stream && let Ok(o) = &mut out {
        match stream.finish() {
            Ok(rest) => o.extend_from_slice(&rest),
            Err(e) => out = Err(e),
        }
    }
    if let Some(note) = stream.take_note() {
        tracing::debug!(request_id = %ctx.request_id, note, "diary page partly left unchanged");
    }
    match out {
        Ok(o) => {
            *body = (!o.is_empty()).then(|| Bytes::from(o));
            if end_of_stream {
                ctx.body = None;
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, error = %e, "the diary's page cannot be decoded; answer cut off");
            ctx.body = None;
            Error::e_explain(
                ErrorType::InternalError,
                "the diary's page breaks its content coding",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn wants_bar() -> Injection {
        Injection {
            account_bar: true,
            ..Injection::default()
        }
    }

    #[test]
    fn an_image_or_a_style_sheet_never_builds_the_account_bar() {
        let built = Cell::new(0);
        let bar = || {
            built.set(built.get() + 1);
            Some("<div id=\"esia-gate-account\"></div>".to_string())
        };
        for (ct, ce) in [
            (Some("image/png"), None),
            (Some("text/css"), Some("gzip")),
            (Some("application/javascript"), None),
            (Some("application/json; charset=utf-8"), None),
            (None, None),
        ] {
            assert!(start(&wants_bar(), ct, ce, bar).is_err(), "{ct:?}");
        }
        assert_eq!(built.get(), 0);
        // A zstd page is left alone before anything is built too.
        assert!(start(&wants_bar(), Some("text/html"), Some("zstd"), bar).is_err());
        assert_eq!(built.get(), 0);
        let edit = start(&wants_bar(), Some("text/html; charset=utf-8"), None, bar);
        assert!(matches!(edit, Ok(Some(_))));
        assert_eq!(built.get(), 1, "built once, for the HTML page");
    }

    #[test]
    fn a_brotli_page_goes_back_plain() {
        let banner = Injection {
            banner: Some("B".into()),
            ..Injection::default()
        };
        let edit = start(&banner, Some("text/html"), Some("br"), || None);
        assert!(matches!(edit, Ok(Some(e)) if e.sent_plain()));
        let edit = start(&banner, Some("text/html"), Some("gzip"), || None);
        assert!(matches!(edit, Ok(Some(e)) if !e.sent_plain()));
        // Nothing to insert after all (no bar for this session).
        assert!(matches!(
            start(&wants_bar(), Some("text/html"), None, || None),
            Ok(None)
        ));
    }
}
