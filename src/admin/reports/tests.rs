//! The reports on a small directory: adoption with its totals, filters
//! (a class covering the parents of its students, the state), the SNILS
//! report and failed matches naming whom they are about and where to fix
//! them.

use super::*;
use crate::identity::{Directory, EsiaOid, LegacyLogin, Role};
use crate::store::{LastLogins, MatchFailure};

const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class,children\n\
ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,,ivanov\n\
ivanov,Иванов,Никита,,,student,,СШ №5,9А,\n\
petrov,Петров,Пётр,,112-233-445 96,staff,,СШ №7,,\n\
orlova,Орлова,Анна,,12345,student,,СШ №7,9А,\n";

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

fn filter(report: &str, q: &str) -> Filter {
    query::parse(report, Some(q), &dir())
        .unwrap_or_else(|e| panic!("{q}: {e:?}"))
        .filter
}

fn failure(at: i64, reason: &str, oid: &str, logins: &[&str], name: &str) -> MatchFailure {
    MatchFailure {
        at,
        reason: reason.into(),
        oid: EsiaOid(oid.into()),
        logins: logins.iter().map(|l| LegacyLogin(l.to_string())).collect(),
        display_name: Some(name.into()),
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
    let f = filter("adoption", "school=%D0%A1%D0%A8+%E2%84%967&class=9%D0%90");
    let r = adoption(&dir(), &[], &f, &["role"], &clock());
    assert_eq!(column(&r.tables[1], "login"), vec!["orlova"]);
    let f = filter("adoption", "role=student");
    let r = adoption(&dir(), &[], &f, &["role"], &clock());
    assert_eq!(column(&r.tables[1], "login"), vec!["ivanov", "orlova"]);
}

#[test]
fn a_class_teacher_lists_the_parents_of_her_class() {
    let f = filter("adoption", "class=9%D0%90");
    let r = adoption(&dir(), &[], &f, &["class", "role"], &clock());
    let accounts = &r.tables[1];
    assert_eq!(
        column(accounts, "login"),
        vec!["ivanova", "ivanov", "orlova"]
    );
    assert_eq!(column(accounts, "children_classes")[0], json!(["9А"]));
    let f = filter("adoption", "class=9%D0%90&role=parent");
    let r = adoption(&dir(), &[], &f, &["class", "role"], &clock());
    assert_eq!(column(&r.tables[1], "login"), vec!["ivanova"]);
    // In the totals the parent counts in the class she came through.
    assert_eq!(column(&r.tables[0], "class"), vec!["9А"]);
}

#[test]
fn the_state_filter_lists_who_has_not_come_yet_and_keeps_the_totals_whole() {
    let history = [
        last("ivanova", Some(1_724_990_000), None),
        last("petrov", None, Some(1_724_000_000)),
    ];
    let by_state = |q: &str| {
        let r = adoption(&dir(), &history, &filter("adoption", q), &[], &clock());
        let totals = column(&r.tables[0], "accounts");
        (column(&r.tables[1], "login"), totals)
    };
    let (never, totals) = by_state("state=never");
    assert_eq!(never, vec!["ivanov", "orlova"]);
    assert_eq!(totals, vec![json!(4)]);
    let (not_yet, _) = by_state("state=not_esia");
    assert_eq!(not_yet, vec!["ivanov", "petrov", "orlova"]);
    let (esia, _) = by_state("state=esia&role=parent");
    assert_eq!(esia, vec!["ivanova"]);
}

#[test]
fn people_read_russian_words_where_json_keeps_codes() {
    let r = adoption(&dir(), &[], &Filter::default(), &["role"], &clock());
    let csv = String::from_utf8(r.tables[1].to_csv()).expect("utf-8");
    assert!(csv.contains(";родитель;"), "{csv}");
    assert!(csv.contains(";ещё не входили"), "{csv}");
    for code in [";parent;", ";never", ";student;"] {
        assert!(!csv.contains(code), "{code} in {csv}");
    }
    let html = r.tables[0].to_html();
    assert!(html.contains("<td>сотрудник</td>"), "{html}");
    assert!(html.contains("<th>Всего</th>"), "{html}");
    let json = r.to_json();
    assert_eq!(json["accounts"][0]["role"], "parent");
    assert_eq!(json["accounts"][0]["state"], "never");
    assert_eq!(json["totals"][0]["role"], "parent");
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
        failure(
            1_724_000_000,
            "fio_differs",
            "1000003",
            &["ivanova"],
            "Иванова Марья Петровна",
        ),
        failure(1_724_100_000, "nothing", "1000004", &[], "Сидоров Алексей"),
        failure(
            1_724_200_000,
            "no_snils_from_esia",
            "1000005",
            &["petrov"],
            "Петров Пётр",
        ),
    ];
    let r = match_failures(&dir(), &failures, &Filter::default(), 30, &clock());
    let t = &r.tables[0];
    assert_eq!(
        column(t, "reason"),
        vec!["no_snils_from_esia", "nothing", "fio_differs"]
    );
    assert_eq!(
        column(t, "fix_at"),
        vec!["esia_profile", "new_account", "diary"]
    );
    assert_eq!(
        column(t, "esia_name"),
        vec!["Петров Пётр", "Сидоров Алексей", "Иванова Марья Петровна"]
    );
    assert_eq!(
        column(t, "login"),
        vec![json!("petrov"), Value::Null, json!("ivanova")]
    );
    let text = r.to_json().to_string();
    assert!(!text.contains("1000003"), "no ESIA oid in reports: {text}");
    assert!(
        !text.contains("diary_name"),
        "a column for people only: {text}"
    );
    // People read where the fix is: Госуслуги for a missing SNILS there.
    let csv = String::from_utf8(t.to_csv()).expect("utf-8");
    let petrov = csv
        .lines()
        .find(|l| l.contains("Петров Пётр"))
        .expect("row");
    assert!(petrov.contains(";на Госуслугах (сам человек);"), "{petrov}");
    assert!(!petrov.contains("no_snils_from_esia"), "{petrov}");
    let ivanova = csv
        .lines()
        .find(|l| l.contains("Иванова Марья"))
        .expect("row");
    assert!(ivanova.contains(";в дневнике (школа);"), "{ivanova}");
    assert!(
        ivanova.contains("Иванова Мария Петровна"),
        "the diary's name: {ivanova}"
    );
    let r = match_failures(
        &dir(),
        &failures,
        &filter("match-failures", "role=parent"),
        30,
        &clock(),
    );
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

#[test]
fn a_one_school_report_asks_only_for_that_schools_accounts() {
    let d = dir();
    let covered = |q: &str| -> Vec<String> {
        let b = AdoptionBuilder::new(&d, &filter("adoption", q), &["school"], clock());
        let mut v: Vec<String> = b.covered().iter().map(|a| a.login.0.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(covered("school=СШ №7"), vec!["orlova", "petrov"]);
    // A school covers the parents of its students.
    assert_eq!(covered("school=СШ №5"), vec!["ivanov", "ivanova"]);
    assert_eq!(covered("").len(), 4);
    // Built a part at a time, the report is the one built at once.
    let history = [last("ivanova", Some(1_724_990_000), None)];
    let f = filter("adoption", "school=СШ №5");
    let whole = adoption(&d, &history, &f, &["school"], &clock());
    let mut b = AdoptionBuilder::new(&d, &f, &["school"], clock());
    let mut rows = Vec::new();
    for a in b.covered() {
        let l = history.iter().find(|l| l.login == a.login);
        rows.extend(b.add(a, l));
    }
    let parts = b.finish(rows);
    assert_eq!(parts.to_json(), whole.to_json());
}
