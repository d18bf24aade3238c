//! The exact strings of ESIA's v2/v3 protocol: what the client secret signs,
//! the timestamp format, the error codes. Pure functions, shared by the
//! client and by the emulator (which must agree with real ESIA, not with us).

use chrono::{DateTime, FixedOffset, TimeZone};

/// `yyyy.MM.dd HH:mm:ss Z`, e.g. `2013.01.25 14:36:11 +0400`.
pub const TIMESTAMP_FORMAT: &str = "%Y.%m.%d %H:%M:%S %z";

pub fn format_timestamp<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format(TIMESTAMP_FORMAT).to_string()
}

pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s, TIMESTAMP_FORMAT).ok()
}

/// What the v2 authorization request's client secret signs:
/// `client_id + scope + scope_org + timestamp + state + redirect_uri`.
pub fn auth_secret_input(
    client_id: &str,
    scope: &str,
    scope_org: &str,
    timestamp: &str,
    state: &str,
    redirect_uri: &str,
) -> String {
    [client_id, scope, scope_org, timestamp, state, redirect_uri].concat()
}

/// What the v3 token request's client secret signs: the authorization
/// string (with the token request's own state and timestamp) plus `code`.
pub fn token_secret_input(
    client_id: &str,
    scope: &str,
    scope_org: &str,
    timestamp: &str,
    state: &str,
    redirect_uri: &str,
    code: &str,
) -> String {
    [
        client_id,
        scope,
        scope_org,
        timestamp,
        state,
        redirect_uri,
        code,
    ]
    .concat()
}

/// Error codes the gateway tells apart (matched on the code, never the text).
pub mod codes {
    /// The user pressed «Отказать» on the consent screen.
    pub const CONSENT_REFUSED: &str = "ESIA-007004";
    pub const UNAUTHORIZED_CLIENT: &str = "ESIA-007005";
    /// Bad or reused authorization code.
    pub const BAD_CODE: &str = "ESIA-007011";
    pub const MISSING_PARAMETER: &str = "ESIA-007014";
    /// The request's timestamp is off (a wrong clock).
    pub const BAD_TIMESTAMP: &str = "ESIA-007015";
    /// Bad client secret signature or certificate hash.
    pub const BAD_SIGNATURE: &str = "ESIA-007053";

    /// Every code above: the codes the gateway names (in metrics too).
    pub const KNOWN: &[&str] = &[
        CONSENT_REFUSED,
        UNAUTHORIZED_CLIENT,
        BAD_CODE,
        MISSING_PARAMETER,
        BAD_TIMESTAMP,
        BAD_SIGNATURE,
    ];

    /// The `code` label of `esia_gate_esia_errors_total`: one of the ESIA
    /// codes the gateway knows, `none` when no code came, `other` for any
    /// other. The callback's `error_description` is whatever the browser
    /// brings, so its code must not become a label value as is: a million
    /// `ESIA-NNNNNN` spellings would be a million series.
    pub fn label(code: &str) -> &'static str {
        match code {
            "none" => "none",
            c => KNOWN.iter().find(|k| **k == c).copied().unwrap_or("other"),
        }
    }
}

/// The `ESIA-NNNNNN` code at the start of an `error_description`, if any.
pub fn error_code(description: &str) -> Option<&str> {
    let d = description.trim_start();
    let code = d.get(..11)?;
    let ok = code.starts_with("ESIA-") && code[5..].bytes().all(|b| b.is_ascii_digit());
    ok.then_some(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn esia_error_codes_become_a_fixed_set_of_labels() {
        use super::codes::{KNOWN, label};
        assert_eq!(label("ESIA-007004"), "ESIA-007004");
        assert_eq!(label("ESIA-007053"), "ESIA-007053");
        assert_eq!(label("none"), "none");
        for odd in ["ESIA-999999", "ESIA-007004 ", "esia-007004", "", "x\"y"] {
            assert_eq!(label(odd), "other", "{odd}");
        }
        // Whatever comes in, the label is one of eight values.
        let mut labels: Vec<&str> = (0..1_000_000)
            .step_by(997)
            .map(|n| label(&format!("ESIA-{n:06}")))
            .chain(KNOWN.iter().map(|c| label(c)))
            .collect();
        labels.sort_unstable();
        labels.dedup();
        assert!(labels.len() <= 8, "{labels:?}");
    }

    use super::*;

    #[test]
    fn timestamp_has_the_documented_shape() {
        let t = FixedOffset::east_opt(4 * 3600)
            .unwrap()
            .with_ymd_and_hms(2013, 1, 25, 14, 36, 11)
            .unwrap();
        assert_eq!(format_timestamp(&t), "2013.01.25 14:36:11 +0400");
        assert_eq!(parse_timestamp("2013.01.25 14:36:11 +0400"), Some(t));
        assert_eq!(parse_timestamp("2013-01-25T14:36:11Z"), None);
    }

    #[test]
    fn secrets_concatenate_in_the_documented_order() {
        assert_eq!(
            auth_secret_input("DIARY", "openid", "", "TS", "ST", "http://r"),
            "DIARYopenidTSSThttp://r"
        );
        assert_eq!(
            token_secret_input("DIARY", "openid", "", "TS", "ST", "http://r", "C0DE"),
            "DIARYopenidTSSThttp://rC0DE"
        );
    }

    #[test]
    fn error_codes_are_read_from_the_description() {
        assert_eq!(
            error_code("ESIA-007004: Пользователь отказался"),
            Some(codes::CONSENT_REFUSED)
        );
        assert_eq!(error_code("Пользователь отказался"), None);
        assert_eq!(error_code("ESIA-0070"), None);
    }
}
