//! Demo people for the development stack, written as three files that tell
//! one story:
//!
//! - `persons.json`: the ESIA emulator's persons ([`Person`]).
//! - `accounts.csv`: the gateway's directory of diary accounts, header
//!   `login,last_name,first_name,middle_name,snils,role,birth_date,school,class,children`
//!   (a parent's children by diary login, for the reports).
//! - `diary-users.csv`: the sample diary's own logins, header
//!   `login,password,display_name,role`, password `demo` everywhere.
//!
//! The cases: Иванова (confirmed, one matching parent account, two children
//! in ESIA who are students in the diary); Петров (confirmed, teacher and
//! parent: two matching accounts); Сидоров (standard account, nothing in the
//! directory); Кузнецова (simplified, no SNILS in ESIA, so she has to link
//! her diary account by password); Смирнов (confirmed, his directory row is
//! written sloppily: upper case, an extra space, a hyphenated SNILS);
//! Морозова (standard, not confirmed: one matching parent account, for the
//! regions that want a confirmed one). Орлова and little Кузнецов have no
//! SNILS in the directory (for the reports).

use std::path::Path;

use anyhow::Context;

use super::emulator::{Kid, Person};

/// The password of every demo account in `diary-users.csv`.
pub const DEMO_PASSWORD: &str = "demo";

pub const PERSONS_FILE: &str = "persons.json";
pub const ACCOUNTS_FILE: &str = "accounts.csv";
pub const DIARY_USERS_FILE: &str = "diary-users.csv";

pub const ACCOUNTS_HEADER: &str =
    "login,last_name,first_name,middle_name,snils,role,birth_date,school,class,children";
pub const DIARY_USERS_HEADER: &str = "login,password,display_name,role";

const SCHOOL: &str = "МОУ СШ №5";

/// Whether an 11-digit SNILS carries a correct control number. Separators
/// (`-`, spaces) are ignored; anything else, or another count of digits,
/// fails. Weights 9..1 on the first nine digits; a sum below 100 is the
/// control number itself, 100 and 101 give 00, larger sums are taken
/// modulo 101 (and a remainder of 100 gives 00).
pub fn snils_checksum_ok(digits: &str) -> bool {
    let mut d = Vec::with_capacity(11);
    for c in digits.chars() {
        match c {
            '0'..='9' => d.push(c as u32 - '0' as u32),
            '-' | ' ' => {}
            _ => return false,
        }
    }
    if d.len() != 11 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((1..=9).rev()).map(|(x, w)| x * w).sum();
    let control = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => {
            let r = s % 101;
            if r == 100 { 0 } else { r }
        }
    };
    control == d[9] * 10 + d[10]
}

/// One directory row (the gateway's `accounts.csv`).
struct Account {
    login: &'static str,
    last_name: &'static str,
    first_name: &'static str,
    middle_name: &'static str,
    snils: &'static str,
    role: &'static str,
    birth_date: &'static str,
    class: &'static str,
    /// A parent's children, by diary login (space separated).
    children: &'static str,
    /// How the diary itself shows the user.
    display_name: &'static str,
}

fn person(
    oid: u64,
    login_hint: &str,
    fio: [&str; 3],
    birth_date: &str,
    gender: &str,
    snils: Option<&str>,
    trusted: bool,
) -> Person {
    Person {
        oid,
        login_hint: login_hint.to_string(),
        last_name: fio[0].to_string(),
        first_name: fio[1].to_string(),
        middle_name: fio[2].to_string(),
        birth_date: birth_date.to_string(),
        gender: gender.to_string(),
        snils: snils.map(str::to_string),
        trusted,
        kids: vec![],
    }
}

fn with_kids(p: Person, kids: Vec<Kid>) -> Person {
    Person { kids, ..p }
}

fn kid(oid: u64, fio: [&str; 3], birth_date: &str, snils: Option<&str>) -> Kid {
    Kid {
        oid,
        last_name: fio[0].to_string(),
        first_name: fio[1].to_string(),
        middle_name: fio[2].to_string(),
        birth_date: birth_date.to_string(),
        snils: snils.map(str::to_string),
    }
}

/// The emulator's persons.
pub fn demo_persons() -> Vec<Person> {
    let ivanova = person(
        1000001,
        "родитель: одна учётная запись в дневнике (ivanova.m), двое детей",
        ["Иванова", "Мария", "Петровна"],
        "12.03.1985",
        "F",
        Some("145-862-390 88"),
        true,
    );
    let petrov = person(
        1000002,
        "учитель и родитель: две учётные записи в дневнике",
        ["Петров", "Сергей", "Иванович"],
        "23.11.1979",
        "M",
        Some("178-452-906 09"),
        true,
    );
    vec![
        with_kids(
            ivanova,
            vec![
                kid(
                    1000101,
                    ["Иванов", "Никита", "Андреевич"],
                    "14.05.2011",
                    Some("153-207-846 47"),
                ),
                kid(
                    1000102,
                    ["Иванова", "Анна", "Андреевна"],
                    "02.09.2016",
                    Some("167-390-521 88"),
                ),
            ],
        ),
        with_kids(
            petrov,
            vec![kid(
                1000103,
                ["Петрова", "Дарья", "Сергеевна"],
                "17.01.2013",
                Some("184-120-737 50"),
            )],
        ),
        person(
            1000003,
            "нет в дневнике: ни одного совпадения",
            ["Сидоров", "Алексей", "Николаевич"],
            "05.07.1990",
            "M",
            Some("196-334-058 89"),
            false,
        ),
        person(
            1000004,
            "без СНИЛС в ЕСИА: привязка по логину и паролю дневника (kuznetsova.o)",
            ["Кузнецова", "Ольга", "Владимировна"],
            "30.04.1992",
            "F",
            None,
            false,
        ),
        person(
            1000005,
            "завуч: ФИО и СНИЛС в дневнике записаны неаккуратно (smirnov.d)",
            ["Смирнов", "Дмитрий", "Алексеевич"],
            "08.02.1982",
            "M",
            Some("211-908-365 44"),
            true,
        ),
        person(
            1000006,
            "стандартная учётная запись, не подтверждённая: родитель в дневнике (morozova.n)",
            ["Морозова", "Наталья", "Игоревна"],
            "19.06.1987",
            "F",
            Some("224-335-617 41"),
            false,
        ),
    ]
}

fn demo_accounts() -> Vec<Account> {
    vec![
        Account {
            login: "ivanova.m",
            last_name: "Иванова",
            first_name: "Мария",
            middle_name: "Петровна",
            snils: "14586239088",
            role: "parent",
            birth_date: "1985-03-12",
            class: "",
            children: "ivanov.n ivanova.a",
            display_name: "Иванова Мария Петровна",
        },
        Account {
            login: "ivanov.n",
            last_name: "Иванов",
            first_name: "Никита",
            middle_name: "Андреевич",
            snils: "15320784647",
            role: "student",
            birth_date: "2011-05-14",
            class: "9А",
            children: "",
            display_name: "Иванов Никита",
        },
        Account {
            login: "ivanova.a",
            last_name: "Иванова",
            first_name: "Анна",
            middle_name: "Андреевна",
            snils: "16739052188",
            role: "student",
            birth_date: "2016-09-02",
            class: "4Б",
            children: "",
            display_name: "Иванова Анна",
        },
        Account {
            login: "petrov.teacher",
            last_name: "Петров",
            first_name: "Сергей",
            middle_name: "Иванович",
            snils: "17845290609",
            role: "staff",
            birth_date: "1979-11-23",
            class: "",
            children: "",
            display_name: "Петров Сергей Иванович (учитель физики)",
        },
        Account {
            login: "petrov.parent",
            last_name: "Петров",
            first_name: "Сергей",
            middle_name: "Иванович",
            snils: "17845290609",
            role: "parent",
            birth_date: "1979-11-23",
            class: "",
            children: "petrova.d",
            display_name: "Петров Сергей Иванович (родитель)",
        },
        Account {
            login: "petrova.d",
            last_name: "Петрова",
            first_name: "Дарья",
            middle_name: "Сергеевна",
            snils: "18412073750",
            role: "student",
            birth_date: "2013-01-17",
            class: "7Б",
            children: "",
            display_name: "Петрова Дарья",
        },
        Account {
            login: "kuznetsova.o",
            last_name: "Кузнецова",
            first_name: "Ольга",
            middle_name: "Владимировна",
            snils: "20358167448",
            role: "parent",
            birth_date: "1992-04-30",
            class: "",
            children: "kuznetsov.i",
            display_name: "Кузнецова Ольга Владимировна",
        },
        Account {
            login: "kuznetsov.i",
            last_name: "Кузнецов",
            first_name: "Илья",
            middle_name: "Романович",
            snils: "",
            role: "student",
            birth_date: "2018-10-11",
            class: "2А",
            children: "",
            display_name: "Кузнецов Илья",
        },
        Account {
            login: "smirnov.d",
            last_name: "СМИРНОВ",
            first_name: "Дмитрий ",
            middle_name: "Алексеевич",
            snils: "211-908-365 44",
            role: "staff",
            birth_date: "1982-02-08",
            class: "",
            children: "",
            display_name: "Смирнов Дмитрий Алексеевич (завуч)",
        },
        Account {
            login: "orlova.t",
            last_name: "Орлова",
            first_name: "Татьяна",
            middle_name: "Юрьевна",
            snils: "",
            role: "staff",
            birth_date: "",
            class: "",
            children: "",
            display_name: "Орлова Татьяна Юрьевна (классный руководитель 7Б)",
        },
        Account {
            login: "morozova.n",
            last_name: "Морозова",
            first_name: "Наталья",
            middle_name: "Игоревна",
            snils: "22433561741",
            role: "parent",
            birth_date: "1987-06-19",
            class: "",
            children: "",
            display_name: "Морозова Наталья Игоревна",
        },
        // Two students whose ages straddle 14 on 2018-12-02, for the
        // Irkutsk story (students under 14 keep their passwords).
        Account {
            login: "sokolov.m",
            last_name: "Соколов",
            first_name: "Максим",
            middle_name: "Олегович",
            snils: "",
            role: "student",
            birth_date: "2005-06-10",
            class: "8А",
            children: "",
            display_name: "Соколов Максим (8А, 13 лет в декабре 2018)",
        },
        Account {
            login: "sokolova.e",
            last_name: "Соколова",
            first_name: "Елена",
            middle_name: "Олеговна",
            snils: "",
            role: "student",
            birth_date: "2003-04-20",
            class: "10А",
            children: "",
            display_name: "Соколова Елена (10А, 15 лет в декабре 2018)",
        },
    ]
}

/// Write (overwriting) `persons.json`, `accounts.csv` and `diary-users.csv`
/// into `dir`.
pub fn write_demo_fixtures(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the fixture directory {}", dir.display()))?;

    let persons = serde_json::to_string_pretty(&demo_persons())?;
    let p = dir.join(PERSONS_FILE);
    std::fs::write(&p, persons + "\n").with_context(|| format!("cannot write {}", p.display()))?;

    let accounts = demo_accounts();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(ACCOUNTS_HEADER.split(','))?;
    for a in &accounts {
        w.write_record([
            a.login,
            a.last_name,
            a.first_name,
            a.middle_name,
            a.snils,
            a.role,
            a.birth_date,
            SCHOOL,
            a.class,
            a.children,
        ])?;
    }
    let p = dir.join(ACCOUNTS_FILE);
    std::fs::write(&p, w.into_inner()?).with_context(|| format!("cannot write {}", p.display()))?;

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(DIARY_USERS_HEADER.split(','))?;
    for a in &accounts {
        w.write_record([a.login, DEMO_PASSWORD, a.display_name, a.role])?;
    }
    let p = dir.join(DIARY_USERS_FILE);
    std::fs::write(&p, w.into_inner()?).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_rule() {
        assert!(snils_checksum_ok("112-233-445 95"));
        assert!(snils_checksum_ok("11223344595"));
        assert!(!snils_checksum_ok("11223344596"));
        assert!(!snils_checksum_ok("1122334459"));
        assert!(!snils_checksum_ok("112.233.445 95"));
        // A sum below 100 is the control number itself.
        assert!(snils_checksum_ok("110-704-341 93"));
        // Sums 100 and 101 give 00.
        assert!(snils_checksum_ok("05023431600"));
        assert!(snils_checksum_ok("01610339600"));
        assert!(!snils_checksum_ok("01610339601"));
        // 201 % 101 == 100 gives 00 as well.
        assert!(snils_checksum_ok("82098123300"));
    }

    #[test]
    fn every_fixture_snils_is_valid() {
        for p in demo_persons() {
            if let Some(s) = &p.snils {
                assert!(snils_checksum_ok(s), "{} {}", p.last_name, p.oid);
            }
            for k in &p.kids {
                assert!(snils_checksum_ok(k.snils.as_deref().unwrap_or("")));
            }
        }
        for a in demo_accounts() {
            assert!(
                a.snils.is_empty() || snils_checksum_ok(a.snils),
                "{}",
                a.login
            );
        }
    }

    #[test]
    fn files_have_the_documented_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_demo_fixtures(dir.path()).expect("write");
        let persons: Vec<Person> = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(PERSONS_FILE)).expect("read"),
        )
        .expect("json");
        assert_eq!(persons.len(), 6);
        assert!(
            persons
                .iter()
                .any(|p| p.oid == 1000004 && p.snils.is_none())
        );

        let text = std::fs::read_to_string(dir.path().join(ACCOUNTS_FILE)).expect("read");
        assert_eq!(text.lines().next(), Some(ACCOUNTS_HEADER));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
        let petrov = rows.iter().filter(|r| &r[1] == "Петров").count();
        assert_eq!(petrov, 2);
        assert!(!rows.iter().any(|r| &r[1] == "Сидоров"));
        let smirnov = rows.iter().find(|r| &r[0] == "smirnov.d").expect("smirnov");
        assert_eq!(&smirnov[1], "СМИРНОВ");
        assert_eq!(&smirnov[4], "211-908-365 44");
        for r in &rows {
            assert!(matches!(&r[5], "staff" | "parent" | "student"));
        }

        let text = std::fs::read_to_string(dir.path().join(DIARY_USERS_FILE)).expect("read");
        assert_eq!(text.lines().next(), Some(DIARY_USERS_HEADER));
        assert_eq!(text.lines().count(), rows.len() + 1);
        assert!(text.contains("ivanova.m,demo,"));
    }
}
