//! Writing a gateway answer ([`Reply`]) to the browser: status, type,
//! length, `no-store`, the request id and the cookies it sets.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::auth::Reply;
use crate::config::help::HelpSettings;
use crate::pages::Frame;

/// `help` is who helps a person who is stuck (`[help]`): the foot of every
/// page.
pub async fn write_reply(
    session: &mut Session,
    reply: Reply,
    request_id: &str,
    help: &HelpSettings,
) -> Result<()> {
    let (status, content_type, body, location, cookies) = match reply {
        Reply::Redirect { location, cookies } => (
            302,
            "text/plain; charset=utf-8".to_string(),
            Bytes::new(),
            Some(location),
            cookies,
        ),
        Reply::Page { page, cookies } => (
            page.status,
            "text/html; charset=utf-8".to_string(),
            Bytes::from(page.render_in(&Frame { request_id, help })),
            None,
            cookies,
        ),
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
