//! ESIA through a certified broker (a Keycloak with an ESIA plugin, a
//! regional «шлюз ЕСИА»): plain OAuth2 authorization code with a static
//! client secret, an OIDC id token checked against the trusted
//! certificates, and the person from the userinfo endpoint. The ESIA
//! operator asks new systems to connect this way, so a region switches by
//! configuration alone.

use chrono::NaiveDate;
use serde::Deserialize;
use url::Url;

use super::client::{EsiaClient, EsiaError, LoginResult, protocol_error};
use super::token;
use crate::config::BrokerClaims;
use crate::identity::{EsiaOid, Person, Snils};

pub struct BrokerConfig {
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub logout_url: Option<String>,
    pub client_secret: String,
    pub claims: BrokerClaims,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

/// Read the person out of userinfo claims, by the configured names.
pub fn person_from_claims(sub: &str, v: &serde_json::Value, names: &BrokerClaims) -> Person {
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let snils = match text(&names.snils).as_str() {
        "" => None,
        raw => match Snils::parse(raw) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(reason = %e, "the broker sent a SNILS that does not parse");
                None
            }
        },
    };
    let bd = text(&names.birth_date);
    let birth_date = NaiveDate::parse_from_str(&bd, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&bd, "%d.%m.%Y"))
        .ok();
    let trusted = match v.get(&names.trusted) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    Person {
        oid: EsiaOid(sub.to_string()),
        last_name: text(&names.last_name),
        first_name: text(&names.first_name),
        middle_name: text(&names.middle_name),
        birth_date,
        snils,
        trusted,
        children: Vec::new(),
    }
}

pub fn logout_url(b: &BrokerConfig, client_id: &str, redirect_url: &str) -> String {
    let Some(l) = &b.logout_url else {
        return redirect_url.to_string();
    };
    match Url::parse(l) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("client_id", client_id)
                .append_pair("post_logout_redirect_uri", redirect_url);
            u.into()
        }
        Err(_) => redirect_url.to_string(),
    }
}

impl EsiaClient {
    pub(super) fn broker_authorization_url(
        &self,
        b: &BrokerConfig,
        state: &str,
    ) -> Result<String, EsiaError> {
        let mut url = Url::parse(&b.authorize_url).map_err(|e| EsiaError::BadAnswer {
            endpoint: "ac",
            reason: e.to_string(),
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.s.client_id)
            .append_pair("redirect_uri", &self.s.redirect_uri)
            .append_pair("scope", &self.s.scope)
            .append_pair("state", state);
        Ok(url.into())
    }

    pub(super) async fn broker_login(
        &self,
        b: &BrokerConfig,
        code: &str,
    ) -> Result<LoginResult, EsiaError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.s.redirect_uri.as_str()),
            ("client_id", self.s.client_id.as_str()),
            ("client_secret", b.client_secret.as_str()),
        ];
        let resp = self
            .http
            .post(&b.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Self::send_error("te", e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| Self::send_error("te", e))?;
        if !status.is_success() {
            let e = protocol_error("te", status.as_u16(), &body);
            // A refused code at a broker is what ESIA-007011 is directly.
            if let EsiaError::Status { status: 400, .. } = e
                && serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|x| x.as_str()).map(str::to_string))
                    .as_deref()
                    == Some("invalid_grant")
            {
                return Err(EsiaError::Protocol {
                    endpoint: "te",
                    error: "invalid_grant".into(),
                    code: super::protocol::codes::BAD_CODE.into(),
                });
            }
            return Err(e);
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| EsiaError::BadAnswer {
                endpoint: "te",
                reason: e.to_string(),
            })?;
        let id_token = answer.id_token.ok_or(EsiaError::BadAnswer {
            endpoint: "te",
            reason: "no id_token (is `openid` in esia.scope?)".into(),
        })?;
        let claims = token::check_id_token(&id_token, &self.keys.load(), &self.expect())?;
        let sub = match &claims.sub {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(EsiaError::Token(token::TokenError::MissingClaim("sub"))),
        };
        let body = self
            .person_body(&b.userinfo_url, &answer.access_token)
            .await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| EsiaError::BadAnswer {
                endpoint: "prns",
                reason: e.to_string(),
            })?;
        // The userinfo answer must be about the person of the id token.
        let info_sub = match v.get("sub") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if info_sub != sub {
            return Err(EsiaError::BadAnswer {
                endpoint: "prns",
                reason: "userinfo `sub` differs from the id token's".into(),
            });
        }
        let mut person = person_from_claims(&sub, &v, &b.claims);
        person.trusted = person.trusted || claims.confirmed();
        Ok(LoginResult { person })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_claims_map_to_a_person() {
        let v = serde_json::json!({"sub": "42", "family_name": "Иванова", "given_name": "Мария",
            "middle_name": "Петровна", "birthdate": "1985-03-12", "snils": "112-233-445 95",
            "trusted": true});
        let p = person_from_claims("42", &v, &BrokerClaims::default());
        assert_eq!(p.last_name, "Иванова");
        assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1985, 3, 12));
        assert_eq!(
            p.snils.map(|s| s.digits().to_string()).as_deref(),
            Some("11223344595")
        );
        assert!(p.trusted);
        let none = person_from_claims("42", &serde_json::json!({}), &BrokerClaims::default());
        assert!(none.snils.is_none() && !none.trusted);
    }
}
