//! The policy file's shape as serde reads it: every table with unknown keys
//! refused, values kept with their places in the file (`Spanned`) so that
//! the checks can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::policy::model::{PasswordLogin, Trust, Visibility};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: Spanned<String>,
    pub(super) description: Option<String>,
    pub(super) timezone: Spanned<String>,
    #[serde(default = "yes")]
    pub(super) case_insensitive_paths: bool,
    pub(super) esia_button_after: Option<Spanned<String>>,
    pub(super) closed_grades: Option<RawClosed>,
    pub(super) confirm: Option<RawConfirmTexts>,
    #[serde(default)]
    pub(super) rewrite: BTreeMap<String, Spanned<RawRewrite>>,
    #[serde(default)]
    pub(super) routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(super) stages: Vec<Spanned<RawStage>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClosed {
    pub(super) title: Option<Spanned<String>>,
    pub(super) message: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) alternatives: Vec<Spanned<String>>,
}

/// `[confirm.standard]` and `[confirm.confirmed]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfirmTexts {
    pub(super) standard: Option<RawConfirm>,
    pub(super) confirmed: Option<RawConfirm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfirm {
    pub(super) title: Option<Spanned<String>>,
    pub(super) message: Option<Spanned<String>>,
    pub(super) ways: Option<Vec<Spanned<String>>>,
    pub(super) notes: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRewrite {
    pub(super) status: Option<Spanned<u16>>,
    pub(super) content_type: Option<Spanned<String>>,
    pub(super) body: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) class: Spanned<String>,
    #[serde(default)]
    pub(super) methods: Vec<Spanned<String>>,
    pub(super) paths: Spanned<Vec<Spanned<String>>>,
    /// `name = "pattern"` or `name = ["pattern", ...]`: parameters (query
    /// string or form body) that must match.
    #[serde(default)]
    pub(super) query: BTreeMap<String, Spanned<toml::Value>>,
    pub(super) login_field: Option<Spanned<String>>,
    pub(super) password_field: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) name: Spanned<String>,
    pub(super) from: Spanned<toml::Value>,
    pub(super) roles: Spanned<Vec<Spanned<String>>>,
    pub(super) banner: Option<Spanned<String>>,
    pub(super) password_login: Spanned<PasswordLogin>,
    pub(super) grades_html: Option<Spanned<Visibility>>,
    pub(super) grades_api: Option<Spanned<Visibility>>,
    #[serde(default)]
    pub(super) classes: BTreeMap<String, Spanned<Visibility>>,
    pub(super) trust: Option<Trust>,
    pub(super) anonymous_to_esia: Option<bool>,
    pub(super) enforce: Option<bool>,
}
