//! The schools' reports, built from the directory and the store: who has
//! come in through ESIA (and totals by school, class and role), whose
//! profile has no valid SNILS, and which ESIA logins found no account and
//! why. Pure functions of their inputs; [`super::tables`] writes them as
//! HTML, CSV or JSON.
//!
//! The directory side is shown (diary logins, names, role, school, class,
//! a parent's children's classes) and, for a failed match, the name ESIA
//! gave so that the school knows whom it is about. Never an ESIA oid,
//! never more of a SNILS than its last two digits.
//!
//! A parent's classes are those of the children the directory lists for
//! them (its optional `children` column): known for every parent, also
//! those who never logged in, without asking ESIA. A class filter covers
//! the parents of the class's students.
//!
//! Here: what every report shares (the filter, the family index, the
//! clock, the report, the account columns); the query is read in `query`,
//! the words for codes are in `words`, and each report is built in its
//! own file: `adoption`, `snils`, `failures`.

mod adoption;
mod failures;
pub mod query;
mod snils;
#[cfg(test)]
mod tests;
pub mod words;

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::tables::{Column, Table};
use crate::identity::{Account, Directory, Role};

pub use adoption::{Adoption, AdoptionBuilder, AdoptionCounts, adoption, adoption_counts};
pub use failures::match_failures;
pub use query::{BadParameter, Query};
pub use snils::invalid_snils;

/// The adoption filter (`state=`): one state, or everyone not yet on ESIA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Esia,
    PasswordOnly,
    Never,
    /// «ещё не перешли»: by password only, or never logged in.
    NotEsia,
}

impl StateFilter {
    pub const ALL: [StateFilter; 4] = [
        StateFilter::Esia,
        StateFilter::NotEsia,
        StateFilter::PasswordOnly,
        StateFilter::Never,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Esia => "esia",
            Self::PasswordOnly => "password_only",
            Self::Never => "never",
            Self::NotEsia => "not_esia",
        }
    }

    pub fn admits(self, state: Adoption) -> bool {
        match self {
            Self::Esia => state == Adoption::Esia,
            Self::PasswordOnly => state == Adoption::PasswordOnly,
            Self::Never => state == Adoption::Never,
            Self::NotEsia => state != Adoption::Esia,
        }
    }
}

/// Which accounts a report covers: school, class and role (any when
/// absent), and for the adoption report the state. A school or class
/// covers a parent through the children the directory lists for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub school: Option<String>,
    pub class: Option<String>,
    pub role: Option<Role>,
    pub state: Option<StateFilter>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether `a` is covered by school, class and role (the state is the
    /// adoption report's to check).
    pub fn matches(&self, a: &Account, families: &Families) -> bool {
        if self.role.is_some_and(|r| a.role != r) {
            return false;
        }
        // The children are looked up only for an account that is not
        // itself of the school or class (a parent): asked for every
        // account of the region.
        let kids = std::cell::OnceCell::new();
        let kids = || kids.get_or_init(|| families.children(a));
        let school = |s: &String| {
            query::same(&a.school, s) || kids().iter().any(|k| query::same(&k.school, s))
        };
        let class = |c: &String| {
            query::same(&a.class, c) || kids().iter().any(|k| query::same(&k.class, c))
        };
        self.school.as_ref().is_none_or(school) && self.class.as_ref().is_none_or(class)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "school": self.school,
            "class": self.class,
            "role": self.role.map(Role::as_str),
            "state": self.state.map(StateFilter::code),
        })
    }
}

/// The directory by login, and each parent's children in it (through the
/// directory's own login index: nothing built per report).
pub struct Families<'a> {
    dir: &'a Directory,
}

impl<'a> Families<'a> {
    pub fn new(dir: &'a Directory) -> Self {
        Self { dir }
    }

    pub fn account(&self, login: &str) -> Option<&'a Account> {
        self.dir.by_login(login)
    }

    /// The student accounts the directory lists as `a`'s children.
    pub fn children(&self, a: &Account) -> Vec<&'a Account> {
        a.children
            .iter()
            .filter_map(|l| self.account(&l.0))
            .filter(|k| k.role == Role::Student)
            .collect()
    }

    /// The classes of `a`'s children, sorted, each once.
    pub fn children_classes(&self, a: &Account) -> Vec<String> {
        let classes: BTreeSet<String> = self
            .children(a)
            .into_iter()
            .map(|k| k.class.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        classes.into_iter().collect()
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
    /// What to do, shown after the tables: a term and its explanation.
    pub guide: Vec<(String, String)>,
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

/// The directory account's columns: login, name, role (a code, read in
/// words), school, class and the classes of a parent's children.
fn account_columns() -> Vec<Column> {
    vec![
        Column::new("login", "Логин"),
        Column::new("last_name", "Фамилия"),
        Column::new("first_name", "Имя"),
        Column::new("middle_name", "Отчество"),
        Column::coded("role", "Роль", words::role),
        Column::new("school", "Школа"),
        Column::new("class", "Класс"),
        Column::new("children_classes", "Классы детей"),
    ]
}

fn account_values(a: &Account, families: &Families) -> Vec<Value> {
    vec![
        Value::String(a.login.0.clone()),
        Value::String(a.last_name.clone()),
        Value::String(a.first_name.clone()),
        Value::String(a.middle_name.clone()),
        Value::String(a.role.as_str().into()),
        Value::String(a.school.clone()),
        Value::String(a.class.clone()),
        Value::Array(
            families
                .children_classes(a)
                .into_iter()
                .map(Value::String)
                .collect(),
        ),
    ]
}

/// As many empty cells as [`account_columns`] has.
fn no_account() -> Vec<Value> {
    vec![Value::Null; account_columns().len()]
}
