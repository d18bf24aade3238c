//! Reading the gateway's own form posts: bounded body, urlencoded fields.

use std::collections::HashMap;

use pingora::proxy::Session;

/// The largest form the gateway's pages post (a login and a password).
const MAX_FORM: usize = 16 * 1024;

/// The urlencoded body of a POST, or `None` when it is too large or broken.
pub async fn read_form(session: &mut Session) -> Option<HashMap<String, String>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_FORM {
                    return None;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    Some(parse_form(&body))
}

pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}
