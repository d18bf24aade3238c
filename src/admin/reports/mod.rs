//! The schools' reports, built from the directory and the store: who has
//! come in through ESIA (and totals by school, class and role), whose
//! profile has no valid SNILS, and which ESIA logins found no account and
//! why. Pure functions of their inputs; [`super::tables`] writes them as
//! HTML, CSV or JSON.
//!
//! Only the directory side is ever shown: diary logins, names, role,
//! school and class. Never an ESIA oid, never more of a SNILS than its last
//! two digits.
//!
//! Here: what every report shares (the filter, the clock, the report, the
//! account columns); each report is built in its own file: `adoption`,
//! `snils`, `failures`.

mod adoption;
mod failures;
mod snils;
#[cfg(test)]
mod tests;

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::tables::{Column, Table};
use crate::identity::{Account, Role};

pub use adoption::{adoption, adoption_counts, parse_group};
pub use failures::{match_failures, reason_russian};
pub use snils::invalid_snils;

/// Which accounts a report covers: exact school, class and role, any when
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub school: Option<String>,
    pub class: Option<String>,
    pub role: Option<Role>,
}

impl Filter {
    /// From a query string (`school=…&class=…&role=parent`); empty values
    /// mean any. An unknown role is an error naming it.
    pub fn from_query(query: Option<&str>) -> Result<Self, String> {
        let mut f = Filter::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let v = v.trim().to_string();
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                "school" => f.school = Some(v),
                "class" => f.class = Some(v),
                "role" => {
                    f.role = Some(Role::parse(&v).ok_or_else(|| {
                        format!("role `{v}` is not one of staff, parent, student")
                    })?);
                }
                _ => {}
            }
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub fn matches(&self, a: &Account) -> bool {
        self.school.as_ref().is_none_or(|s| a.school.trim() == s)
            && self.class.as_ref().is_none_or(|c| a.class.trim() == c)
            && self.role.is_none_or(|r| a.role == r)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "school": self.school,
            "class": self.class,
            "role": self.role.map(Role::as_str),
        })
    }
}

/// How report times are written: in the region's zone.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub zone: Tz,
}

impl Clock {
    /// `2024-09-01T11:05:00+03:00` for JSON; the table writers shorten it.
    fn time(&self, unix: i64) -> Value {
        match self.zone.timestamp_opt(unix, 0).single() {
            Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            None => Value::Null,
        }
    }
}

/// A report: a title, a few lines of explanation and its tables.
pub struct Report {
    /// The name in paths and file names (`adoption`).
    pub name: &'static str,
    pub title: &'static str,
    pub notes: Vec<String>,
    pub filter: Filter,
    pub generated_at: Value,
    pub tables: Vec<Table>,
}

impl Report {
    /// The JSON form: every table as an array of objects keyed by column.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("report".into(), Value::String(self.name.into()));
        out.insert("generated_at".into(), self.generated_at.clone());
        out.insert("filter".into(), self.filter.to_json());
        for t in &self.tables {
            out.insert(t.key.into(), t.to_json_rows());
        }
        Value::Object(out)
    }
}

fn account_columns() -> Vec<Column> {
    vec![
        Column::new("login", "Логин"),
        Column::new("last_name", "Фамилия"),
        Column::new("first_name", "Имя"),
        Column::new("middle_name", "Отчество"),
        Column::new("role", "Роль"),
        Column::new("school", "Школа"),
        Column::new("class", "Класс"),
    ]
}

fn account_values(a: &Account) -> Vec<Value> {
    vec![
        Value::String(a.login.0.clone()),
        Value::String(a.last_name.clone()),
        Value::String(a.first_name.clone()),
        Value::String(a.middle_name.clone()),
        Value::String(a.role.as_str().into()),
        Value::String(a.school.clone()),
        Value::String(a.class.clone()),
    ]
}
