//! ESIA's own endpoints as the v2 and legacy providers both use them
//! (they differ in the paths of `ac` and `te` and in how the client secret
//! is signed, not in the answers): the token answer, its state, the access
//! and id tokens checked; the person API; the logout URL.

use serde::Deserialize;
use url::Url;

use super::error::EsiaError;
use super::person;
use super::provider::{Shared, Tokens};
use crate::identity::Person;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// Post a token request to ESIA's `path` and check the answer: its state
/// must be the request's `state`, the access token must name the person,
/// the id token (when one came) says whether the account is confirmed.
pub async fn token_request(
    shared: &Shared,
    path: &str,
    form: &[(&str, &str)],
    state: &str,
) -> Result<Tokens, EsiaError> {
    let (status, body) = shared
        .http
        .post_form("te", &shared.http.endpoint(path), form)
        .await?;
    if !(200..300).contains(&status) {
        return Err(EsiaError::from_answer("te", status, &body));
    }
    let answer: TokenAnswer =
        serde_json::from_slice(&body).map_err(|e| EsiaError::bad_answer("te", e))?;
    if answer.state.as_deref().is_some_and(|st| st != state) {
        return Err(EsiaError::StateMismatch);
    }
    let (oid, _claims) = shared.tokens.access_token(&answer.access_token)?;
    let confirmed = match &answer.id_token {
        Some(t) => shared.tokens.id_token(t)?.confirmed(),
        None => false,
    };
    Ok(Tokens {
        access_token: answer.access_token,
        subject: oid,
        confirmed,
    })
}

/// The person of checked tokens from `/rs/prns/{oid}`; confirmed when ESIA
/// says so in either the person or the id token.
pub async fn person(shared: &Shared, tokens: &Tokens) -> Result<Person, EsiaError> {
    let mut p = person::fetch(
        &shared.http,
        &tokens.subject,
        &tokens.access_token,
        &shared.settings.scope,
    )
    .await?;
    p.trusted = p.trusted || tokens.confirmed;
    Ok(p)
}

/// `{base}/idp/ext/Logout?client_id=…&redirect_url=…` (ESIA spells it
/// `redirect_url` here, unlike everywhere else).
pub fn logout_url(shared: &Shared, redirect_url: &str) -> String {
    let Ok(mut u) = Url::parse(&shared.http.endpoint("/idp/ext/Logout")) else {
        return redirect_url.to_string();
    };
    u.query_pairs_mut()
        .append_pair("client_id", &shared.settings.client_id)
        .append_pair("redirect_url", redirect_url);
    u.into()
}
