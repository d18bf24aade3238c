//! Reading the gateway's own form posts: a bounded body, handed to
//! [`crate::auth`] as urlencoded fields.

use pingora::proxy::Session;

use crate::auth::accounts::parse_form;
use crate::auth::routes::FormBody;

/// The largest form the gateway's pages post (a login and a password).
const MAX_FORM: usize = 16 * 1024;

/// The urlencoded body of a POST; unreadable when too large or broken.
pub async fn read_form(session: &mut Session) -> FormBody {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_FORM {
                    return FormBody::Unreadable;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return FormBody::Unreadable,
        }
    }
    FormBody::Read(parse_form(&body))
}
