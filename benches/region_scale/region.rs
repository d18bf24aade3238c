//! A synthetic region, generated fast and the same every run (a fixed
//! seed): schools of 1,000 accounts — half parents, 45 % students, 5 %
//! staff — with valid SNILS for most, Russian names, classes, and each
//! parent's two children; and a login history over the last 400 days in
//! which 70 % of the accounts ever logged in, 70 % of logins through ESIA.
//! The history is written as `COPY` rows (`login<TAB>method<TAB>at`) and
//! the latest login per account and method is kept along, for the
//! `last_logins` table.

use std::io::Write;

use rand::{Rng, SeedableRng};

pub const ACCOUNTS_PER_SCHOOL: usize = 1000;
const DAY: i64 = 86_400;

const LAST: [&str; 12] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
];
const FIRST_M: [&str; 8] = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
];
const FIRST_F: [&str; 8] = [
    "Анастасия",
    "Мария",
    "Анна",
    "Виктория",
    "Екатерина",
    "Наталья",
    "Марина",
    "Полина",
];
const MIDDLE_M: [&str; 6] = [
    "Александрович",
    "Сергеевич",
    "Дмитриевич",
    "Андреевич",
    "Игоревич",
    "Олегович",
];
const MIDDLE_F: [&str; 6] = [
    "Александровна",
    "Сергеевна",
    "Дмитриевна",
    "Андреевна",
    "Игоревна",
    "Олеговна",
];
const LETTERS: [&str; 4] = ["А", "Б", "В", "Г"];

/// The login of account `i` of the region.
pub fn login(i: usize) -> String {
    format!("u{i:07}")
}

/// The name of school `s`.
pub fn school(s: usize) -> String {
    format!("МОУ СОШ №{}", s + 1)
}

/// A SNILS with a valid checksum, as the diary writes it.
fn snils(n: u64) -> String {
    // Above 001-001-998, where the checksum applies.
    let number = 2_000_000 + n % 997_000_000;
    let d = format!("{number:09}");
    let sum: u32 = d
        .bytes()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * (9 - i as u32))
        .sum();
    let control = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => {
            let r = s % 101;
            if r == 100 { 0 } else { r }
        }
    };
    format!("{}-{}-{} {control:02}", &d[..3], &d[3..6], &d[6..])
}

/// Writes the directory CSV of `accounts` accounts; returns the number of
/// schools.
pub fn write_directory(path: &std::path::Path, accounts: usize) -> std::io::Result<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "login,last_name,first_name,middle_name,snils,role,birth_date,school,class,children"
    )?;
    let schools = accounts.div_ceil(ACCOUNTS_PER_SCHOOL);
    for i in 0..accounts {
        let s = i / ACCOUNTS_PER_SCHOOL;
        let k = i % ACCOUNTS_PER_SCHOOL;
        let female = rng.gen_bool(0.5);
        let last = LAST[rng.gen_range(0..LAST.len())];
        let last = if female {
            format!("{last}а")
        } else {
            last.to_string()
        };
        let (first, middle) = if female {
            (FIRST_F[rng.gen_range(0..8)], MIDDLE_F[rng.gen_range(0..6)])
        } else {
            (FIRST_M[rng.gen_range(0..8)], MIDDLE_M[rng.gen_range(0..6)])
        };
        // 3 % without a SNILS, as real directories have.
        let snils = if rng.gen_bool(0.97) {
            snils(i as u64 * 7919 + 13)
        } else {
            String::new()
        };
        // Per school: 450 students, then 500 parents, then 50 staff.
        let (role, birth, class, children) = if k < 450 {
            let grade = 1 + k % 11;
            let letter = LETTERS[(k / 11) % 4];
            let year = 2024 - 6 - grade;
            (
                "student",
                format!("{year}-{:02}-{:02}", 1 + k % 12, 1 + k % 28),
                format!("{grade}{letter}"),
                String::new(),
            )
        } else if k < 950 {
            // Two children of the same school.
            let base = s * ACCOUNTS_PER_SCHOOL;
            let a = base + (k * 7) % 450;
            let b = base + (k * 13 + 1) % 450;
            (
                "parent",
                String::new(),
                String::new(),
                format!("\"{} {}\"", login(a), login(b)),
            )
        } else {
            ("staff", String::new(), String::new(), String::new())
        };
        writeln!(
            out,
            "{},{last},{first},{middle},{snils},{role},{birth},{},{class},{children}",
            login(i),
            school(s)
        )?;
    }
    out.flush()?;
    Ok(schools)
}

/// The latest logins of each account (unix seconds, 0: none).
pub struct Latest {
    pub esia: Vec<i64>,
    pub password: Vec<i64>,
}

/// Writes `records` login records of `accounts` accounts as `COPY` text
/// rows; `now` is the end of the 400 days.
pub fn write_history(
    out: &mut (impl Write + ?Sized),
    accounts: usize,
    records: usize,
    now: i64,
) -> std::io::Result<Latest> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut latest = Latest {
        esia: vec![0; accounts],
        password: vec![0; accounts],
    };
    // 70 % of the accounts ever logged in: those whose number, scrambled,
    // falls in the first 70 %.
    let active = (accounts * 7 / 10).max(1);
    let mut line = String::with_capacity(64);
    for _ in 0..records {
        let j = rng.gen_range(0..active);
        let i = (j * 7_368_787) % accounts.max(1);
        let at = now - rng.gen_range(0..400 * DAY);
        let esia = rng.gen_bool(0.7);
        let slot = if esia {
            &mut latest.esia[i]
        } else {
            &mut latest.password[i]
        };
        *slot = (*slot).max(at);
        line.clear();
        line.push_str(&login(i));
        line.push_str(if esia { "\tesia\t" } else { "\tpassword\t" });
        line.push_str(&at.to_string());
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(latest)
}

/// The `last_logins` rows (`login<TAB>last_esia<TAB>last_password`, `\N`
/// for none) of the accounts that logged in.
pub fn write_latest(out: &mut (impl Write + ?Sized), latest: &Latest) -> std::io::Result<usize> {
    let mut n = 0;
    let show = |t: i64| {
        if t == 0 {
            "\\N".to_string()
        } else {
            t.to_string()
        }
    };
    for (i, (e, p)) in latest.esia.iter().zip(&latest.password).enumerate() {
        if *e == 0 && *p == 0 {
            continue;
        }
        writeln!(out, "{}\t{}\t{}", login(i), show(*e), show(*p))?;
        n += 1;
    }
    Ok(n)
}
