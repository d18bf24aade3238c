//! `[store]`: where sessions, pending logins, rate limits, links and login
//! history live. Every key has a default, so a configuration without the
//! section runs the embedded store next to the configuration file.
//! `durable = "postgres"` with a `[store.postgres]` section moves the
//! durable records (links, login history, match failures) to PostgreSQL;
//! the rest stays with `backend`.

use std::path::PathBuf;

use serde::Deserialize;

use super::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One node: ephemeral records in memory, durable ones in a redb file.
    #[default]
    Embedded,
    /// Several nodes sharing a Redis (standalone, Sentinel or Cluster).
    Redis,
}

impl StoreBackend {
    pub fn label(self) -> &'static str {
        match self {
            StoreBackend::Embedded => "embedded",
            StoreBackend::Redis => "redis",
        }
    }
}

/// Where the durable records live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurableBackend {
    /// With everything else, in `backend`.
    #[default]
    Backend,
    /// In PostgreSQL (`[store.postgres]`); `backend` keeps the ephemeral
    /// records and password-session cookies.
    Postgres,
}

/// `[store.postgres]`: the database of the durable records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorePostgres {
    /// `postgresql://user:password@host:port/db?sslmode=require` or
    /// `host=... user=... dbname=...`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the URL (its first line), read again at every new
    /// connection, so that the password stays out of this file and a
    /// rotated one is picked up.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// PEM certificates of the CA that signed the server's certificate,
    /// for `sslmode=require`; the public web roots are trusted when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The schema holding the gateway's tables (created at start when
    /// missing, with its migrations).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Connections this node keeps open.
    #[serde(default = "default_pg_connections")]
    pub connections: usize,
    /// Limit for connecting and for each call.
    #[serde(default = "default_pg_timeout")]
    pub timeout_ms: u64,
}

fn default_schema() -> String {
    "esia_gate".into()
}
fn default_pg_connections() -> usize {
    4
}
fn default_pg_timeout() -> u64 {
    3000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `embedded` (default) or `redis`.
    #[serde(default)]
    pub backend: StoreBackend,
    /// The embedded store's file, relative to the configuration file.
    #[serde(default = "default_path")]
    pub path: PathBuf,
    /// Redis: `redis://`, `rediss://`, `redis+sentinel://`,
    /// `rediss+sentinel://`, `redis+cluster://`, `rediss+cluster://`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the Redis password (its first line); wins over a
    /// password in `url`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The password from the environment (`ESIA_GATE_STORE__PASSWORD`),
    /// which wins over `password_file`.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// Prefix of every Redis key; the version part changes with the layout.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// How long a session read from the store is served from this node's
    /// memory without asking again (a logout elsewhere is seen after it).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_ms: u64,
    /// How long a cached session may still be served while the store does
    /// not answer (0: never).
    #[serde(default = "default_cache_stale")]
    pub cache_stale_ms: u64,
    /// Connection and response timeout of every Redis call.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Days login history and match failures are kept (pruned in the
    /// background after that); links stay until unlinked.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// `backend` (default: durable records live with the rest) or
    /// `postgres` (in `[store.postgres]`).
    #[serde(default)]
    pub durable: DurableBackend,
    #[serde(default)]
    pub postgres: Option<StorePostgres>,
}

fn default_path() -> PathBuf {
    PathBuf::from("esia-gate.redb")
}
pub fn default_prefix() -> String {
    "esia-gate:v1:".into()
}
fn default_cache_ttl() -> u64 {
    2000
}
fn default_cache_stale() -> u64 {
    300_000
}
fn default_timeout() -> u64 {
    1500
}
/// A school year and the months its appeals may take.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
fn default_retention_days() -> u32 {
    DEFAULT_RETENTION_DAYS
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: StoreBackend::default(),
            path: default_path(),
            url: None,
            password_file: None,
            password: None,
            key_prefix: default_prefix(),
            cache_ttl_ms: default_cache_ttl(),
            cache_stale_ms: default_cache_stale(),
            timeout_ms: default_timeout(),
            retention_days: default_retention_days(),
            durable: DurableBackend::default(),
            postgres: None,
        }
    }
}

impl StoreSettings {
    /// The problems a loaded section has, as (key, message); empty when fine.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self.backend {
            StoreBackend::Embedded => {
                if self.path.as_os_str().is_empty() {
                    out.push(("store.path", "must name a file".to_string()));
                }
            }
            StoreBackend::Redis => match self.url.as_deref() {
                None | Some("") => out.push((
                    "store.url",
                    "required with backend = \"redis\" (redis://host:6379, rediss://..., redis+sentinel://..., redis+cluster://...)".to_string(),
                )),
                Some(u) => {
                    if let Err(e) = super::redis_url::parse_url(u) {
                        out.push(("store.url", e));
                    }
                }
            },
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}', ' ']) {
            out.push((
                "store.key_prefix",
                "must be non-empty, without spaces or braces".to_string(),
            ));
        }
        if self.timeout_ms == 0 {
            out.push(("store.timeout_ms", "must be above 0".to_string()));
        }
        if !(1..=36_600).contains(&self.retention_days) {
            out.push((
                "store.retention_days",
                "must be between 1 and 36600 (days login history and match failures are kept)"
                    .to_string(),
            ));
        }
        self.postgres_problems(&mut out);
        out
    }

    fn postgres_problems(&self, out: &mut Vec<(&'static str, String)>) {
        let pg = match (self.durable, &self.postgres) {
            (DurableBackend::Backend, None) => return,
            (DurableBackend::Backend, Some(_)) => {
                out.push((
                    "store.durable",
                    "[store.postgres] is set: add durable = \"postgres\" to use it".into(),
                ));
                return;
            }
            (DurableBackend::Postgres, None) => {
                out.push((
                    "store.postgres",
                    "required with durable = \"postgres\" (url or url_file)".into(),
                ));
                return;
            }
            (DurableBackend::Postgres, Some(pg)) => pg,
        };
        match (&pg.url, &pg.url_file) {
            (Some(_), Some(_)) => out.push((
                "store.postgres.url_file",
                "set only one of url and url_file".into(),
            )),
            (None, None) => out.push((
                "store.postgres.url",
                "set url, or url_file naming a file that holds it".into(),
            )),
            (Some(url), None) => {
                if let Err(m) = super::directory::check_url(url) {
                    out.push(("store.postgres.url", m));
                }
            }
            (None, Some(_)) => {}
        }
        if !valid_schema(&pg.schema) {
            out.push((
                "store.postgres.schema",
                "must be a lower-case SQL name: a-z, 0-9 and _, not starting with a digit, \
                 at most 63 characters"
                    .into(),
            ));
        }
        if pg.connections == 0 || pg.connections > 64 {
            out.push(("store.postgres.connections", "must be 1 to 64".into()));
        }
        if pg.timeout_ms == 0 {
            out.push(("store.postgres.timeout_ms", "must be above 0".into()));
        }
    }
}

/// A schema name safe to write into SQL unquoted.
pub fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && !s.starts_with("pg_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_is_the_embedded_default() {
        let s: StoreSettings = toml::from_str("").expect("empty");
        assert_eq!(s.backend, StoreBackend::Embedded);
        assert_eq!(s.path, PathBuf::from("esia-gate.redb"));
        assert_eq!(s.key_prefix, "esia-gate:v1:");
        assert_eq!(s.cache_ttl_ms, 2000);
        assert_eq!(s.retention_days, 400);
        assert!(s.problems().is_empty());
        let s: StoreSettings = toml::from_str("retention_days = 0").expect("parse");
        assert_eq!(s.problems()[0].0, "store.retention_days");
    }

    #[test]
    fn redis_needs_a_valid_url_and_unknown_keys_fail() {
        let s: StoreSettings = toml::from_str("backend = \"redis\"").expect("parse");
        assert_eq!(s.problems()[0].0, "store.url");
        let s: StoreSettings =
            toml::from_str("backend = \"redis\"\nurl = \"http://x\"").expect("parse");
        assert_eq!(s.problems()[0].0, "store.url");
        let s: StoreSettings =
            toml::from_str("backend = \"redis\"\nurl = \"redis+sentinel://a:26379,b:26379/main\"")
                .expect("parse");
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert!(toml::from_str::<StoreSettings>("urll = \"x\"").is_err());
    }

    #[test]
    fn durable_records_in_postgres_need_a_valid_section() {
        let s: StoreSettings = toml::from_str("durable = \"postgres\"").expect("parse");
        assert_eq!(s.problems()[0].0, "store.postgres");
        let s: StoreSettings = toml::from_str(
            "backend = \"redis\"\nurl = \"redis://r:6379\"\ndurable = \"postgres\"\n\
             [postgres]\nurl = \"host=db user=gate dbname=gate\"",
        )
        .expect("parse");
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let pg = s.postgres.as_ref().expect("section");
        assert_eq!((pg.schema.as_str(), pg.connections), ("esia_gate", 4));
        for (text, key) in [
            ("[postgres]\nurl = \"host=db\"", "store.durable"),
            (
                "durable = \"postgres\"\n[postgres]\nurl = \"host=db\"\nurl_file = \"f\"",
                "store.postgres.url_file",
            ),
            (
                "durable = \"postgres\"\n[postgres]\nurl = \"nonsense=1\"",
                "store.postgres.url",
            ),
            (
                "durable = \"postgres\"\n[postgres]\nurl = \"host=db\"\nschema = \"Gate; DROP\"",
                "store.postgres.schema",
            ),
            (
                "durable = \"postgres\"\n[postgres]\nurl_file = \"f\"\nconnections = 0",
                "store.postgres.connections",
            ),
        ] {
            let s: StoreSettings = toml::from_str(text).expect(text);
            assert_eq!(s.problems().first().map(|p| p.0), Some(key), "{text}");
        }
        assert!(toml::from_str::<StoreSettings>("[postgres]\nurll = \"x\"").is_err());
        assert!(toml::from_str::<StoreSettings>("durable = \"mysql\"").is_err());
    }
}
