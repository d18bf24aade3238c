//! The persons the emulator knows (one JSON file), with their children;
//! the file is checked as ESIA would keep it (the SNILS format, not its
//! checksum, so that the gateway's own check can be tested).

use std::path::Path as FsPath;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A person known to the emulator (one element of the persons file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub oid: u64,
    /// Short label for the login screen and the demo's console, e.g.
    /// «родитель: одна учётная запись в дневнике».
    pub login_hint: String,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: String,
    /// `DD.MM.YYYY`.
    pub birth_date: String,
    /// `M` or `F`.
    pub gender: String,
    /// `000-000-600 06` form; `null` for a simplified account.
    pub snils: Option<String>,
    /// A confirmed account.
    pub trusted: bool,
    #[serde(default)]
    pub kids: Vec<Kid>,
}

/// A child attached to a person's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kid {
    pub oid: u64,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: String,
    /// `DD.MM.YYYY`.
    pub birth_date: String,
    /// `000-000-600 06` form or `null`.
    pub snils: Option<String>,
}

impl Person {
    /// One line for a console: oid, FIO, account kind and the hint. No SNILS.
    pub fn describe(&self) -> String {
        let kids = match self.kids.len() {
            0 => String::new(),
            n => format!(", детей в ЕСИА: {n}"),
        };
        format!(
            "{} {} — {}{}; {}",
            self.oid,
            self.full_name(),
            self.account_kind(),
            kids,
            self.login_hint
        )
    }

    pub(super) fn full_name(&self) -> String {
        join_name(&self.last_name, &self.first_name, &self.middle_name)
    }

    /// How ESIA would classify the account (shown on the login screen).
    pub(super) fn account_kind(&self) -> &'static str {
        if self.trusted {
            "подтверждённая учётная запись"
        } else if self.snils.is_some() {
            "стандартная учётная запись"
        } else {
            "упрощённая учётная запись"
        }
    }
}

fn join_name(last: &str, first: &str, middle: &str) -> String {
    [last, first, middle]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn snils_format_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 14
        && b.iter().enumerate().all(|(i, c)| match i {
            3 | 7 => *c == b'-',
            11 => *c == b' ',
            _ => c.is_ascii_digit(),
        })
}

fn date_ok(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%d.%m.%Y").is_ok()
}

/// Read and check a persons file. The SNILS format is checked, its
/// checksum deliberately not (to test the gateway's own check).
pub fn load_persons(path: &FsPath) -> anyhow::Result<Vec<Person>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let persons: Vec<Person> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid persons file", path.display()))?;
    let mut seen = std::collections::HashSet::new();
    for p in &persons {
        let at = format!("{}: person {}", path.display(), p.oid);
        if !seen.insert(p.oid) {
            bail!("{at}: the oid appears twice");
        }
        if p.last_name.trim().is_empty() || p.first_name.trim().is_empty() {
            bail!("{at}: last_name and first_name are required");
        }
        if !date_ok(&p.birth_date) {
            bail!("{at}: birth_date must be DD.MM.YYYY");
        }
        if p.gender != "M" && p.gender != "F" {
            bail!("{at}: gender must be \"M\" or \"F\"");
        }
        if p.snils.as_deref().is_some_and(|s| !snils_format_ok(s)) {
            bail!("{at}: snils must look like \"000-000-600 06\" (or be null)");
        }
        for k in &p.kids {
            if !date_ok(&k.birth_date) {
                bail!("{at}: kid {}: birth_date must be DD.MM.YYYY", k.oid);
            }
            if k.snils.as_deref().is_some_and(|s| !snils_format_ok(s)) {
                bail!(
                    "{at}: kid {}: snils must look like \"000-000-600 06\"",
                    k.oid
                );
            }
        }
    }
    Ok(persons)
}
