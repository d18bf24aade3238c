//! The direct v2/v3 ESIA client: the authorization URL, the token exchange
//! and the person's data. Every failure is an [`EsiaError`] the gateway
//! turns into a Russian page and a metric.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Deserialize;
use url::Url;

use super::protocol::{self, auth_secret_input, format_timestamp, token_secret_input};
use super::signer::Signer;
use super::token::{self, Expect, TokenError, TrustedKeys};
use crate::identity::{EsiaOid, Person, Snils};

#[derive(Debug, thiserror::Error)]
pub enum EsiaError {
    #[error("ESIA did not answer in time ({endpoint})")]
    Timeout { endpoint: &'static str },
    #[error("ESIA is unreachable ({endpoint}): {reason}")]
    Unreachable {
        endpoint: &'static str,
        reason: String,
    },
    #[error("ESIA answered HTTP {status} ({endpoint})")]
    Status { endpoint: &'static str, status: u16 },
    /// ESIA answered with an `ESIA-NNNNNN` error.
    #[error("ESIA error {code} ({endpoint}): {error}")]
    Protocol {
        endpoint: &'static str,
        error: String,
        code: String,
    },
    #[error("ESIA answer could not be read ({endpoint}): {reason}")]
    BadAnswer {
        endpoint: &'static str,
        reason: String,
    },
    #[error("ESIA token refused: {0}")]
    Token(#[from] TokenError),
    #[error("the token answer's state differs from the request's")]
    StateMismatch,
    #[error("signing the client secret failed: {0}")]
    Signing(String),
}

impl EsiaError {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Unreachable { .. } => "unreachable",
            Self::Status { .. } => "http_status",
            Self::Protocol { .. } => "esia_error",
            Self::BadAnswer { .. } => "bad_answer",
            Self::Token(_) => "bad_token",
            Self::StateMismatch => "state_mismatch",
            Self::Signing(_) => "signing",
        }
    }

    pub fn endpoint(&self) -> &'static str {
        match self {
            Self::Timeout { endpoint }
            | Self::Unreachable { endpoint, .. }
            | Self::Status { endpoint, .. }
            | Self::Protocol { endpoint, .. }
            | Self::BadAnswer { endpoint, .. } => endpoint,
            Self::Token(_) | Self::StateMismatch => "te",
            Self::Signing(_) => "signer",
        }
    }

    /// The `ESIA-NNNNNN` code when ESIA sent one, else "none".
    pub fn code(&self) -> &str {
        match self {
            Self::Protocol { code, .. } => code,
            _ => "none",
        }
    }
}

pub struct EsiaSettings {
    pub base: Url,
    pub client_id: String,
    pub scope: String,
    pub scope_org: String,
    pub redirect_uri: String,
    pub issuer: String,
    pub timeout: Duration,
    pub leeway_seconds: u64,
}

/// How the gateway reaches ESIA.
pub enum Way {
    /// Direct v2/v3 with a GOST client secret.
    Direct(Arc<dyn Signer>),
    /// Through a certified broker (plain OAuth2/OIDC, static secret).
    Broker(Box<super::broker::BrokerConfig>),
    /// The deprecated direct endpoints with a detached PKCS#7 secret.
    Legacy(Box<super::legacy::LegacySigner>),
}

pub struct EsiaClient {
    pub(super) s: EsiaSettings,
    way: Way,
    /// ESIA rotates its keys about yearly: swapped in on reload.
    pub(super) keys: arc_swap::ArcSwap<TrustedKeys>,
    pub(super) http: reqwest::Client,
}

/// What a successful login brings back.
#[derive(Debug, Clone)]
pub struct LoginResult {
    pub person: Person,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonAnswer {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    middle_name: String,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    snils: Option<String>,
    #[serde(default)]
    trusted: Option<bool>,
}

impl EsiaClient {
    pub fn new(s: EsiaSettings, way: Way, keys: TrustedKeys) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            s,
            way,
            keys: arc_swap::ArcSwap::from_pointee(keys),
            http,
        })
    }

    pub(super) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.s.base.as_str().trim_end_matches('/'))
    }

    /// The `/aas/oauth2/v2/ac` URL the browser is sent to.
    pub fn authorization_url(
        &self,
        state: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<String, EsiaError> {
        let signer = match &self.way {
            Way::Broker(b) => return self.broker_authorization_url(b, state),
            Way::Legacy(l) => return self.legacy_authorization_url(l, state, now),
            Way::Direct(signer) => signer,
        };
        let ts = format_timestamp(&now);
        let s = &self.s;
        let input = auth_secret_input(
            &s.client_id,
            &s.scope,
            &s.scope_org,
            &ts,
            state,
            &s.redirect_uri,
        );
        let secret = signer
            .client_secret(&input)
            .map_err(|e| EsiaError::Signing(e.to_string()))?;
        let mut url =
            Url::parse(&self.endpoint("/aas/oauth2/v2/ac")).map_err(|e| EsiaError::BadAnswer {
                endpoint: "ac",
                reason: e.to_string(),
            })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &s.client_id)
                .append_pair("client_secret", &secret)
                .append_pair("client_certificate_hash", signer.certificate_hash())
                .append_pair("redirect_uri", &s.redirect_uri)
                .append_pair("scope", &s.scope);
            if !s.scope_org.is_empty() {
                q.append_pair("scope_org", &s.scope_org);
            }
            q.append_pair("response_type", "code")
                .append_pair("state", state)
                .append_pair("access_type", "online")
                .append_pair("timestamp", &ts);
        }
        Ok(url.into())
    }

    pub(super) fn send_error(endpoint: &'static str, e: reqwest::Error) -> EsiaError {
        if e.is_timeout() {
            EsiaError::Timeout { endpoint }
        } else {
            EsiaError::Unreachable {
                endpoint,
                reason: e.to_string(),
            }
        }
    }

    pub(super) fn expect(&self) -> Expect<'_> {
        Expect {
            issuer: &self.s.issuer,
            client_id: &self.s.client_id,
            leeway_seconds: self.s.leeway_seconds,
        }
    }

    /// Exchange the code, check the tokens, fetch the person.
    pub async fn complete_login(
        &self,
        code: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<LoginResult, EsiaError> {
        let signer = match &self.way {
            Way::Broker(b) => return self.broker_login(b, code).await,
            Way::Legacy(l) => return self.legacy_login(l, code, now).await,
            Way::Direct(signer) => signer,
        };
        let state = uuid::Uuid::new_v4().to_string();
        let ts = format_timestamp(&now);
        let s = &self.s;
        let input = token_secret_input(
            &s.client_id,
            &s.scope,
            &s.scope_org,
            &ts,
            &state,
            &s.redirect_uri,
            code,
        );
        let secret = signer
            .client_secret(&input)
            .map_err(|e| EsiaError::Signing(e.to_string()))?;
        let form = [
            ("client_id", s.client_id.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("client_certificate_hash", signer.certificate_hash()),
            ("client_secret", &secret),
            ("state", &state),
            ("redirect_uri", &s.redirect_uri),
            ("scope", &s.scope),
            ("scope_org", &s.scope_org),
            ("timestamp", &ts),
            ("token_type", "Bearer"),
        ];
        self.exchange("/aas/oauth2/v3/te", &form, &state).await
    }

    /// GET a person endpoint (ESIA's `/rs/prns/{oid}` or a broker's
    /// userinfo) with the access token; the body of a 2xx answer.
    pub(super) async fn person_body(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<bytes::Bytes, EsiaError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| Self::send_error("prns", e))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| Self::send_error("prns", e))?;
        if !status.is_success() {
            return Err(protocol_error("prns", status.as_u16(), &body));
        }
        Ok(body)
    }

    /// Post a token request, check the answer and its tokens, fetch the
    /// person: the part v3 and the legacy endpoint share.
    pub(super) async fn exchange(
        &self,
        path: &str,
        form: &[(&str, &str)],
        state: &str,
    ) -> Result<LoginResult, EsiaError> {
        let resp = self
            .http
            .post(self.endpoint(path))
            .form(form)
            .send()
            .await
            .map_err(|e| Self::send_error("te", e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| Self::send_error("te", e))?;
        if !status.is_success() {
            return Err(protocol_error("te", status.as_u16(), &body));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| EsiaError::BadAnswer {
                endpoint: "te",
                reason: e.to_string(),
            })?;
        if answer.state.as_deref().is_some_and(|st| st != state) {
            return Err(EsiaError::StateMismatch);
        }
        let (oid, _claims) =
            token::check_access_token(&answer.access_token, &self.keys.load(), &self.expect())?;
        let confirmed_by_id_token = match &answer.id_token {
            Some(t) => token::check_id_token(t, &self.keys.load(), &self.expect())?.confirmed(),
            None => false,
        };
        let person = self
            .person(&oid, &answer.access_token, confirmed_by_id_token)
            .await?;
        Ok(LoginResult { person })
    }

    async fn person(
        &self,
        oid: &str,
        access_token: &str,
        confirmed_by_id_token: bool,
    ) -> Result<Person, EsiaError> {
        let body = self
            .person_body(&self.endpoint(&format!("/rs/prns/{oid}")), access_token)
            .await?;
        let a: PersonAnswer = serde_json::from_slice(&body).map_err(|e| EsiaError::BadAnswer {
            endpoint: "prns",
            reason: e.to_string(),
        })?;
        let mut p = person_of(oid, a);
        p.trusted = p.trusted || confirmed_by_id_token;
        if self.s.scope.split_whitespace().any(|s| s == "kid_fullname") {
            p.children = self.children(oid, access_token).await;
        }
        Ok(p)
    }

    /// The person's children. Their format is not confirmed by a public
    /// source, so it is read leniently: a failure loses the children (the
    /// parent can still attach them by login and password), not the login.
    async fn children(&self, oid: &str, access_token: &str) -> Vec<Person> {
        let url = self.endpoint(&format!("/rs/prns/{oid}/kids?embed=(elements)"));
        let resp = match self.http.get(url).bearer_auth(access_token).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::warn!(status = r.status().as_u16(), "ESIA children list refused");
                return Vec::new();
            }
            Err(e) => {
                tracing::warn!(error = %e, "ESIA children list unavailable");
                return Vec::new();
            }
        };
        let v: serde_json::Value = match resp.json().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "ESIA children list unreadable");
                return Vec::new();
            }
        };
        let elements = v
            .get("elements")
            .and_then(|e| e.as_array())
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, el) in elements.into_iter().enumerate() {
            if !el.is_object() {
                tracing::warn!(
                    index = i,
                    "ESIA child element is not an object (embed ignored?)"
                );
                continue;
            }
            let kid_oid = match el.get("oid").or_else(|| el.get("id")) {
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            match serde_json::from_value::<PersonAnswer>(el) {
                Ok(a) => out.push(person_of(&kid_oid, a)),
                Err(e) => tracing::warn!(index = i, error = %e, "ESIA child element unreadable"),
            }
        }
        out
    }
}

fn person_of(oid: &str, a: PersonAnswer) -> Person {
    let snils = match a.snils.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match Snils::parse(raw) {
            Ok(s) => Some(s),
            Err(e) => {
                // The value is never logged, only why it is unusable.
                tracing::warn!(reason = %e, "ESIA sent a SNILS that does not parse");
                None
            }
        },
    };
    let birth_date = a
        .birth_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%d.%m.%Y").ok());
    Person {
        oid: EsiaOid(oid.to_string()),
        last_name: a.last_name,
        first_name: a.first_name,
        middle_name: a.middle_name,
        birth_date,
        snils,
        trusted: a.trusted.unwrap_or(false),
        children: Vec::new(),
    }
}

impl EsiaClient {
    /// Replace the trusted token certificates (a key rotation); a bad set
    /// keeps the old one.
    pub fn reload_trusted(&self, pems: &[Vec<u8>]) -> Result<(), String> {
        let keys = TrustedKeys::from_certificates(pems)?;
        self.keys.store(std::sync::Arc::new(keys));
        Ok(())
    }

    /// Is ESIA reachable at all (for `/readyz`)? Any HTTP answer counts.
    pub async fn reachable(&self) -> bool {
        self.http
            .get(self.endpoint("/"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok()
    }

    /// ESIA's logout URL, back to `redirect_url`.
    pub fn logout_url(&self, redirect_url: &str) -> String {
        if let Way::Broker(b) = &self.way {
            return super::broker::logout_url(b, &self.s.client_id, redirect_url);
        }
        let mut u = match Url::parse(&self.endpoint("/idp/ext/Logout")) {
            Ok(u) => u,
            Err(_) => return redirect_url.to_string(),
        };
        u.query_pairs_mut()
            .append_pair("client_id", &self.s.client_id)
            .append_pair("redirect_url", redirect_url);
        u.into()
    }
}

pub(super) fn protocol_error(endpoint: &'static str, status: u16, body: &[u8]) -> EsiaError {
    if let Ok(e) = serde_json::from_slice::<ErrorAnswer>(body)
        && let Some(code) = protocol::error_code(&e.error_description)
    {
        return EsiaError::Protocol {
            endpoint,
            error: e.error,
            code: code.to_string(),
        };
    }
    EsiaError::Status { endpoint, status }
}
