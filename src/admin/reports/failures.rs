//! The failed-matches report: ESIA logins that found no account, with the
//! reason in words for the school and the directory accounts involved.

use serde_json::Value;

use super::{Clock, Filter, Report, account_columns, account_values};
use crate::admin::tables::{Column, Table};
use crate::identity::{Account, Directory};
use crate::store::MatchFailure;

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
