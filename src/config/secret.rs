//! A secret setting's value (a token, a password): kept out of `Debug`,
//! logs and every message.

/// A secret value: kept out of `Debug` and every message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The environment's value if given, else the first line of `file`
/// (resolved by the caller), trimmed; an empty secret is an error. The
/// error names the file, never its content.
pub fn from_env_or_file(
    env: Option<&Secret>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    if let Some(s) = env {
        return Ok(Some(s.expose().to_string()));
    }
    let Some(path) = file else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.lines().next().unwrap_or("").trim().to_string();
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug() {
        let s = Secret::new("hunter2-hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-hunter2");
    }
}
