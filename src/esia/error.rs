//! What can go wrong talking to ESIA (or a broker), whichever provider
//! talks: one enum the login flow turns into a Russian page, with bounded
//! metric labels. Also reads ESIA's JSON error answer into it.

use serde::Deserialize;

use super::protocol;
use super::token::TokenError;

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

    /// A non-2xx answer: the `ESIA-NNNNNN` error when the body names one
    /// (matched on the code, never the text), else the bare HTTP status.
    pub fn from_answer(endpoint: &'static str, status: u16, body: &[u8]) -> Self {
        if let Ok(e) = serde_json::from_slice::<ErrorAnswer>(body)
            && let Some(code) = protocol::error_code(&e.error_description)
        {
            return Self::Protocol {
                endpoint,
                error: e.error,
                code: code.to_string(),
            };
        }
        Self::Status { endpoint, status }
    }

    /// An answer that came but could not be read as expected.
    pub fn bad_answer(endpoint: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::BadAnswer {
            endpoint,
            reason: reason.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_esia_error_answer_keeps_its_code_and_anything_else_its_status() {
        let body = br#"{"error":"invalid_grant","error_description":"ESIA-007011: code is bad"}"#;
        let e = EsiaError::from_answer("te", 400, body);
        assert_eq!(
            (e.code(), e.label(), e.endpoint()),
            (protocol::codes::BAD_CODE, "esia_error", "te")
        );
        let e = EsiaError::from_answer("prns", 403, b"<html>forbidden</html>");
        assert!(matches!(e, EsiaError::Status { status: 403, .. }));
        assert_eq!((e.code(), e.label()), ("none", "http_status"));
    }
}
