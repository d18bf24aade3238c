//! The ESIA adoption report: every directory account with its last ESIA
//! and last password login and its state, totals grouped by school, class
//! or role, and the counts behind the adoption gauge.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Clock, Filter, Report, account_columns, account_values};
use crate::admin::tables::{Column, Table};
use crate::identity::{Directory, Role};
use crate::store::LastLogins;

/// The adoption state of one account.
fn adoption_state(l: Option<&LastLogins>) -> &'static str {
    match l {
        Some(l) if l.last_esia.is_some() => "esia",
        Some(l) if l.last_password.is_some() => "password_only",
        _ => "never",
    }
}

fn state_russian(state: &str) -> &'static str {
    match state {
        "esia" => "входил через Госуслуги",
        "password_only" => "только по паролю",
        _ => "не входил",
    }
}

/// The dimensions the totals are grouped by, from `group=school,class`.
pub fn parse_group(query: Option<&str>) -> Result<Vec<&'static str>, String> {
    let Some(raw) = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "group")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(vec!["school", "class", "role"]);
    };
    let mut dims = Vec::new();
    for d in raw.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d = match d {
            "school" => "school",
            "class" => "class",
            "role" => "role",
            other => {
                return Err(format!(
                    "group `{other}`: use school, class and role, comma separated"
                ));
            }
        };
        if !dims.contains(&d) {
            dims.push(d);
        }
    }
    Ok(dims)
}

#[derive(Default, Clone, Copy)]
struct Counts {
    accounts: u64,
    esia: u64,
    password_only: u64,
    never: u64,
}

impl Counts {
    fn add(&mut self, state: &str) {
        self.accounts += 1;
        match state {
            "esia" => self.esia += 1,
            "password_only" => self.password_only += 1,
            _ => self.never += 1,
        }
    }

    fn values(&self) -> Vec<Value> {
        let percent = if self.accounts == 0 {
            0.0
        } else {
            // One decimal: 12.5 (%).
            (self.esia as f64 * 1000.0 / self.accounts as f64).round() / 10.0
        };
        vec![
            Value::from(self.accounts),
            Value::from(self.esia),
            Value::from(self.password_only),
            Value::from(self.never),
            Value::from(percent),
        ]
    }
}

/// ESIA adoption: every directory account with its last ESIA and last
/// password login, and totals grouped by `group` (school, class, role).
pub fn adoption(
    dir: &Directory,
    last: &[LastLogins],
    filter: &Filter,
    group: &[&'static str],
    clock: &Clock,
) -> Report {
    let by_login: HashMap<&str, &LastLogins> =
        last.iter().map(|l| (l.login.0.as_str(), l)).collect();
    let mut columns = account_columns();
    columns.extend([
        Column::new("snils", "СНИЛС"),
        Column::new("last_esia_login", "Последний вход через Госуслуги"),
        Column::new("last_password_login", "Последний вход по паролю"),
        Column::new("state", "Код состояния"),
        Column::new("state_text", "Состояние"),
    ]);
    let mut rows = Vec::new();
    let mut groups: BTreeMap<Vec<String>, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for a in dir.accounts().iter().filter(|a| filter.matches(a)) {
        let l = by_login.get(a.login.0.as_str()).copied();
        let state = adoption_state(l);
        let mut row = account_values(a);
        row.extend([
            a.snils
                .as_ref()
                .map_or(Value::Null, |s| Value::String(s.masked())),
            l.and_then(|l| l.last_esia)
                .map_or(Value::Null, |t| clock.time(t)),
            l.and_then(|l| l.last_password)
                .map_or(Value::Null, |t| clock.time(t)),
            Value::String(state.into()),
            Value::String(state_russian(state).into()),
        ]);
        rows.push(row);
        let key: Vec<String> = group
            .iter()
            .map(|d| match *d {
                "school" => a.school.trim().to_string(),
                "class" => a.class.trim().to_string(),
                _ => a.role.as_str().to_string(),
            })
            .collect();
        groups.entry(key).or_default().add(state);
        total.add(state);
    }
    let mut total_columns: Vec<Column> = group
        .iter()
        .map(|d| match *d {
            "school" => Column::new("school", "Школа"),
            "class" => Column::new("class", "Класс"),
            _ => Column::new("role", "Роль"),
        })
        .collect();
    total_columns.extend([
        Column::new("accounts", "Учётных записей"),
        Column::new("esia", "Входили через Госуслуги"),
        Column::new("password_only", "Только по паролю"),
        Column::new("never", "Не входили"),
        Column::new("esia_percent", "Доля Госуслуг, %"),
    ]);
    let mut total_rows: Vec<Vec<Value>> = groups
        .into_iter()
        .map(|(key, c)| {
            let mut row: Vec<Value> = key.into_iter().map(Value::String).collect();
            row.extend(c.values());
            row
        })
        .collect();
    let mut all: Vec<Value> = group
        .iter()
        .enumerate()
        .map(|(i, _)| {
            Value::String(if i == 0 {
                "Всего".into()
            } else {
                String::new()
            })
        })
        .collect();
    all.extend(total.values());
    let footer = if group.is_empty() { None } else { Some(all) };
    if group.is_empty() {
        total_rows = vec![total.values()];
    }
    Report {
        name: "adoption",
        title: "Вход через Госуслуги: кто уже перешёл",
        notes: vec![
            "Каждая учётная запись дневника с датой последнего входа через Госуслуги и по паролю; \
             ниже — итоги по школам, классам и ролям."
                .into(),
        ],
        filter: filter.clone(),
        generated_at: clock.time(clock.now.timestamp()),
        tables: vec![
            Table {
                key: "totals",
                title: "Итоги",
                columns: total_columns,
                rows: total_rows,
                footer,
            },
            Table {
                key: "accounts",
                title: "Учётные записи",
                columns,
                rows,
                footer: None,
            },
        ],
    }
}

/// Counts of directory accounts by role and adoption state, for the
/// `esia_gate_adoption_accounts` gauge. Every role and state is present.
pub fn adoption_counts(dir: &Directory, last: &[LastLogins]) -> Vec<(Role, &'static str, i64)> {
    let by_login: HashMap<&str, &LastLogins> =
        last.iter().map(|l| (l.login.0.as_str(), l)).collect();
    let mut counts: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
    for role in [Role::Staff, Role::Parent, Role::Student] {
        for state in ["esia", "password_only", "never"] {
            counts.insert((role.as_str(), state), 0);
        }
    }
    for a in dir.accounts() {
        let state = adoption_state(by_login.get(a.login.0.as_str()).copied());
        *counts.entry((a.role.as_str(), state)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter_map(|((role, state), n)| Role::parse(role).map(|r| (r, state, n)))
        .collect()
}
