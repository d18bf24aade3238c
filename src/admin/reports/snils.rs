//! The SNILS report: accounts whose SNILS is missing or fails its check,
//! so that they cannot be matched automatically; the number itself is
//! never shown.

use serde_json::Value;

use super::{Clock, Families, Filter, Report, account_columns, account_values};
use crate::admin::tables::{Column, Table};
use crate::identity::snils::SnilsError;
use crate::identity::{Account, Directory};

fn snils_problem(a: &Account) -> &'static str {
    match &a.snils_problem {
        None => "missing",
        Some(SnilsError::Length) => "length",
        Some(SnilsError::Characters) => "characters",
        Some(SnilsError::Checksum) => "checksum",
    }
}

/// A problem's code as people read it.
fn problem_words(code: &str) -> Option<&'static str> {
    Some(match code {
        "missing" => "СНИЛС не указан",
        "length" => "в СНИЛС не 11 цифр",
        "characters" => "в СНИЛС есть посторонние символы",
        "checksum" => "СНИЛС не проходит проверку контрольного числа",
        _ => return None,
    })
}

/// Accounts whose SNILS is missing or fails its check: they cannot be
/// matched automatically.
pub fn invalid_snils(dir: &Directory, filter: &Filter, clock: &Clock) -> Report {
    let families = Families::new(dir);
    let mut columns = account_columns();
    columns.extend([
        Column::coded("problem", "Что не так", problem_words),
        Column::json_only("problem_text"),
    ]);
    let rows = dir
        .invalid_snils_accounts()
        .into_iter()
        .filter(|a| filter.matches(a, &families))
        .map(|a| {
            let code = snils_problem(a);
            let mut row = account_values(a, &families);
            row.extend([
                Value::String(code.into()),
                problem_words(code).map_or(Value::Null, |t| Value::String(t.into())),
            ]);
            row
        })
        .collect();
    Report {
        name: "snils",
        title: "Учётные записи без действительного СНИЛС",
        guide: Vec::new(),
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
