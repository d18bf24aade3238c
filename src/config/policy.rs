//! `[policy]`: which regional policy file is in force (loaded and reloaded
//! by `policy::slot`).

use chrono::NaiveDate;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The region's policy file (see `policies/`).
    pub file: PathBuf,
    /// Decide as if today were this date (`YYYY-MM-DD`): to rehearse a
    /// cut-over on a staging gateway. Never set it in production.
    #[serde(default)]
    pub rehearse_date: Option<NaiveDate>,
    /// How often the file is checked for changes, seconds (SIGHUP reloads at once).
    #[serde(default = "default_check")]
    pub check_seconds: u64,
}

fn default_check() -> u64 {
    2
}
