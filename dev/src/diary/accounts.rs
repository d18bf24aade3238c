//! The diary's two files: its users (login, password, name, role) and the
//! accounts' school details, both CSV.

use std::collections::HashMap;
use std::path::Path as FsPath;

use anyhow::{Context, bail};

use super::{AccountInfo, User};

pub(super) fn load_users(path: &FsPath) -> anyhow::Result<HashMap<String, User>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the diary users {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| -> anyhow::Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (login, password, display, role) = (
        col("login")?,
        col("password")?,
        col("display_name")?,
        col("role")?,
    );
    let mut users = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let field = |c: usize| rec.get(c).unwrap_or_default().trim().to_string();
        let l = field(login);
        if l.is_empty() {
            bail!("{}: row {}: empty login", path.display(), i + 2);
        }
        users.insert(
            l,
            User {
                password: rec.get(password).unwrap_or_default().to_string(),
                display_name: field(display),
                role: field(role),
            },
        );
    }
    Ok(users)
}

pub(super) fn load_accounts(path: &FsPath) -> anyhow::Result<HashMap<String, AccountInfo>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read the accounts {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let Some(login) = col("login") else {
        bail!("{}: no column login", path.display());
    };
    let mut out = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let field = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let full_name = [
            field(col("last_name")),
            field(col("first_name")),
            field(col("middle_name")),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
        out.insert(
            field(Some(login)),
            AccountInfo {
                full_name,
                school: field(col("school")),
                class: field(col("class")),
            },
        );
    }
    Ok(out)
}
