//! The failed-matches report: ESIA logins that found no account, whom
//! each is about (the name ESIA gave), the reason in words with where its
//! fix is, and the directory accounts involved.

use serde_json::Value;

use super::{Clock, Families, Filter, Report, account_columns, account_values, no_account, words};
use crate::admin::tables::{Column, Table};
use crate::identity::{Account, Directory};
use crate::store::MatchFailure;

/// The diary's name of an account, for the page next to ESIA's.
fn diary_name(a: &Account) -> String {
    [&a.last_name, &a.first_name, &a.middle_name]
        .map(|s| s.trim())
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
    let families = Families::new(dir);
    // Whom and why first, the two names side by side; what to do is
    // written once per reason above the table, and in every row of the
    // CSV file and JSON.
    let mut columns = vec![
        Column::new("time", "Когда"),
        Column::new("esia_name", "ФИО на Госуслугах"),
        Column::coded("reason", "Причина", words::reason_short),
        Column::coded("fix_at", "Где исправить", words::fix_at),
        Column::new("reason_text", "Что сделать").files_only(),
        Column::people_only("diary_name", "ФИО в дневнике"),
    ];
    // The diary's name is one column for people; JSON keeps its parts.
    columns.extend(account_columns().into_iter().map(|c| match c.key {
        "last_name" | "first_name" | "middle_name" => Column::json_only(c.key),
        "login" => Column::new("login", "Логин в дневнике"),
        _ => c,
    }));
    columns.push(Column::new("snils", "СНИЛС в дневнике"));
    let mut seen_reasons: Vec<words::Reason> = Vec::new();
    let mut sorted: Vec<&MatchFailure> = failures.iter().collect();
    sorted.sort_by_key(|f| std::cmp::Reverse(f.at));
    let mut rows = Vec::new();
    for f in sorted {
        let reason = words::reason(&f.reason);
        let head = |diary: Option<&Account>| {
            vec![
                clock.time(f.at),
                f.display_name
                    .as_ref()
                    .map_or(Value::Null, |n| Value::String(n.clone())),
                Value::String(f.reason.clone()),
                reason.map_or(Value::Null, |r| Value::String(r.fix.into())),
                reason.map_or(Value::Null, |r| Value::String(r.advice.into())),
                diary.map_or(Value::Null, |a| Value::String(diary_name(a))),
            ]
        };
        let shown_before = rows.len();
        let accounts: Vec<&Account> = f
            .logins
            .iter()
            .filter_map(|l| families.account(&l.0))
            .collect();
        if accounts.is_empty() && filter.is_empty() {
            let mut row = head(None);
            row.extend(no_account());
            row.push(Value::Null);
            rows.push(row);
        }
        for a in accounts
            .into_iter()
            .filter(|a| filter.matches(a, &families))
        {
            let mut row = head(Some(a));
            row.extend(account_values(a, &families));
            row.push(
                a.snils
                    .as_ref()
                    .map_or(Value::Null, |s| Value::String(s.masked())),
            );
            rows.push(row);
        }
        if rows.len() > shown_before
            && let Some(r) = reason
            && !seen_reasons.contains(&r)
        {
            seen_reasons.push(r);
        }
    }
    let notes = vec![
        format!(
            "Входы через Госуслуги за последние {days} дн., для которых не нашлась учётная \
             запись: кто входил (ФИО, как его передали Госуслуги), почему не нашлось и \
             учётные записи дневника, которых это касается."
        ),
        "Где исправлять, сказано в каждой строке: одно исправляет школа в записи дневника, \
         другое — сам человек в своём профиле на Госуслугах; что сделать — под таблицей. \
         После исправления человек при следующем входе попадёт в свою учётную запись."
            .into(),
    ];
    let guide = seen_reasons
        .into_iter()
        .map(|r| {
            let at = words::fix_at(r.fix).unwrap_or(r.fix);
            (format!("{} — {at}", r.short), r.advice.to_string())
        })
        .collect();
    Report {
        name: "match-failures",
        title: "Неудачные сопоставления с Госуслугами",
        notes,
        guide,
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
