//! A report's query string, read and checked once: every parameter must be
//! one the report knows, and every value one it can use. A typo in a
//! bookmarked link (`state=nevr`, `clas=7Б`, a school renamed in the
//! diary) is a 400 naming the value and the ones allowed, never a report
//! quietly showing everything.

use std::collections::BTreeSet;

use super::{Filter, StateFilter, words};
use crate::identity::{Directory, Role};

/// The longest failed-match window a query may ask for, days.
pub const MAX_DAYS: u32 = 3660;

/// What one report accepts.
struct Spec {
    params: &'static [&'static str],
    /// Its tables: key and title.
    tables: &'static [(&'static str, &'static str)],
}

fn spec(report: &str) -> Option<Spec> {
    Some(match report {
        "adoption" => Spec {
            params: &["school", "class", "role", "state", "group", "table"],
            tables: &[("totals", "Итоги"), ("accounts", "Учётные записи")],
        },
        "snils" => Spec {
            params: &["school", "class", "role", "table"],
            tables: &[("accounts", "Учётные записи")],
        },
        "match-failures" => Spec {
            params: &["school", "class", "role", "days", "table"],
            tables: &[("failures", "Неудачные сопоставления")],
        },
        _ => return None,
    })
}

/// A report's parameters, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filter: Filter,
    /// The adoption totals' dimensions (`group`); school, class, role
    /// when not given.
    pub group: Vec<&'static str>,
    /// The failed-match window (`days`), when given.
    pub days: Option<u32>,
    /// The table a CSV file is asked for (`table`).
    pub table: Option<&'static str>,
}

/// A parameter the report cannot use: its name, the value given and what
/// is allowed, with a sentence for people saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter {
    pub parameter: String,
    pub value: String,
    pub allowed: Vec<String>,
    pub message: String,
}

impl BadParameter {
    fn new(parameter: &str, value: &str, allowed: Vec<String>, message: String) -> Self {
        Self {
            parameter: parameter.to_string(),
            value: value.to_string(),
            allowed,
            message,
        }
    }
}

/// Allowed values as a list for people: `a, b, c` (at most 30, then how
/// many more).
fn listed(values: &[String]) -> String {
    const SHOWN: usize = 30;
    let mut out = values
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > SHOWN {
        out.push_str(&format!(" и ещё {}", values.len() - SHOWN));
    }
    out
}

/// Names compared as people type them: trimmed, in any case.
pub(super) fn same(a: &str, b: &str) -> bool {
    // Asked for every account of the region by a report: no allocation,
    // and letters are lowered only where the two spellings differ.
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    let (mut x, mut y) = (a.chars(), b.chars());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) if c == d => {}
            (Some(c), Some(d)) => {
                let (mut lc, mut ld) = (c.to_lowercase(), d.to_lowercase());
                if lc.len() != 1 || ld.len() != 1 {
                    // A letter lowered into several: compare in full.
                    return a
                        .chars()
                        .flat_map(char::to_lowercase)
                        .eq(b.chars().flat_map(char::to_lowercase));
                }
                if lc.next() != ld.next() {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A school or class value: one the directory has (its own spelling kept).
fn known<'a>(
    parameter: &str,
    what: &str,
    value: &str,
    have: impl Iterator<Item = &'a str> + Clone,
) -> Result<String, BadParameter> {
    // The first spelling in the directory; the set of every value (a
    // region's million accounts) only for a value it does not have.
    if let Some(v) = have.clone().find(|h| same(h, value)) {
        return Ok(v.to_string());
    }
    let have: BTreeSet<&str> = have.collect();
    let allowed: Vec<String> = have.into_iter().map(str::to_string).collect();
    let message = if allowed.is_empty() {
        format!(
            "{parameter}={value}: в справочнике учётных записей нет ни одного значения «{what}»."
        )
    } else {
        format!(
            "{parameter}={value}: такого значения «{what}» в справочнике учётных записей нет. Есть: {}.",
            listed(&allowed)
        )
    };
    Err(BadParameter::new(parameter, value, allowed, message))
}

/// Read `query` for the report `report` (a known name) against the
/// directory in use.
pub fn parse(report: &str, query: Option<&str>, dir: &Directory) -> Result<Query, BadParameter> {
    let Some(spec) = spec(report) else {
        return Err(BadParameter::new(
            "report",
            report,
            Vec::new(),
            format!("нет отчёта {report}"),
        ));
    };
    let mut seen: Vec<String> = Vec::new();
    let mut q = Query {
        group: vec!["school", "class", "role"],
        ..Query::default()
    };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.trim();
        if !spec.params.contains(&k.as_ref()) {
            let allowed: Vec<String> = spec.params.iter().map(|p| p.to_string()).collect();
            let message = format!(
                "Параметр {k} этому отчёту неизвестен. Есть: {}.",
                listed(&allowed)
            );
            return Err(BadParameter::new(&k, v, allowed, message));
        }
        if seen.iter().any(|s| s == k.as_ref()) {
            let message = format!("Параметр {k} указан больше одного раза; оставьте один.");
            return Err(BadParameter::new(&k, v, Vec::new(), message));
        }
        seen.push(k.to_string());
        if v.is_empty() {
            // An empty value is "any" (the form's «все»).
            continue;
        }
        let accounts = dir.accounts();
        match k.as_ref() {
            "school" => {
                let have = accounts
                    .iter()
                    .map(|a| a.school.trim())
                    .filter(|s| !s.is_empty());
                q.filter.school = Some(known("school", "школа", v, have)?);
            }
            "class" => {
                let have = accounts
                    .iter()
                    .map(|a| a.class.trim())
                    .filter(|s| !s.is_empty());
                q.filter.class = Some(known("class", "класс", v, have)?);
            }
            "role" => q.filter.role = Some(role(v)?),
            "state" => q.filter.state = Some(state(v)?),
            "group" => q.group = group(v)?,
            "days" => q.days = Some(days(v)?),
            "table" => {
                let Some((key, _)) = spec.tables.iter().find(|(key, _)| *key == v) else {
                    let allowed: Vec<String> =
                        spec.tables.iter().map(|(k, _)| k.to_string()).collect();
                    let named: Vec<String> = spec
                        .tables
                        .iter()
                        .map(|(k, t)| format!("{k} ({t})"))
                        .collect();
                    let message = format!(
                        "table={v}: такой таблицы в этом отчёте нет. Есть: {}.",
                        listed(&named)
                    );
                    return Err(BadParameter::new("table", v, allowed, message));
                };
                q.table = Some(key);
            }
            _ => {}
        }
    }
    Ok(q)
}

fn role(v: &str) -> Result<Role, BadParameter> {
    const ROLES: [Role; 3] = [Role::Staff, Role::Parent, Role::Student];
    ROLES.into_iter().find(|r| r.as_str() == v).ok_or_else(|| {
        let allowed: Vec<String> = ROLES.iter().map(|r| r.as_str().to_string()).collect();
        let named: Vec<String> = ROLES
            .iter()
            .map(|r| format!("{} ({})", r.as_str(), r.russian()))
            .collect();
        let message = format!(
            "role={v}: такой роли нет. Есть: {}; пусто — все.",
            listed(&named)
        );
        BadParameter::new("role", v, allowed, message)
    })
}

fn state(v: &str) -> Result<StateFilter, BadParameter> {
    StateFilter::ALL
        .into_iter()
        .find(|s| s.code() == v)
        .ok_or_else(|| {
            let allowed: Vec<String> = StateFilter::ALL
                .iter()
                .map(|s| s.code().to_string())
                .collect();
            let named: Vec<String> = StateFilter::ALL
                .iter()
                .map(|s| format!("{} ({})", s.code(), words::state(s.code()).unwrap_or("")))
                .collect();
            let message = format!(
                "state={v}: такого состояния нет. Есть: {}; пусто — все.",
                listed(&named)
            );
            BadParameter::new("state", v, allowed, message)
        })
}

/// The totals' dimensions, from `school,class`.
fn group(v: &str) -> Result<Vec<&'static str>, BadParameter> {
    const DIMS: [&str; 3] = ["school", "class", "role"];
    let mut dims = Vec::new();
    for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let Some(d) = DIMS.into_iter().find(|x| *x == d) else {
            let allowed: Vec<String> = DIMS.iter().map(|d| d.to_string()).collect();
            let message = format!(
                "group={v}: итоги считаются по school (школа), class (класс) и role (роль), \
                 через запятую; «{d}» среди них нет."
            );
            return Err(BadParameter::new("group", v, allowed, message));
        };
        if !dims.contains(&d) {
            dims.push(d);
        }
    }
    Ok(dims)
}

fn days(v: &str) -> Result<u32, BadParameter> {
    v.parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .ok_or_else(|| {
            let message = format!("days={v}: нужно целое число дней от 1 до {MAX_DAYS}.");
            BadParameter::new("days", v, vec![format!("1..{MAX_DAYS}")], message)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
a,Иванов,Иван,,,student,,СШ №5,7Б\n\
b,Петрова,Анна,,,parent,,СШ №5,\n";

    fn dir() -> Directory {
        Directory::parse_csv(CSV.as_bytes(), "t").expect("csv").0
    }

    fn bad(report: &str, query: &str) -> BadParameter {
        parse(report, Some(query), &dir()).expect_err(query)
    }

    #[test]
    fn every_filter_value_is_checked_and_the_error_names_what_is_allowed() {
        let e = bad("adoption", "state=nevr");
        assert_eq!((e.parameter.as_str(), e.value.as_str()), ("state", "nevr"));
        assert!(e.allowed.contains(&"never".to_string()), "{e:?}");
        assert!(
            e.message.contains("nevr") && e.message.contains("never"),
            "{e:?}"
        );
        let e = bad("adoption", "role=teacher");
        assert!(e.message.contains("parent (родитель)"), "{e:?}");
        let e = bad("adoption", "class=9%D0%90");
        assert_eq!(e.allowed, vec!["7Б"]);
        let e = bad("snils", "school=%D0%A1%D0%A8+%E2%84%967");
        assert!(e.message.contains("СШ №5"), "{e:?}");
        assert_eq!(bad("adoption", "group=school,form").value, "school,form");
        assert_eq!(bad("match-failures", "days=0").parameter, "days");
        assert_eq!(bad("snils", "table=totals").allowed, vec!["accounts"]);
    }

    #[test]
    fn a_parameter_the_report_does_not_know_is_an_error_too() {
        let e = bad("adoption", "clas=7%D0%91");
        assert_eq!(e.parameter, "clas");
        assert!(e.message.contains("class"), "{e:?}");
        // The state belongs to the adoption report only.
        assert_eq!(bad("snils", "state=never").parameter, "state");
        assert_eq!(bad("adoption", "role=parent&role=staff").parameter, "role");
    }

    #[test]
    fn values_compare_in_any_case_trimmed() {
        for (x, y, want) in [
            ("СШ №5", "сш №5", true),
            (" 7Б ", "7б", true),
            ("МОУ СОШ №501", "МОУ СОШ №17", false),
            ("МОУ СОШ №5", "МОУ СОШ №50", false),
            ("Ёлочка", "ёЛОЧКА", true),
            ("İ", "i\u{307}", true),
            ("", "", true),
            ("a", "", false),
        ] {
            assert_eq!(same(x, y), want, "{x:?} {y:?}");
            assert_eq!(
                same(x, y),
                x.trim().to_lowercase() == y.trim().to_lowercase(),
                "as to_lowercase: {x:?} {y:?}"
            );
        }
    }

    #[test]
    fn known_values_are_read_in_any_case_and_empty_ones_mean_any() {
        let q = parse(
            "adoption",
            Some("class=7%D0%B1&state=never&school="),
            &dir(),
        )
        .expect("ok");
        assert_eq!(q.filter.class.as_deref(), Some("7Б"));
        assert_eq!(q.filter.state, Some(StateFilter::Never));
        assert_eq!(q.filter.school, None);
        assert_eq!(q.group, vec!["school", "class", "role"]);
        let q = parse("match-failures", Some("days=7&table=failures"), &dir()).expect("ok");
        assert_eq!((q.days, q.table), (Some(7), Some("failures")));
    }
}
