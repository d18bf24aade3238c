//! Matching an ESIA person to diary accounts: normalised FIO plus SNILS,
//! and, where a region opts in, FIO plus birth date for diary rows without
//! a SNILS ([`WithoutSnils::BirthDate`]). A pure function of the directory,
//! the person and that rule. An account whose SNILS
//! in the diary failed its checksum has no SNILS here, so it is never
//! matched by it: it shows up as [`MatchOutcome::SnilsNotInDiary`] and in
//! [`Directory::invalid_snils_accounts`].

pub use crate::config::directory::WithoutSnils;

use super::names::NormalFio;
use super::{Directory, LegacyLogin, Person};

/// Every way a match can end; each is counted and shown differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Exactly one account: the session opens.
    One(usize),
    /// No account by SNILS, but exactly one row without a SNILS with the
    /// same FIO and birth date (`match_without_snils = "birth_date"`).
    ByBirthDate(usize),
    /// Several accounts of the same person (teacher and parent, two schools).
    Several(Vec<usize>),
    /// The SNILS is in the diary, but under another name.
    FioDiffers,
    /// Someone of that name is in the diary, without that SNILS.
    SnilsNotInDiary,
    /// ESIA gave no SNILS (a simplified account or no consent to it).
    NoSnilsFromEsia,
    /// Nobody of that name or SNILS.
    Nothing,
}

impl MatchOutcome {
    /// A bounded label for metrics and the mismatch report.
    pub fn label(&self) -> &'static str {
        match self {
            Self::One(_) => "one",
            Self::ByBirthDate(_) => "birth_date",
            Self::Several(_) => "several",
            Self::FioDiffers => "fio_differs",
            Self::SnilsNotInDiary => "snils_not_in_diary",
            Self::NoSnilsFromEsia => "no_snils_from_esia",
            Self::Nothing => "nothing",
        }
    }

    /// Whether the session can open without a choice or a link.
    pub fn is_one(&self) -> bool {
        matches!(self, Self::One(_) | Self::ByBirthDate(_))
    }

    /// The one account matched, by SNILS or by birth date.
    pub fn single(&self) -> Option<usize> {
        match self {
            Self::One(i) | Self::ByBirthDate(i) => Some(*i),
            _ => None,
        }
    }

    /// Every label, for tests and dashboards.
    pub const LABELS: [&'static str; 7] = [
        "one",
        "birth_date",
        "several",
        "fio_differs",
        "snils_not_in_diary",
        "no_snils_from_esia",
        "nothing",
    ];
}

/// The directory accounts a match involved, for the school's mismatch
/// report (`MatchFailure::logins` in the store): the accounts found by
/// SNILS (whatever their name, so «FIO differs» names the account to fix)
/// and the accounts of the same normalised FIO, in directory order, each
/// once. Only logins come out: never the SNILS.
pub fn involved_logins(dir: &Directory, p: &Person) -> Vec<LegacyLogin> {
    let fio = NormalFio::new(&p.last_name, &p.first_name, &p.middle_name);
    let mut idx: Vec<usize> = dir.with_fio(&fio).to_vec();
    if let Some(snils) = &p.snils {
        idx.extend_from_slice(dir.with_snils(snils));
    }
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter()
        .filter_map(|i| dir.get(i).map(|a| a.login.clone()))
        .collect()
}

/// [`match_person`] with the region's rule for diary rows without a SNILS.
pub fn match_person_with(dir: &Directory, p: &Person, rule: WithoutSnils) -> MatchOutcome {
    let outcome = match_person(dir, p);
    match (rule, &outcome, p.birth_date) {
        (WithoutSnils::BirthDate, MatchOutcome::SnilsNotInDiary, Some(born)) => {
            let fio = NormalFio::new(&p.last_name, &p.first_name, &p.middle_name);
            let rows: Vec<usize> = dir
                .with_fio(&fio)
                .iter()
                .copied()
                .filter(|&i| {
                    dir.get(i).is_some_and(|a| {
                        a.snils.is_none() && a.snils_problem.is_none() && a.birth_date == Some(born)
                    })
                })
                .collect();
            match rows.as_slice() {
                [one] => MatchOutcome::ByBirthDate(*one),
                _ => outcome,
            }
        }
        _ => outcome,
    }
}

pub fn match_person(dir: &Directory, p: &Person) -> MatchOutcome {
    let fio = NormalFio::new(&p.last_name, &p.first_name, &p.middle_name);
    let Some(snils) = &p.snils else {
        return MatchOutcome::NoSnilsFromEsia;
    };
    let hits: Vec<usize> = dir
        .with_snils(snils)
        .iter()
        .copied()
        .filter(|&i| dir.get(i).is_some_and(|a| a.fio == fio))
        .collect();
    match hits.len() {
        1 => MatchOutcome::One(hits[0]),
        0 if !dir.with_snils(snils).is_empty() => MatchOutcome::FioDiffers,
        0 if !dir.with_fio(&fio).is_empty() => MatchOutcome::SnilsNotInDiary,
        0 => MatchOutcome::Nothing,
        _ => MatchOutcome::Several(hits),
    }
}

#[cfg(test)]
mod birth_date_tests {
    use super::*;
    use crate::identity::{EsiaOid, Snils};
    use chrono::NaiveDate;

    const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
semenova,Семёнова,Анна,Ивановна,,parent,1984-05-06,СШ №5,\n\
semenova.old,Семёнова,Анна,Ивановна,,parent,1950-01-01,СШ №2,\n\
kozlov,Козлов,Олег,,12345678900,parent,1980-01-01,СШ №5,\n\
kozlov.2,Козлов,Олег,,,parent,1980-01-01,СШ №6,\n\
twin.a,Белова,Ольга,,,parent,1990-02-02,СШ №1,\n\
twin.b,Белова,Ольга,,,parent,1990-02-02,СШ №3,\n";

    fn person(last: &str, first: &str, middle: &str, born: &str, snils: bool) -> Person {
        Person {
            oid: EsiaOid("7".into()),
            last_name: last.into(),
            first_name: first.into(),
            middle_name: middle.into(),
            birth_date: NaiveDate::parse_from_str(born, "%Y-%m-%d").ok(),
            snils: snils.then(|| Snils::parse("112-233-445 95").expect("snils")),
            trusted: true,
            children: Vec::new(),
        }
    }

    #[test]
    fn a_diary_row_without_snils_matches_by_fio_and_birth_date_only_when_asked() {
        let (dir, _) = Directory::parse_csv(CSV.as_bytes(), "t").expect("csv");
        let anna = person("СЕМЁНОВА", "анна", "Ивановна", "1984-05-06", true);
        // Off by default: the seeds' way, manual linking.
        assert_eq!(match_person(&dir, &anna), MatchOutcome::SnilsNotInDiary);
        let m = match_person_with(&dir, &anna, WithoutSnils::BirthDate);
        let login = m
            .single()
            .and_then(|i| dir.get(i))
            .map(|a| a.login.0.as_str());
        assert_eq!(login, Some("semenova"));
        assert_eq!(m.label(), "birth_date");
        // Another birth date, two rows alike, or no SNILS at ESIA: no match.
        for p in [
            person("Семёнова", "Анна", "Ивановна", "1984-05-07", true),
            person("Белова", "Ольга", "", "1990-02-02", true),
            person("Семёнова", "Анна", "Ивановна", "1984-05-06", false),
        ] {
            assert!(
                !match_person_with(&dir, &p, WithoutSnils::BirthDate).is_one(),
                "{p:?}"
            );
        }
        // A row that has a SNILS (another person's, or mistyped) is never
        // matched by birth date; the row without one is.
        let oleg = person("Козлов", "Олег", "", "1980-01-01", true);
        let m = match_person_with(&dir, &oleg, WithoutSnils::BirthDate);
        let login = m
            .single()
            .and_then(|i| dir.get(i))
            .map(|a| a.login.0.as_str());
        assert_eq!(login, Some("kozlov.2"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{EsiaOid, Snils};

    const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n\
petrov.t,Петров,Сергей,Иванович,11223344696,staff,,СШ №5,\n\
petrov.p,ПЕТРОВ,Сергей,Иванович, 112-233-446 96 ,parent,,СШ №5,\n\
semenova,Семёнова,Анна,,,parent,,СШ №5,\n";

    fn person(last: &str, first: &str, middle: &str, snils: Option<&str>) -> Person {
        Person {
            oid: EsiaOid("1".into()),
            last_name: last.into(),
            first_name: first.into(),
            middle_name: middle.into(),
            birth_date: None,
            snils: snils.map(|s| Snils::parse(s).expect("test snils")),
            trusted: true,
            children: Vec::new(),
        }
    }

    fn dir() -> Directory {
        Directory::parse_csv(CSV.as_bytes(), "t").expect("csv").0
    }

    #[test]
    fn a_parent_whose_fio_and_snils_agree_gets_her_account() {
        let d = dir();
        let m = match_person(
            &d,
            &person("ИВАНОВА", "Мария", "Петровна", Some("11223344595")),
        );
        let MatchOutcome::One(i) = m else {
            panic!("{m:?}")
        };
        assert_eq!(d.get(i).map(|a| a.login.0.as_str()), Some("ivanova"));
    }

    #[test]
    fn a_teacher_who_is_also_a_parent_has_several_accounts() {
        let m = match_person(
            &dir(),
            &person("Петров", "Сергей", "Иванович", Some("112-233-446 96")),
        );
        assert!(
            matches!(m, MatchOutcome::Several(ref v) if v.len() == 2),
            "{m:?}"
        );
    }

    #[test]
    fn в_дневнике_фамилия_набрана_с_латинской_с() {
        // The diary's row has "Cидоров" with a Latin C and a Latin "o".
        let csv = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
sidorov,Cидорoв,Иван,Петрович,112-233-445 95,staff,,СШ №5,\n";
        let d = Directory::parse_csv(csv.as_bytes(), "t").expect("csv").0;
        let m = match_person(
            &d,
            &person("Сидоров", "Иван", "Петрович", Some("11223344595")),
        );
        assert_eq!(m, MatchOutcome::One(0));
    }

    #[test]
    fn в_госуслугах_отчество_с_ё_и_двойная_фамилия_через_тире() {
        let csv = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
pv,Петрова-Водкина,Алёна,Сергеевна,112-233-445 95,parent,,СШ №5,\n";
        let d = Directory::parse_csv(csv.as_bytes(), "t").expect("csv").0;
        let m = match_person(
            &d,
            &person(
                "ПЕТРОВА — ВОДКИНА",
                "Алена",
                "Сергеевна",
                Some("112 233 445 95"),
            ),
        );
        assert_eq!(m, MatchOutcome::One(0));
    }

    #[test]
    fn снилс_в_дневнике_с_ошибкой_в_контрольной_сумме_не_сопоставляется() {
        let csv = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
orlova,Орлова,Анна,,112-233-445 96,parent,,СШ №5,\n";
        let d = Directory::parse_csv(csv.as_bytes(), "t").expect("csv").0;
        // ESIA has the right number; the diary's has a typo in the control
        // digits. The account is reported, not matched.
        let p = person("Орлова", "Анна", "", Some("112-233-445 95"));
        assert_eq!(match_person(&d, &p), MatchOutcome::SnilsNotInDiary);
        assert_eq!(involved_logins(&d, &p), vec![LegacyLogin("orlova".into())]);
        let reported: Vec<&str> = d
            .invalid_snils_accounts()
            .iter()
            .map(|a| a.login.0.as_str())
            .collect();
        assert_eq!(reported, vec!["orlova"]);
    }

    #[test]
    fn для_отчёта_о_несовпадениях_названы_только_логины_дневника() {
        let d = dir();
        let logins = |p: &Person| -> Vec<String> {
            involved_logins(&d, p).into_iter().map(|l| l.0).collect()
        };
        // FIO differs: the account holding that SNILS.
        let p = person("Иванова", "Мария", "Павловна", Some("11223344595"));
        assert_eq!(match_person(&d, &p), MatchOutcome::FioDiffers);
        assert_eq!(logins(&p), vec!["ivanova"]);
        // Same FIO, another SNILS: the accounts of that name.
        let p = person("Семенова", "Анна", "", Some("00000000101"));
        assert_eq!(match_person(&d, &p), MatchOutcome::SnilsNotInDiary);
        assert_eq!(logins(&p), vec!["semenova"]);
        // No SNILS from ESIA: the accounts of that name still help.
        let p = person("Петров", "Сергей", "Иванович", None);
        assert_eq!(match_person(&d, &p), MatchOutcome::NoSnilsFromEsia);
        assert_eq!(logins(&p), vec!["petrov.t", "petrov.p"]);
        // Nobody: nothing to name.
        let p = person("Никто", "Нигде", "", Some("00000000101"));
        assert_eq!(match_person(&d, &p), MatchOutcome::Nothing);
        assert!(logins(&p).is_empty());
        // The SNILS appears in none of them.
        let shown = format!(
            "{:?}",
            involved_logins(&d, &person("Иванова", "Мария", "", Some("11223344595")))
        );
        assert!(!shown.contains("112233"), "{shown}");
    }

    #[test]
    fn every_outcome_has_its_own_bounded_label() {
        let outcomes = [
            MatchOutcome::One(0),
            MatchOutcome::ByBirthDate(0),
            MatchOutcome::Several(vec![0, 1]),
            MatchOutcome::FioDiffers,
            MatchOutcome::SnilsNotInDiary,
            MatchOutcome::NoSnilsFromEsia,
            MatchOutcome::Nothing,
        ];
        let labels: Vec<&str> = outcomes.iter().map(MatchOutcome::label).collect();
        assert_eq!(labels, MatchOutcome::LABELS);
        assert!(outcomes[0].is_one() && outcomes[1].is_one() && !outcomes[2].is_one());
    }

    #[test]
    fn the_other_outcomes_are_told_apart() {
        let d = dir();
        assert_eq!(
            match_person(
                &d,
                &person("Иванова", "Мария", "Павловна", Some("11223344595"))
            ),
            MatchOutcome::FioDiffers
        );
        assert_eq!(
            match_person(&d, &person("Семенова", "Анна", "", Some("11223344595"))),
            MatchOutcome::FioDiffers
        );
        assert_eq!(
            match_person(&d, &person("Семенова", "Анна", "", Some("00000000101"))),
            MatchOutcome::SnilsNotInDiary
        );
        assert_eq!(
            match_person(&d, &person("Семенова", "Анна", "", None)),
            MatchOutcome::NoSnilsFromEsia
        );
        assert_eq!(
            match_person(&d, &person("Никто", "Нигде", "", Some("00000000101"))),
            MatchOutcome::Nothing
        );
    }
}
