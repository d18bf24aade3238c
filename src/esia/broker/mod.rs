//! ESIA through a certified broker (a Keycloak with an ESIA plugin, a
//! regional «шлюз ЕСИА»), by OpenID Connect on the `openidconnect` crate:
//! the endpoints and signing keys from the broker's discovery document
//! (`esia.issuer` + `/.well-known/openid-configuration`), the keys found
//! again when the broker rotates them, a nonce and a PKCE verifier per
//! login (kept with the pending login, see [`Authorization`]), the id token
//! checked for signature, issuer, audience, times and nonce, and the person
//! from the userinfo endpoint. The ESIA operator asks new systems to
//! connect this way, so a region switches by configuration alone
//! (`esia.mode = "broker"`). `discovery` keeps the metadata, `claims`
//! reads the person.

mod claims;
mod discovery;

use chrono::{DateTime, FixedOffset, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreErrorResponseType, CoreIdToken, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, HttpClientError, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, TokenResponse as _,
};
use url::Url;

use super::error::EsiaError;
use super::protocol::codes;
use super::provider::{Authorization, EsiaProvider, Shared, Tokens};
use super::token::TokenError;
use crate::config::BrokerClaims;
use crate::identity::Person;

pub use claims::person_from_claims;
use discovery::{Discovered, Discovery, chain};

pub struct BrokerConfig {
    /// Where logout goes when the discovery document names no
    /// `end_session_endpoint` (or to override it).
    pub logout_url: Option<String>,
    pub client_secret: String,
    pub claims: BrokerClaims,
    /// Extra parameters of the authorization request (Keycloak's
    /// `kc_idp_hint = "esia"` goes straight to ESIA's login).
    pub authorize_params: Vec<(String, String)>,
}

/// ESIA through a broker: our client id, secret and redirect URI at the
/// broker `esia.issuer` names.
pub struct BrokerProvider {
    shared: Shared,
    broker: BrokerConfig,
    oidc: Discovery,
}

impl BrokerProvider {
    pub fn new(shared: Shared, broker: BrokerConfig) -> Result<Self, String> {
        let s = &shared.settings;
        let oidc = Discovery::new(
            &s.issuer,
            &s.client_id,
            &broker.client_secret,
            &s.redirect_uri,
        )?;
        Ok(Self {
            shared,
            broker,
            oidc,
        })
    }
}

/// A login's nonce and PKCE verifier, as kept with the pending login.
fn handshake(nonce: &Nonce, verifier: &PkceCodeVerifier) -> String {
    // Both are base64url: a space cannot occur in either.
    format!("{} {}", nonce.secret(), verifier.secret())
}

fn read_handshake(h: &str) -> Result<(Nonce, PkceCodeVerifier), EsiaError> {
    match h.split_once(' ') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((
            Nonce::new(n.to_string()),
            PkceCodeVerifier::new(v.to_string()),
        )),
        _ => Err(EsiaError::Token(TokenError::Other(
            "this login has no nonce (started before the broker was configured?)".into(),
        ))),
    }
}

#[async_trait::async_trait]
impl EsiaProvider for BrokerProvider {
    /// The authorization request with a fresh nonce and PKCE challenge
    /// (S256); nothing is signed, so `now` is not used.
    async fn authorization_url(
        &self,
        state: &str,
        _now: DateTime<FixedOffset>,
    ) -> Result<Authorization, EsiaError> {
        let found = self.oidc.get(self.shared.http.client()).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let mut request = found.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            Nonce::new_random,
        );
        // `openid` is always asked; the configured scope adds the rest.
        for s in self.shared.settings.scope.split_whitespace() {
            if s != "openid" {
                request = request.add_scope(Scope::new(s.to_string()));
            }
        }
        for (k, v) in &self.broker.authorize_params {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let (url, _, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Authorization {
            url: url.into(),
            handshake: handshake(&nonce, &verifier),
        })
    }

    async fn exchange_code(
        &self,
        code: &str,
        handshake: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Tokens, EsiaError> {
        let (nonce, verifier) = read_handshake(handshake)?;
        let http = self.shared.http.client();
        let found = self.oidc.get(http).await?;
        let answer: CoreTokenResponse = found
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| EsiaError::bad_answer("te", e))?
            .set_pkce_verifier(verifier)
            .request_async(http)
            .await
            .map_err(token_error)?;
        let id_token = answer.id_token().ok_or(EsiaError::BadAnswer {
            endpoint: "te",
            reason: "no id_token (is `openid` in esia.scope?)".into(),
        })?;
        let now = now.with_timezone(&Utc);
        let subject = match verify(&found, id_token, &nonce, now) {
            // A key the kept set lacks: the broker rotated its keys.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                tracing::info!(
                    "the broker's id token names an unknown key: fetching its keys again"
                );
                let found = self.oidc.refresh(http).await?;
                verify(&found, id_token, &nonce, now)
            }
            other => other,
        }
        .map_err(claims_error)?;
        Ok(Tokens {
            access_token: answer.access_token().secret().clone(),
            subject,
            confirmed: false,
        })
    }

    async fn person(&self, tokens: &Tokens) -> Result<Person, EsiaError> {
        let found = self.oidc.get(self.shared.http.client()).await?;
        let url = found.userinfo.as_deref().ok_or(EsiaError::BadAnswer {
            endpoint: "prns",
            reason: "the broker's metadata names no userinfo_endpoint".into(),
        })?;
        let body = self
            .shared
            .http
            .get_bearer("prns", url, &tokens.access_token)
            .await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| EsiaError::bad_answer("prns", e))?;
        // The userinfo answer must be about the person of the id token.
        let info_sub = match v.get("sub") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if info_sub != tokens.subject {
            return Err(EsiaError::BadAnswer {
                endpoint: "prns",
                reason: "userinfo `sub` differs from the id token's".into(),
            });
        }
        let mut person = person_from_claims(&tokens.subject, &v, &self.broker.claims);
        person.trusted = person.trusted || tokens.confirmed;
        Ok(person)
    }

    /// The broker's end-session endpoint (OIDC's `post_logout_redirect_uri`):
    /// `logout_url` if set, else the discovery document's; without either,
    /// straight back.
    fn logout_url(&self, redirect_url: &str) -> String {
        let discovered = self.oidc.cached().and_then(|d| d.end_session.clone());
        let Some(l) = self.broker.logout_url.clone().or(discovered) else {
            return redirect_url.to_string();
        };
        match Url::parse(&l) {
            Ok(mut u) => {
                u.query_pairs_mut()
                    .append_pair("client_id", &self.shared.settings.client_id)
                    .append_pair("post_logout_redirect_uri", redirect_url);
                u.into()
            }
            Err(_) => redirect_url.to_string(),
        }
    }

    async fn reachable(&self) -> bool {
        self.shared.http.reachable().await
    }
}

/// The id token's subject once signature, issuer, audience, times and
/// nonce are checked (against the clock's `now`).
fn verify(
    found: &Discovered,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    now: DateTime<Utc>,
) -> Result<String, ClaimsVerificationError> {
    let verifier = found.client.id_token_verifier().set_time_fn(move || now);
    let claims = id_token.claims(&verifier, nonce)?;
    Ok(claims.subject().as_str().to_string())
}

fn claims_error(e: ClaimsVerificationError) -> EsiaError {
    EsiaError::Token(match e {
        ClaimsVerificationError::SignatureVerification(_) => TokenError::Signature,
        ClaimsVerificationError::Expired(_) => TokenError::Time,
        ClaimsVerificationError::InvalidIssuer(i) => TokenError::Issuer(i),
        ClaimsVerificationError::InvalidAudience(_) => TokenError::Client,
        ClaimsVerificationError::InvalidNonce(_) => {
            TokenError::Other("the id token's nonce is not this login's".into())
        }
        e => TokenError::Other(e.to_string()),
    })
}

type TokenRequestError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

/// A token endpoint's refusal. A refused code at a broker (`invalid_grant`,
/// also a wrong PKCE verifier) is what `ESIA-007011` is directly, so the
/// login flow treats both alike.
fn token_error(e: TokenRequestError) -> EsiaError {
    let endpoint = "te";
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            CoreErrorResponseType::InvalidGrant => EsiaError::Protocol {
                endpoint,
                error: "invalid_grant".into(),
                code: codes::BAD_CODE.into(),
            },
            other => EsiaError::BadAnswer {
                endpoint,
                reason: format!("the broker refused the token request: {other}"),
            },
        },
        RequestTokenError::Request(e) => {
            let reason = chain(&e);
            if reason.contains("timed out") {
                EsiaError::Timeout { endpoint }
            } else {
                EsiaError::Unreachable { endpoint, reason }
            }
        }
        e => EsiaError::BadAnswer {
            endpoint,
            reason: chain(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_keeps_nonce_and_verifier_apart() {
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = Nonce::new_random();
        let h = handshake(&nonce, &verifier);
        let (n, v) = read_handshake(&h).expect("read back");
        assert_eq!(n.secret(), nonce.secret());
        assert_eq!(v.secret(), verifier.secret());
        assert!(read_handshake("").is_err());
        assert!(read_handshake("only-one").is_err());
    }

    #[test]
    fn a_refused_code_at_the_broker_reads_as_esias_bad_code() {
        let refusal = |error: CoreErrorResponseType| {
            token_error(RequestTokenError::ServerResponse(
                StandardErrorResponse::new(error, None, None),
            ))
        };
        assert_eq!(
            refusal(CoreErrorResponseType::InvalidGrant).code(),
            codes::BAD_CODE
        );
        let e = refusal(CoreErrorResponseType::InvalidClient);
        assert!(e.to_string().contains("invalid_client"), "{e}");
    }
}
