//! Matching an ESIA person to diary accounts: normalised FIO plus SNILS.
//! A pure function of the directory and the person.

use super::names::NormalFio;
use super::{Directory, Person};

/// Every way a match can end; each is counted and shown differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Exactly one account: the session opens.
    One(usize),
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
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::One(_) => "one",
            Self::Several(_) => "several",
            Self::FioDiffers => "fio_differs",
            Self::SnilsNotInDiary => "snils_not_in_diary",
            Self::NoSnilsFromEsia => "no_snils_from_esia",
            Self::Nothing => "nothing",
        }
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
