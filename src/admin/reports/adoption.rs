//! The ESIA adoption report: every directory account with its last ESIA
//! and last password login and its state, totals grouped by school, class
//! or role, and the counts behind the adoption gauge.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Clock, Families, Filter, Report, StateFilter, account_columns, account_values, words};
use crate::admin::tables::{Column, Table};
use crate::identity::{Account, Directory, Role};
use crate::store::LastLogins;

/// Where one account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// Has come in through ESIA.
    Esia,
    /// Only ever by the diary's password.
    PasswordOnly,
    /// Not seen logging in at all.
    Never,
}

impl Adoption {
    fn of(l: Option<&LastLogins>) -> Self {
        match l {
            Some(l) if l.last_esia.is_some() => Self::Esia,
            Some(l) if l.last_password.is_some() => Self::PasswordOnly,
            _ => Self::Never,
        }
    }

    /// The stable code (JSON, metric label).
    pub fn code(self) -> &'static str {
        match self {
            Self::Esia => "esia",
            Self::PasswordOnly => "password_only",
            Self::Never => "never",
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Counts {
    accounts: u64,
    esia: u64,
    password_only: u64,
    never: u64,
}

impl Counts {
    fn add(&mut self, state: Adoption) {
        self.accounts += 1;
        match state {
            Adoption::Esia => self.esia += 1,
            Adoption::PasswordOnly => self.password_only += 1,
            Adoption::Never => self.never += 1,
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

/// An account's key in the totals. A parent has no class of their own:
/// under a class filter they count in that class (they are there through
/// a child), else under no class.
fn group_key(a: &Account, group: &[&'static str], filter: &Filter) -> Vec<String> {
    group
        .iter()
        .map(|d| match *d {
            "school" => a.school.trim().to_string(),
            "class" => match (&filter.class, a.class.trim()) {
                (Some(c), "") => c.clone(),
                (_, own) => own.to_string(),
            },
            _ => a.role.as_str().to_string(),
        })
        .collect()
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
    let mut b = AdoptionBuilder::new(dir, filter, group, *clock);
    let mut rows = Vec::new();
    for a in b.covered() {
        if let Some(row) = b.add(a, by_login.get(a.login.0.as_str()).copied()) {
            rows.push(row);
        }
    }
    b.finish(rows)
}

/// The adoption report built a part at a time: the accounts the filter
/// covers are taken in parts, their last logins asked of the store part by
/// part, and each account [`added`](Self::add); the caller keeps the rows
/// (a page, JSON) or writes them out as they come (CSV), so that memory
/// holds one part and the totals, not the region.
pub struct AdoptionBuilder<'a> {
    dir: &'a Directory,
    families: Families<'a>,
    filter: Filter,
    group: Vec<&'static str>,
    clock: Clock,
    groups: BTreeMap<Vec<String>, Counts>,
    total: Counts,
}

impl<'a> AdoptionBuilder<'a> {
    pub fn new(dir: &'a Directory, filter: &Filter, group: &[&'static str], clock: Clock) -> Self {
        Self {
            dir,
            families: Families::new(dir),
            filter: filter.clone(),
            group: group.to_vec(),
            clock,
            groups: BTreeMap::new(),
            total: Counts::default(),
        }
    }

    /// The directory accounts the filter covers (school, class, role; the
    /// state narrows the rows only): whose last logins to ask for.
    pub fn covered(&self) -> Vec<&'a Account> {
        let dir: &'a Directory = self.dir;
        // One school: its own accounts and its pupils' parents, from the
        // directory's school index, not the whole region.
        let candidates: Box<dyn Iterator<Item = &'a Account>> = match &self.filter.school {
            Some(s) => Box::new(dir.school_accounts(s)),
            None => Box::new(dir.accounts().iter()),
        };
        candidates
            .filter(|a| self.filter.matches(a, &self.families))
            .collect()
    }

    /// The columns of the accounts table.
    pub fn columns() -> Vec<Column> {
        let mut columns = account_columns();
        columns.extend([
            Column::new("snils", "СНИЛС"),
            Column::new("last_esia_login", "Последний вход через Госуслуги"),
            Column::new("last_password_login", "Последний вход по паролю"),
            Column::coded("state", "Состояние", words::state),
            Column::json_only("state_text"),
        ]);
        columns
    }

    /// Count one covered account in the totals only.
    pub fn count(&mut self, a: &Account, l: Option<&LastLogins>) -> Adoption {
        let state = Adoption::of(l);
        // The totals count every account of the school, class and role,
        // so that their shares keep their meaning; the state filter only
        // narrows the list.
        self.groups
            .entry(group_key(a, &self.group, &self.filter))
            .or_default()
            .add(state);
        self.total.add(state);
        state
    }

    /// Count one covered account; its row when the state filter admits it.
    pub fn add(&mut self, a: &Account, l: Option<&LastLogins>) -> Option<Vec<Value>> {
        let state = self.count(a, l);
        if self.filter.state.is_some_and(|s| !s.admits(state)) {
            return None;
        }
        let clock = &self.clock;
        let mut row = account_values(a, &self.families);
        row.extend([
            a.snils
                .as_ref()
                .map_or(Value::Null, |s| Value::String(s.masked())),
            l.and_then(|l| l.last_esia)
                .map_or(Value::Null, |t| clock.time(t)),
            l.and_then(|l| l.last_password)
                .map_or(Value::Null, |t| clock.time(t)),
            Value::String(state.code().into()),
            words::state(state.code()).map_or(Value::Null, |w| Value::String(w.into())),
        ]);
        Some(row)
    }

    /// The report, with `rows` as its accounts table (empty when they were
    /// written out as they came).
    pub fn finish(self, rows: Vec<Vec<Value>>) -> Report {
        let (group, filter, clock) = (&self.group, &self.filter, &self.clock);
        let mut total_columns: Vec<Column> = group
            .iter()
            .map(|d| match *d {
                "school" => Column::new("school", "Школа"),
                "class" => Column::new("class", "Класс"),
                _ => Column::coded("role", "Роль", words::role),
            })
            .collect();
        total_columns.extend([
            Column::new("accounts", "Учётных записей"),
            Column::new("esia", "Входили через Госуслуги"),
            Column::new("password_only", "Только по паролю"),
            Column::new("never", "Ещё не входили"),
            Column::new("esia_percent", "Доля Госуслуг, %"),
        ]);
        let mut total_rows: Vec<Vec<Value>> = self
            .groups
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
        all.extend(self.total.values());
        let footer = if group.is_empty() { None } else { Some(all) };
        if group.is_empty() {
            total_rows = vec![self.total.values()];
        }
        let mut notes = vec![
            "Каждая учётная запись дневника с датой последнего входа через Госуслуги и по паролю; \
             выше — итоги по школам, классам и ролям. У родителя — классы его детей (по справочнику \
             учётных записей); фильтр по классу показывает и родителей учеников этого класса."
                .to_string(),
        ];
        if let Some(s) = filter.state {
            let also = if s == StateFilter::NotEsia {
                " (входят только по паролю или ещё не входили)"
            } else {
                ""
            };
            notes.push(format!(
                "В списке — только «{}»{also}; итоги — по всем выбранным учётным записям.",
                words::state(s.code()).unwrap_or(s.code())
            ));
        }
        Report {
            name: "adoption",
            title: "Вход через Госуслуги: кто уже перешёл",
            notes,
            guide: Vec::new(),
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
                    columns: Self::columns(),
                    rows,
                    footer: None,
                },
            ],
        }
    }
}

/// Counts of directory accounts by role and adoption state, for the
/// `esia_gate_adoption_accounts` gauge. Every role and state is present.
pub fn adoption_counts(dir: &Directory, last: &[LastLogins]) -> Vec<(Role, &'static str, i64)> {
    let mut c = AdoptionCounts::default();
    c.add(dir.accounts(), last);
    c.finish()
}

/// [`adoption_counts`] a part of the directory at a time.
#[derive(Default)]
pub struct AdoptionCounts {
    counts: BTreeMap<(&'static str, &'static str), i64>,
}

impl AdoptionCounts {
    /// Count `accounts`, whose last logins are among `last`.
    pub fn add(&mut self, accounts: &[Account], last: &[LastLogins]) {
        let by_login: HashMap<&str, &LastLogins> =
            last.iter().map(|l| (l.login.0.as_str(), l)).collect();
        for a in accounts {
            let state = Adoption::of(by_login.get(a.login.0.as_str()).copied());
            *self
                .counts
                .entry((a.role.as_str(), state.code()))
                .or_default() += 1;
        }
    }

    pub fn finish(mut self) -> Vec<(Role, &'static str, i64)> {
        for role in [Role::Staff, Role::Parent, Role::Student] {
            for state in [Adoption::Esia, Adoption::PasswordOnly, Adoption::Never] {
                self.counts
                    .entry((role.as_str(), state.code()))
                    .or_insert(0);
            }
        }
        self.counts
            .into_iter()
            .filter_map(|((role, state), n)| Role::parse(role).map(|r| (r, state, n)))
            .collect()
    }
}
