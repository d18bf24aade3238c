//! ESIA through a certified broker (a Keycloak with an ESIA plugin, a
//! regional «шлюз ЕСИА»): plain OAuth2 authorization code with a static
//! client secret, an OIDC id token checked against the trusted
//! certificates, and the person from the userinfo endpoint. The ESIA
//! operator asks new systems to connect this way, so a region switches by
//! configuration alone (`esia.mode = "broker"`).

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Deserialize;
use url::Url;

use super::error::EsiaError;
use super::protocol::codes;
use super::provider::{EsiaProvider, Shared, Tokens};
use super::token::TokenError;
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

/// ESIA through a broker: the [`BrokerConfig`]'s endpoints, our client id
/// and redirect URI, the id token checked against the trusted keys.
pub struct BrokerProvider {
    shared: Shared,
    broker: BrokerConfig,
}

impl BrokerProvider {
    pub fn new(shared: Shared, broker: BrokerConfig) -> Self {
        Self { shared, broker }
    }
}

#[async_trait::async_trait]
impl EsiaProvider for BrokerProvider {
    /// A plain OAuth2 request: no timestamp and nothing signed, so `now`
    /// is not used.
    async fn authorization_url(
        &self,
        state: &str,
        _now: DateTime<FixedOffset>,
    ) -> Result<String, EsiaError> {
        let s = &self.shared.settings;
        let mut url =
            Url::parse(&self.broker.authorize_url).map_err(|e| EsiaError::bad_answer("ac", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scope)
            .append_pair("state", state);
        Ok(url.into())
    }

    async fn exchange_code(
        &self,
        code: &str,
        _now: DateTime<FixedOffset>,
    ) -> Result<Tokens, EsiaError> {
        let s = &self.shared.settings;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", s.redirect_uri.as_str()),
            ("client_id", s.client_id.as_str()),
            ("client_secret", self.broker.client_secret.as_str()),
        ];
        let (status, body) = self
            .shared
            .http
            .post_form("te", &self.broker.token_url, &form)
            .await?;
        if !(200..300).contains(&status) {
            return Err(refusal(status, &body));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| EsiaError::bad_answer("te", e))?;
        let id_token = answer.id_token.ok_or(EsiaError::BadAnswer {
            endpoint: "te",
            reason: "no id_token (is `openid` in esia.scope?)".into(),
        })?;
        let claims = self.shared.tokens.id_token(&id_token)?;
        let sub = match &claims.sub {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(EsiaError::Token(TokenError::MissingClaim("sub"))),
        };
        Ok(Tokens {
            access_token: answer.access_token,
            subject: sub,
            confirmed: claims.confirmed(),
        })
    }

    async fn person(&self, tokens: &Tokens) -> Result<Person, EsiaError> {
        let body = self
            .shared
            .http
            .get_bearer("prns", &self.broker.userinfo_url, &tokens.access_token)
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

    /// The broker's end-session endpoint (OIDC's `post_logout_redirect_uri`);
    /// without one configured, straight back.
    fn logout_url(&self, redirect_url: &str) -> String {
        let Some(l) = &self.broker.logout_url else {
            return redirect_url.to_string();
        };
        match Url::parse(l) {
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

/// A token endpoint's refusal. A refused code at a broker (`invalid_grant`)
/// is what `ESIA-007011` is directly, so the login flow treats both alike.
fn refusal(status: u16, body: &[u8]) -> EsiaError {
    let e = EsiaError::from_answer("te", status, body);
    let invalid_grant = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|x| x.as_str()).map(str::to_string))
        .as_deref()
        == Some("invalid_grant");
    match e {
        EsiaError::Status { status: 400, .. } if invalid_grant => EsiaError::Protocol {
            endpoint: "te",
            error: "invalid_grant".into(),
            code: codes::BAD_CODE.into(),
        },
        e => e,
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

    fn broker(logout_url: Option<&str>) -> BrokerConfig {
        BrokerConfig {
            authorize_url: "https://broker.example/auth?kc_idp_hint=esia".into(),
            token_url: "https://broker.example/token".into(),
            userinfo_url: "https://broker.example/userinfo".into(),
            logout_url: logout_url.map(str::to_string),
            client_secret: "s3cret".into(),
            claims: BrokerClaims::default(),
        }
    }

    #[tokio::test]
    async fn the_broker_authorization_url_is_plain_oauth2_without_the_secret() {
        use crate::esia::provider::testing;
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let p = BrokerProvider::new(testing::shared(&keys.esia_cert, ""), broker(None));
        let url = p
            .authorization_url("ST-1", testing::moment())
            .await
            .expect("url");
        let (path, q) = testing::split(&url);
        assert_eq!(path, "https://broker.example/auth");
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("kc_idp_hint", "esia"),
                ("response_type", "code"),
                ("client_id", testing::CLIENT),
                ("redirect_uri", testing::REDIRECT),
                ("scope", testing::SCOPE),
                ("state", "ST-1"),
            ]
        );
        assert!(!url.contains("s3cret"));
        // Without an end-session endpoint the logout comes straight back.
        assert_eq!(
            p.logout_url("https://diary.example/out"),
            "https://diary.example/out"
        );
        let p = BrokerProvider::new(
            testing::shared(&keys.esia_cert, ""),
            broker(Some("https://broker.example/logout")),
        );
        assert_eq!(
            p.logout_url("https://diary.example/out"),
            "https://broker.example/logout?client_id=DIARY&post_logout_redirect_uri=https%3A%2F%2Fdiary.example%2Fout"
        );
    }

    #[test]
    fn a_refused_code_at_the_broker_reads_as_esias_bad_code() {
        let e = refusal(
            400,
            br#"{"error":"invalid_grant","error_description":"Code not valid"}"#,
        );
        assert_eq!(e.code(), codes::BAD_CODE);
        let e = refusal(400, br#"{"error":"invalid_client"}"#);
        assert!(matches!(e, EsiaError::Status { status: 400, .. }));
        let e = refusal(503, b"");
        assert!(matches!(e, EsiaError::Status { status: 503, .. }));
    }
}
