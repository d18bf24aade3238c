//! The one HTTP client every provider talks through: timeouts, no
//! redirects followed (a back-channel answer is never a browser's page),
//! ESIA's base URL, and how a failed call becomes an [`EsiaError`].
//! What the calls mean is the providers' business.

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::error::EsiaError;
use crate::config::tls::Trust;

pub struct BackChannel {
    http: reqwest::Client,
    base: Url,
}

impl BackChannel {
    pub fn new(base: Url, timeout: Duration, trust: &Trust) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(trust.client_config()?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, base })
    }

    /// The client itself, for the broker's OpenID Connect calls (the same
    /// timeouts, trust and no redirects).
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// `path` on ESIA's host (the configured `esia.base_url`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// POST a form; the status and body of whatever answer came, since
    /// each provider reads a refusal its own way.
    pub async fn post_form(
        &self,
        endpoint: &'static str,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Bytes), EsiaError> {
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| send_error(endpoint, e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| send_error(endpoint, e))?;
        Ok((status, body))
    }

    /// GET with the access token; the body of a 2xx answer, any other
    /// answer as the error it names.
    pub async fn get_bearer(
        &self,
        endpoint: &'static str,
        url: &str,
        access_token: &str,
    ) -> Result<Bytes, EsiaError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| send_error(endpoint, e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| send_error(endpoint, e))?;
        if !status.is_success() {
            return Err(EsiaError::from_answer(endpoint, status.as_u16(), &body));
        }
        Ok(body)
    }

    /// Is ESIA's host reachable at all (for `/readyz`)? Any HTTP answer
    /// counts; a short timeout of its own, so a probe never waits for the
    /// login timeout.
    pub async fn reachable(&self) -> bool {
        self.http
            .get(self.endpoint("/"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok()
    }
}

fn send_error(endpoint: &'static str, e: reqwest::Error) -> EsiaError {
    if e.is_timeout() {
        EsiaError::Timeout { endpoint }
    } else {
        EsiaError::Unreachable {
            endpoint,
            reason: e.to_string(),
        }
    }
}
