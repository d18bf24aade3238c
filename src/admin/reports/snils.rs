//! The SNILS report: accounts whose SNILS is missing or fails its check,
//! so that they cannot be matched automatically; the number itself is
//! never shown.

use serde_json::Value;

use super::{Clock, Filter, Report, account_columns, account_values};
use crate::admin::tables::{Column, Table};
use crate::identity::snils::SnilsError;
use crate::identity::{Account, Directory};

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
