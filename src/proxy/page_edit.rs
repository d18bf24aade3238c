//! Inserting the gateway's content (the account bar, the policy's banner,
//! the «Войти через госуслуги» button) into a diary page: the answer's
//! body is collected, changed once at its end, and sent on.

use bytes::Bytes;

use super::{Ctx, inject};
use crate::pages;

/// A diary answer whose body is being collected to insert content.
pub struct BodyEdit {
    buf: Vec<u8>,
    content_type: Option<String>,
    content_encoding: Option<String>,
}

impl BodyEdit {
    pub fn new(content_type: Option<String>, content_encoding: Option<String>) -> Self {
        Self {
            buf: Vec::new(),
            content_type,
            content_encoding,
        }
    }
}

/// Collect a chunk of the answer (`body` is emptied meanwhile); at the end
/// put the changed page in its place.
pub fn edit_body(ctx: &mut Ctx, body: &mut Option<Bytes>, end_of_stream: bool) {
    let Some(edit) = ctx.body.as_mut() else {
        return;
    };
    if let Some(chunk) = body.take() {
        edit.buf.extend_from_slice(&chunk);
    }
    if edit.buf.len() > inject::MAX_DECODED_BODY {
        // Too large to change safely: let the rest through unchanged.
        let whole = std::mem::take(&mut edit.buf);
        ctx.body = None;
        *body = Some(Bytes::from(whole));
        return;
    }
    if !end_of_stream {
        return;
    }
    let Some(edit) = ctx.body.take() else {
        return;
    };
    let inj = &ctx.injection;
    let mut out = edit.buf;
    let steps = [
        inj.account_bar.clone().map(|b| (b, None)),
        inj.banner
            .as_deref()
            .map(|b| (inject::banner_snippet(b), None)),
        inj.esia_button.then(|| {
            (
                inject::esia_button_snippet(&pages::login_href("/")),
                Some(inj.button_after.clone()),
            )
        }),
    ];
    for (snippet, after) in steps.into_iter().flatten() {
        let place = match &after {
            None => inject::Place::AfterBodyOpen,
            Some(Some(marker)) => inject::Place::After(marker),
            Some(None) => inject::Place::BeforeBodyClose,
        };
        match inject::inject_html(
            &out,
            edit.content_type.as_deref(),
            edit.content_encoding.as_deref(),
            &snippet,
            place,
        ) {
            Ok(inject::Injected::Changed { body }) => out = body,
            Ok(inject::Injected::Unchanged(why)) => {
                tracing::debug!(request_id = %ctx.request_id, ?why, "page left unchanged");
            }
            Err(e) => {
                tracing::warn!(request_id = %ctx.request_id, error = %e, "cannot insert into the diary's page; sent unchanged");
            }
        }
    }
    *body = Some(Bytes::from(out));
}
