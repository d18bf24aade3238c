//! Settings from the environment, as oauth2-proxy and Pomerium take them:
//! the configuration file's path (`ESIA_GATE_CONFIG`, when `--config` is
//! not given) and the secrets, so that a container or a systemd
//! `EnvironmentFile=` can hold them instead of files. Each variable is
//! `ESIA_GATE_` and the key's path in upper case, `__` between sections
//! (`esia.broker.client_secret` is `ESIA_GATE_ESIA__BROKER__CLIENT_SECRET`).
//! Precedence: a command-line flag, then the environment, then the file
//! (its `*_file` key or inline value). Values are never printed: an error
//! or a note names the variable only.

use std::collections::BTreeMap;

use super::secret::Secret;
use super::{ConfigError, Settings};

/// The variable naming the configuration file when `--config` is absent.
pub const CONFIG_VAR: &str = "ESIA_GATE_CONFIG";

const PREFIX: &str = "ESIA_GATE_";

/// The keys the environment may set, and what each one replaces in the
/// file.
pub const OVERRIDES: &[(&str, &str)] = &[
    (
        "esia.broker.client_secret",
        "esia.broker.client_secret_file",
    ),
    ("esia.signer.token", "esia.signer.token_file"),
    ("store.url", "store.url"),
    ("store.password", "store.password_file"),
    (
        "directory.postgres.url",
        "directory.postgres.url / url_file",
    ),
    ("admin.token", "admin.token_file"),
];

/// The variable that sets `key`.
pub fn var_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// The `ESIA_GATE_*__*` variables of a process (the overrides; variables
/// without `__`, such as `ESIA_GATE_CONFIG`, are not settings).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, Result<String, ()>>,
}

impl Environment {
    /// No variables: what a configuration parsed from text sees.
    pub fn none() -> Self {
        Self::default()
    }

    /// This process's variables.
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os().filter_map(|(k, v)| {
                Some((k.into_string().ok()?, v.into_string().map_err(|_| ())))
            }),
        )
    }

    /// Given variables (tests); a value that is not UTF-8 is `Err`.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Result<String, ()>)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .filter(|(k, _)| k.starts_with(PREFIX) && k.contains("__"))
                .collect(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), Ok(value.to_string()));
        self
    }
}

/// Set the settings the environment names; the keys set, for `check` to
/// list. An unknown `ESIA_GATE_…__…` variable is an error (a typo would
/// leave the file's secret in use without a word), as is an empty value or
/// one for a section the file does not have.
pub fn apply(s: &mut Settings, env: &Environment) -> Result<Vec<&'static str>, ConfigError> {
    let mut applied = Vec::new();
    for (name, value) in &env.vars {
        let Some(&(key, _)) = OVERRIDES.iter().find(|(k, _)| var_name(k) == *name) else {
            return Err(bad(
                name,
                format!(
                    "is not a setting the environment can set; these can: {}",
                    OVERRIDES
                        .iter()
                        .map(|(k, _)| var_name(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let value = match value {
            Ok(v) => v.lines().next().unwrap_or("").trim(),
            Err(()) => return Err(bad(name, "is not valid UTF-8".into())),
        };
        if value.is_empty() {
            return Err(bad(name, "is empty (unset it to use the file)".into()));
        }
        let missing = |section: &str| {
            bad(
                name,
                format!("is set, but the configuration has no [{section}] section"),
            )
        };
        match key {
            "esia.broker.client_secret" => {
                let b = s
                    .esia
                    .broker
                    .as_mut()
                    .ok_or_else(|| missing("esia.broker"))?;
                b.client_secret = Some(Secret::new(value));
            }
            "esia.signer.token" => {
                let sg = s
                    .esia
                    .signer
                    .as_mut()
                    .ok_or_else(|| missing("esia.signer"))?;
                sg.token = Some(Secret::new(value));
            }
            "store.url" => s.store.url = Some(value.to_string()),
            "store.password" => s.store.password = Some(Secret::new(value)),
            "directory.postgres.url" => {
                let pg = s
                    .directory
                    .postgres
                    .as_mut()
                    .ok_or_else(|| missing("directory.postgres"))?;
                pg.url = Some(value.to_string());
                pg.url_file = None;
            }
            "admin.token" => {
                super::admin::check_token(value).map_err(|m| bad(name, m))?;
                s.admin.token = Some(Secret::new(value));
            }
            _ => return Err(bad(name, "has no setting (a bug)".into())),
        }
        applied.push(key);
    }
    Ok(applied)
}

fn bad(name: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: "environment".into(),
        key: name.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_named_after_their_keys() {
        assert_eq!(
            var_name("esia.broker.client_secret"),
            "ESIA_GATE_ESIA__BROKER__CLIENT_SECRET"
        );
        assert_eq!(
            var_name("directory.postgres.url"),
            "ESIA_GATE_DIRECTORY__POSTGRES__URL"
        );
    }

    #[test]
    fn only_prefixed_variables_with_sections_are_read() {
        let env = Environment::from_pairs([
            ("PATH".to_string(), Ok("/bin".to_string())),
            ("ESIA_GATE_CONFIG".to_string(), Ok("/etc/x".to_string())),
            ("ESIA_GATE_TEST_THREADS".to_string(), Ok("2".to_string())),
            ("ESIA_GATE_ADMIN__TOKEN".to_string(), Ok("t".to_string())),
        ]);
        assert_eq!(env.vars.len(), 1);
    }
}
