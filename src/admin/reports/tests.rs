//! The reports on a small directory: adoption with its totals, filters,
//! the SNILS report and failed matches showing only the directory side.

use super::*;
use crate::identity::{Directory, EsiaOid, LegacyLogin, Role};
use crate::store::{LastLogins, MatchFailure};

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
    let f =
        Filter::from_query(Some("school=%D0%A1%D0%A8+%E2%84%967&class=9%D0%90")).expect("filter");
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
