//! `[directory]`: where the diary's accounts come from. Exactly one source:
//! a CSV file (reloaded when it changes) or a read-only SQL query on
//! PostgreSQL (run again every `refresh_seconds`).

use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// The CSV export of the diary's accounts.
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// How often the CSV file is checked for a change (size, time, inode).
    #[serde(default = "default_csv_reload")]
    pub csv_reload_seconds: u64,
    /// The CSV file's encoding: `auto` (default: a byte order mark, else
    /// UTF-8 when the bytes are valid UTF-8, else windows-1251, what
    /// Russian Excel saves), or a name such as `utf-8` or `windows-1251`.
    #[serde(default)]
    pub csv_encoding: CsvEncoding,
    /// A read-only query on the diary's PostgreSQL database.
    #[serde(default)]
    pub postgres: Option<Postgres>,
    /// What to do for a person whose SNILS finds no diary account:
    /// `"off"` (manual linking) or `"birth_date"`.
    #[serde(default)]
    pub match_without_snils: WithoutSnils,
}

/// How the directory file is read (`csv_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// A BOM, else UTF-8 when valid, else windows-1251.
    #[default]
    Detect,
    /// Exactly this encoding (a BOM is still skipped).
    Fixed(&'static encoding_rs::Encoding),
}

impl CsvEncoding {
    /// `auto` or an encoding's label (`utf-8`, `windows-1251`, `cp1251`,
    /// `koi8-r`, ...; WHATWG labels, any case).
    pub fn parse(label: &str) -> Result<Self, String> {
        let label = label.trim();
        if label.eq_ignore_ascii_case("auto") {
            return Ok(Self::Detect);
        }
        encoding_rs::Encoding::for_label(label.as_bytes())
            .map(Self::Fixed)
            .ok_or_else(|| {
                format!(
                    "`{label}` is not an encoding (use \"auto\", \"utf-8\" or \"windows-1251\")"
                )
            })
    }
}

impl<'de> Deserialize<'de> for CsvEncoding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = String::deserialize(d)?;
        Self::parse(&label).map_err(serde::de::Error::custom)
    }
}

/// What to do for a person whose SNILS finds no diary account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithoutSnils {
    /// Nothing more: manual linking (the seeds' way).
    #[default]
    Off,
    /// Exactly one diary row without a SNILS (nor a broken one), with the
    /// same normalised FIO and birth date. Only for a person whose ESIA
    /// account has a SNILS — ESIA checked that account's name against it;
    /// a simplified account's name is only what its owner typed.
    BirthDate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// `postgresql://user:password@host:port/db?sslmode=require` or
    /// `host=... user=... dbname=...`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the URL, so that the password stays out of this file;
    /// read again at every refresh (a rotated password is picked up).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Returns the columns of the CSV by name; runs in a READ ONLY
    /// transaction.
    pub query: String,
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u64,
    /// Limit for connecting and running the query, each time.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// PEM certificates of the CA that signed the server's certificate, for
    /// `sslmode=require`, instead of `tls.ca_file` (besides `tls.roots`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_csv_reload() -> u64 {
    5
}
fn default_refresh() -> u64 {
    300
}
fn default_timeout() -> u64 {
    30
}

/// Checks the section; an error names its key.
pub(super) fn validate(d: &Directory) -> Result<(), (&'static str, String)> {
    match (&d.csv, &d.postgres) {
        (None, None) => {
            return Err((
                "directory.csv",
                "set directory.csv (a CSV file) or directory.postgres (a SQL query)".into(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err((
                "directory.postgres",
                "set only one of directory.csv and directory.postgres".into(),
            ));
        }
        _ => {}
    }
    if d.csv_reload_seconds == 0 {
        return Err(("directory.csv_reload_seconds", "must be at least 1".into()));
    }
    let Some(pg) = &d.postgres else {
        return Ok(());
    };
    match (&pg.url, &pg.url_file) {
        (Some(_), Some(_)) => {
            return Err((
                "directory.postgres.url_file",
                "set only one of url and url_file".into(),
            ));
        }
        (None, None) => {
            return Err((
                "directory.postgres.url",
                "set url, or url_file naming a file that holds it".into(),
            ));
        }
        (Some(url), None) => {
            check_url(url).map_err(|m| ("directory.postgres.url", m))?;
        }
        (None, Some(_)) => {}
    }
    if pg.query.trim().is_empty() {
        return Err((
            "directory.postgres.query",
            "must be a SELECT returning the directory's columns".into(),
        ));
    }
    if pg.refresh_seconds == 0 {
        return Err((
            "directory.postgres.refresh_seconds",
            "must be at least 1".into(),
        ));
    }
    if pg.timeout_seconds == 0 {
        return Err((
            "directory.postgres.timeout_seconds",
            "must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Parses a connection URL; the message never repeats the URL (it may hold
/// a password).
pub fn check_url(url: &str) -> Result<tokio_postgres::Config, String> {
    let c = tokio_postgres::Config::from_str(url.trim()).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("not a PostgreSQL connection string ({e}{cause})")
    })?;
    if c.get_hosts().is_empty() {
        return Err("names no host".into());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), (&'static str, String)> {
        let d: Directory = toml::from_str(text).map_err(|e| ("toml", e.to_string()))?;
        validate(&d)
    }

    #[test]
    fn a_csv_alone_or_a_query_alone_is_valid_with_defaults() {
        let d: Directory = toml::from_str("csv = \"a.csv\"").expect("csv");
        assert_eq!(d.csv_reload_seconds, 5);
        assert!(validate(&d).is_ok());
        let d: Directory = toml::from_str(
            "[postgres]\nurl = \"postgresql://gate@db.local/diary\"\nquery = \"SELECT 1\"",
        )
        .expect("postgres");
        assert!(validate(&d).is_ok());
        let pg = d.postgres.expect("postgres");
        assert_eq!((pg.refresh_seconds, pg.timeout_seconds), (300, 30));
    }

    #[test]
    fn the_csv_encoding_is_detected_or_named() {
        let d: Directory = toml::from_str("csv = \"a.csv\"").expect("csv");
        assert_eq!(d.csv_encoding, CsvEncoding::Detect);
        let d: Directory =
            toml::from_str("csv = \"a.csv\"\ncsv_encoding = \"CP1251\"").expect("cp1251");
        assert_eq!(
            d.csv_encoding,
            CsvEncoding::Fixed(encoding_rs::WINDOWS_1251)
        );
        let e = toml::from_str::<Directory>("csv = \"a.csv\"\ncsv_encoding = \"latin-9000\"")
            .expect_err("unknown");
        assert!(e.to_string().contains("latin-9000"), "{e}");
        assert!(e.to_string().contains("csv_encoding"), "{e}");
    }

    #[test]
    fn exactly_one_source_must_be_set() {
        let e = parse("").expect_err("none");
        assert_eq!(e.0, "directory.csv");
        assert!(e.1.contains("directory.postgres"), "{}", e.1);
        let e =
            parse("csv = \"a.csv\"\n[postgres]\nurl = \"host=db user=gate\"\nquery = \"SELECT 1\"")
                .expect_err("both");
        assert_eq!(e.0, "directory.postgres");
    }

    #[test]
    fn bad_postgres_values_name_their_key_and_never_echo_the_password() {
        for (text, key) in [
            ("query = \"SELECT 1\"", "directory.postgres.url"),
            (
                "url = \"host=db\"\nurl_file = \"u\"\nquery = \"SELECT 1\"",
                "directory.postgres.url_file",
            ),
            (
                "url = \"postgresql://gate:s3cret@db/diary?sslmode=sometimes\"\nquery = \"SELECT 1\"",
                "directory.postgres.url",
            ),
            (
                "url = \"user=gate\"\nquery = \"SELECT 1\"",
                "directory.postgres.url",
            ),
            (
                "url = \"host=db\"\nquery = \"  \"",
                "directory.postgres.query",
            ),
            (
                "url = \"host=db\"\nquery = \"SELECT 1\"\nrefresh_seconds = 0",
                "directory.postgres.refresh_seconds",
            ),
        ] {
            let e = parse(&format!("[postgres]\n{text}")).expect_err(key);
            assert_eq!(e.0, key, "{text}: {}", e.1);
            assert!(!e.1.contains("s3cret"), "{}", e.1);
        }
    }
}
