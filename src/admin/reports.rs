//! The schools' reports, built from the directory and the store: who has
//! come in through ESIA (and totals by school, class and role), whose
//! profile has no valid SNILS, and which ESIA logins found no account and
//! why. Pure functions of their inputs; [`super::tables`] writes them as
//! HTML, CSV or JSON.
//!
//! Only the directory side is ever shown: diary logins, names, role,
//! school and class. Never an ESIA oid, never more of a SNILS than its last
//! two digits.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::identity::snils::SnilsError;
use crate::identity::{Account, Directory, Role};
use crate::store::{LastLogins, MatchFailure};

use super::tables::{Column, Table};

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

fn snils_problem(a: &Account) -> (&'static str, &'static str) {
    match &a.snils_problem {
        None => ("missing", "СНИЛС не указан"),
        Some(SnilsError::Length) => ("length", "в СНИЛС не 11 цифр"),
        Some(SnilsError::Characters) => ("characters", "в СНИЛС есть посторонние символы"),
        Some(SnilsError::Checksum) => ("checksum", "СНИЛС не проходит проверку контрольного числа"),
    }
}

/// Accounts whose SNILS is missing or fails its check: they cannot be
/// matched automatically.
pub fn invalid_snils(dir: &Directory, filter: &Filter, clock: &Clock) -> Report {
    let mut columns = account_columns();
    columns.extend([
        Column::new("problem", "Код проблемы"),
        Column::new("problem_text", "Что не так"),
    ]);
    let rows = dir
        .invalid_snils_accounts()
        .into_iter()
        .filter(|a| filter.matches(a))
        .map(|a| {
            let (code, text) = snils_problem(a);
            let mut row = account_values(a);
            row.extend([Value::String(code.into()), Value::String(text.into())]);
            row
        })
        .collect();
    Report {
        name: "snils",
        title: "Учётные записи без действительного СНИЛС",
        notes: vec![
            "Этих людей нельзя сопоставить с Госуслугами автоматически: внесите или исправьте СНИЛС \
             в профиле дневника. До исправления они могут привязать учётную запись по логину и паролю."
                .into(),
        ],
        filter: filter.clone(),
        generated_at: clock.time(clock.now.timestamp()),
        tables: vec![Table {
            key: "accounts",
            title: "Учётные записи",
            columns,
            rows,
            footer: None,
        }],
    }
}

/// What a failed match means for the school, by its outcome label.
pub fn reason_russian(reason: &str) -> &'static str {
    match reason {
        "fio_differs" => {
            "СНИЛС есть в дневнике, но ФИО записано иначе, чем на Госуслугах: проверьте ФИО"
        }
        "snils_not_in_diary" => {
            "Человек с таким ФИО есть в дневнике, но без этого СНИЛС: внесите или исправьте СНИЛС"
        }
        "no_snils_from_esia" => {
            "Госуслуги не передали СНИЛС (упрощённая учётная запись или нет согласия)"
        }
        "nothing" => "В дневнике нет ни такого ФИО, ни такого СНИЛС",
        "several" => "Подходит несколько учётных записей",
        _ => "Другая причина",
    }
}

/// ESIA logins of the last `days` days that found no account, with the
/// reason and the directory accounts involved (one row per account).
/// Failures involving no account are listed only without a filter: they
/// belong to no school.
pub fn match_failures(
    dir: &Directory,
    failures: &[MatchFailure],
    filter: &Filter,
    days: u32,
    clock: &Clock,
) -> Report {
    let mut columns = vec![
        Column::new("time", "Когда"),
        Column::new("reason", "Код причины"),
        Column::new("reason_text", "Причина"),
    ];
    columns.extend(account_columns());
    columns.push(Column::new("snils", "СНИЛС в дневнике"));
    let empty_account = || -> Vec<Value> { vec![Value::Null; 8] };
    let mut sorted: Vec<&MatchFailure> = failures.iter().collect();
    sorted.sort_by_key(|f| std::cmp::Reverse(f.at));
    let mut rows = Vec::new();
    for f in sorted {
        let head = || {
            vec![
                clock.time(f.at),
                Value::String(f.reason.clone()),
                Value::String(reason_russian(&f.reason).into()),
            ]
        };
        let accounts: Vec<&Account> = f.logins.iter().filter_map(|l| dir.by_login(&l.0)).collect();
        if accounts.is_empty() {
            if filter.is_empty() {
                let mut row = head();
                row.extend(empty_account());
                rows.push(row);
            }
            continue;
        }
        for a in accounts.into_iter().filter(|a| filter.matches(a)) {
            let mut row = head();
            row.extend(account_values(a));
            row.push(
                a.snils
                    .as_ref()
                    .map_or(Value::Null, |s| Value::String(s.masked())),
            );
            rows.push(row);
        }
    }
    Report {
        name: "match-failures",
        title: "Неудачные сопоставления с Госуслугами",
        notes: vec![format!(
            "Входы через Госуслуги за последние {days} дн., для которых не нашлась учётная запись, \
             и учётные записи дневника, которых это касается. Исправьте данные в дневнике — \
             при следующем входе человек попадёт в свою учётную запись."
        )],
        filter: filter.clone(),
        generated_at: clock.time(clock.now.timestamp()),
        tables: vec![Table {
            key: "failures",
            title: "Неудачные сопоставления",
            columns,
            rows,
            footer: None,
        }],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{EsiaOid, LegacyLogin};

    const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n\
ivanov,Иванов,Никита,,,student,,СШ №5,9А\n\
petrov,Петров,Пётр,,112-233-445 96,staff,,СШ №7,\n\
orlova,Орлова,Анна,,12345,student,,СШ №7,9А\n";

    fn dir() -> Directory {
        Directory::parse_csv(CSV.as_bytes(), "t").expect("csv").0
    }

    fn clock() -> Clock {
        Clock {
            now: Utc.timestamp_opt(1_725_000_000, 0).single().expect("time"),
            zone: chrono_tz::Europe::Moscow,
        }
    }

    fn last(login: &str, esia: Option<i64>, password: Option<i64>) -> LastLogins {
        LastLogins {
            login: LegacyLogin(login.into()),
            last_esia: esia,
            last_password: password,
        }
    }

    fn column(t: &Table, key: &str) -> Vec<Value> {
        let i = t.columns.iter().position(|c| c.key == key).expect(key);
        t.rows.iter().map(|r| r[i].clone()).collect()
    }

    #[test]
    fn adoption_lists_every_account_with_its_last_logins_and_totals() {
        let history = [
            last("ivanova", Some(1_724_990_000), Some(1_700_000_000)),
            last("petrov", None, Some(1_724_000_000)),
        ];
        let r = adoption(&dir(), &history, &Filter::default(), &["school"], &clock());
        let accounts = &r.tables[1];
        assert_eq!(
            column(accounts, "state"),
            vec!["esia", "never", "password_only", "never"]
        );
        assert_eq!(
            column(accounts, "last_esia_login")[0],
            "2024-08-30T06:53:20+03:00"
        );
        assert_eq!(column(accounts, "snils")[0], "***-***-*** 95");
        let totals = &r.tables[0];
        assert_eq!(column(totals, "school"), vec!["СШ №5", "СШ №7"]);
        assert_eq!(
            column(totals, "esia_percent"),
            vec![json!(50.0), json!(0.0)]
        );
        let footer = totals.footer.as_ref().expect("total row");
        assert_eq!(footer[1], json!(4));
    }

    #[test]
    fn filters_pick_school_class_and_role() {
        let f = Filter::from_query(Some("school=%D0%A1%D0%A8+%E2%84%967&class=9%D0%90"))
            .expect("filter");
        let r = adoption(&dir(), &[], &f, &["role"], &clock());
        assert_eq!(column(&r.tables[1], "login"), vec!["orlova"]);
        let f = Filter::from_query(Some("role=student")).expect("filter");
        let r = adoption(&dir(), &[], &f, &["role"], &clock());
        assert_eq!(column(&r.tables[1], "login"), vec!["ivanov", "orlova"]);
        assert!(Filter::from_query(Some("role=teacher")).is_err());
        assert!(parse_group(Some("group=school,form")).is_err());
    }

    #[test]
    fn the_snils_report_lists_missing_and_broken_numbers_without_showing_them() {
        let r = invalid_snils(&dir(), &Filter::default(), &clock());
        let t = &r.tables[0];
        assert_eq!(column(t, "login"), vec!["ivanov", "petrov", "orlova"]);
        assert_eq!(column(t, "problem"), vec!["missing", "checksum", "length"]);
        let text = r.to_json().to_string();
        assert!(!text.contains("445") && !text.contains("12345"), "{text}");
    }

    #[test]
    fn failed_matches_show_the_directory_side_and_the_reason() {
        let failures = [
            MatchFailure {
                at: 1_724_000_000,
                reason: "fio_differs".into(),
                oid: EsiaOid("1000003".into()),
                logins: vec![LegacyLogin("ivanova".into())],
            },
            MatchFailure {
                at: 1_724_100_000,
                reason: "nothing".into(),
                oid: EsiaOid("1000004".into()),
                logins: vec![],
            },
        ];
        let r = match_failures(&dir(), &failures, &Filter::default(), 30, &clock());
        let t = &r.tables[0];
        assert_eq!(column(t, "reason"), vec!["nothing", "fio_differs"]);
        assert_eq!(column(t, "login"), vec![Value::Null, json!("ivanova")]);
        let text = r.to_json().to_string();
        assert!(!text.contains("1000003"), "no ESIA oid in reports: {text}");
        let f = Filter::from_query(Some("role=parent")).expect("filter");
        let r = match_failures(&dir(), &failures, &f, 30, &clock());
        assert_eq!(column(&r.tables[0], "login"), vec!["ivanova"]);
    }

    #[test]
    fn adoption_counts_cover_every_role_and_state() {
        let counts = adoption_counts(&dir(), &[last("ivanov", Some(1), None)]);
        assert_eq!(counts.len(), 9);
        assert!(counts.contains(&(Role::Student, "esia", 1)));
        assert!(counts.contains(&(Role::Student, "never", 1)));
        assert!(counts.contains(&(Role::Parent, "never", 1)));
    }
}
