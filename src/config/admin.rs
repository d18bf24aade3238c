//! `[admin]`: who may read the admin listener (metrics, readiness, the
//! schools' reports) and how the reports show time. Without a token the
//! listener must stay on loopback: reports name people.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// A file whose first line is the bearer token every admin path except
    /// `/healthz` requires. Without it the admin listener must be on a
    /// loopback address.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The token from the environment (`ESIA_GATE_ADMIN__TOKEN`), which
    /// wins over `token_file`.
    #[serde(skip)]
    pub token: Option<Secret>,
    /// The time zone report times are shown in (an IANA name).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The failed-match report covers this many days unless asked otherwise.
    #[serde(default = "default_days")]
    pub match_failure_days: u32,
    /// How often a scrape recounts `esia_gate_adoption_accounts` (it reads
    /// the whole login history), seconds; 0 recounts at every scrape.
    #[serde(default = "default_adoption_refresh")]
    pub adoption_refresh_seconds: u64,
}

fn default_time_zone() -> String {
    "Europe/Moscow".into()
}
fn default_days() -> u32 {
    30
}
fn default_adoption_refresh() -> u64 {
    60
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token_file: None,
            token: None,
            time_zone: default_time_zone(),
            match_failure_days: default_days(),
            adoption_refresh_seconds: default_adoption_refresh(),
        }
    }
}

/// The shortest token accepted: long enough not to be guessed.
pub const MIN_TOKEN_LEN: usize = 24;

/// Checks that need no file: the key at fault and why.
pub fn validate(a: &AdminSettings, admin_addr: SocketAddr) -> Result<(), (&'static str, String)> {
    if a.token_file.is_none() && a.token.is_none() && !admin_addr.ip().is_loopback() {
        return Err((
            "admin.token_file",
            format!(
                "required when listen.admin ({admin_addr}) is not a loopback address: \
                 the admin listener serves reports that name people"
            ),
        ));
    }
    if a.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err((
            "admin.time_zone",
            format!(
                "`{}` is not an IANA time zone (e.g. Europe/Moscow)",
                a.time_zone
            ),
        ));
    }
    if a.match_failure_days == 0 || a.match_failure_days > 3660 {
        return Err((
            "admin.match_failure_days",
            "must be between 1 and 3660".into(),
        ));
    }
    Ok(())
}

/// The token in a token file: its first line, trimmed. The error never
/// holds the file's content.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    check_token(&token).map_err(|m| format!("{}: {m} (on the first line)", path.display()))?;
    Ok(token)
}

/// Is this token long and plain enough? The message never shows it.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token must be at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token must not contain spaces or control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn without_a_token_the_admin_listener_must_be_on_loopback() {
        let a = AdminSettings::default();
        assert!(validate(&a, addr("127.0.0.1:9090")).is_ok());
        assert!(validate(&a, addr("[::1]:9090")).is_ok());
        let (key, _) = validate(&a, addr("0.0.0.0:9090")).expect_err("public");
        assert_eq!(key, "admin.token_file");
        let with = AdminSettings {
            token_file: Some("admin-token".into()),
            ..AdminSettings::default()
        };
        assert!(validate(&with, addr("0.0.0.0:9090")).is_ok());
    }

    #[test]
    fn a_configuration_with_a_public_admin_listener_and_no_token_does_not_load() {
        let text = r#"
[listen]
public = "0.0.0.0:8080"
admin = "0.0.0.0:9090"
[upstream]
url = "http://127.0.0.1:8000"
[gateway]
public_url = "https://dnevnik.example.ru"
[esia]
mode = "v2"
base_url = "https://esia.gosuslugi.ru"
client_id = "DIARY"
scope = "openid fullname snils"
certificate = "c.pem"
private_key = "k.pem"
trusted_certificates = ["e.pem"]
[directory]
csv = "a.csv"
"#;
        let parse = |t: &str| crate::config::parse(t, "gateway.toml", "/etc/esia-gate".into());
        let e = parse(text).expect_err("public admin without a token");
        assert!(e.to_string().contains("admin.token_file"), "{e}");
        let with_token = format!("{text}[admin]\ntoken_file = \"admin-token\"\n");
        let r = parse(&with_token).expect("with a token it loads");
        assert_eq!(
            r.settings.admin.token_file.as_deref(),
            Some(std::path::Path::new("admin-token"))
        );
    }

    #[test]
    fn a_bad_time_zone_is_named() {
        let a = AdminSettings {
            time_zone: "Moscow".into(),
            ..AdminSettings::default()
        };
        let (key, _) = validate(&a, addr("127.0.0.1:9090")).expect_err("zone");
        assert_eq!(key, "admin.time_zone");
    }

    #[test]
    fn a_short_or_empty_token_file_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t");
        std::fs::write(&p, "short-secret\n").expect("write");
        let e = read_token(&p).expect_err("short");
        assert!(!e.contains("short-secret"), "{e}");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\nignored\n").expect("write");
        assert_eq!(
            read_token(&p).expect("token"),
            "0123456789abcdef0123456789abcdef"
        );
    }
}
