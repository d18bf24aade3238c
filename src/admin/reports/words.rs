//! The Russian words of the reports' codes: roles, adoption states and the
//! reasons a match failed, each reason with where its fix is (the diary's
//! record, or the person's own profile at Госуслуги) and what to do. JSON
//! keeps the codes; pages and CSV files show these words (a code without
//! words, such as a total row's «Всего», is shown as it is).

use crate::identity::Role;

/// A role code (`parent`) as people read it (`родитель`).
pub fn role(code: &str) -> Option<&'static str> {
    Role::parse(code).map(Role::russian)
}

/// An adoption state code as people read it.
pub fn state(code: &str) -> Option<&'static str> {
    Some(match code {
        "esia" => "через Госуслуги",
        "password_only" => "только по паролю",
        "never" => "ещё не входили",
        "not_esia" => "ещё не перешли",
        _ => return None,
    })
}

/// What a failed match means for the school and where it is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// A few words for the table.
    pub short: &'static str,
    /// Where the fix is, as a code: `diary`, `esia_profile`,
    /// `new_account`, `link_owner` (words: [`fix_at`]).
    pub fix: &'static str,
    /// What to do, in a sentence or two.
    pub advice: &'static str,
}

/// Where a failed match is fixed, as people read it.
pub fn fix_at(code: &str) -> Option<&'static str> {
    Some(match code {
        "diary" => "в дневнике (школа)",
        "esia_profile" => "на Госуслугах (сам человек)",
        "new_account" => "завести в дневнике (школа)",
        "link_owner" => "снять чужую привязку",
        _ => return None,
    })
}

/// A failed match's reason code (the match outcome label) for people.
/// `one`, `birth_date` and `several` are stored when the matching accounts
/// belong to another ESIA person.
pub fn reason(code: &str) -> Option<Reason> {
    Some(match code {
        "fio_differs" => Reason {
            short: "ФИО не совпадает",
            fix: "diary",
            advice: "СНИЛС есть в дневнике, но ФИО там записано иначе, чем на Госуслугах: \
                     сравните два ФИО в строке (опечатка, латинская буква, прежняя фамилия) и \
                     исправьте запись в дневнике. Буквы е/ё, регистр и лишние пробелы не мешают.",
        },
        "snils_not_in_diary" => Reason {
            short: "СНИЛС в дневнике не тот",
            fix: "diary",
            advice: "Человек с таким ФИО есть в дневнике, но в его записи нет этого СНИЛС \
                     (не указан или с ошибкой): сверьте СНИЛС с документом человека и внесите \
                     его в запись дневника.",
        },
        "no_snils_from_esia" => Reason {
            short: "Госуслуги не передали СНИЛС",
            fix: "esia_profile",
            advice: "Дневник здесь ни при чём: в профиле человека на Госуслугах нет \
                     проверенного СНИЛС (упрощённая учётная запись) или он не разрешил его \
                     передать. Пусть укажет СНИЛС в профиле на Госуслугах, дождётся проверки и \
                     при входе разрешит передачу. До этого он может привязать учётную запись \
                     по логину и паролю дневника.",
        },
        "one" | "birth_date" | "several" | "linked_elsewhere" => Reason {
            short: "учётная запись уже привязана к другому человеку",
            fix: "link_owner",
            advice: "Подходящая учётная запись дневника уже привязана по логину и паролю к \
                     другому человеку на Госуслугах. Выясните, кто это: привязку снимает он сам \
                     («Отвязать» на странице выбора учётной записи). Смените пароль этой \
                     учётной записи в дневнике.",
        },
        "nothing" => Reason {
            short: "нет в дневнике",
            fix: "new_account",
            advice: "В дневнике нет никого с таким ФИО и СНИЛС. Если человек должен там быть \
                     (родитель, сотрудник), заведите ему учётную запись с ФИО и СНИЛС, как на \
                     Госуслугах; если нет — ничего делать не нужно.",
        },
        _ => return None,
    })
}

/// [`reason`]`(code).short`, for a column of codes.
pub fn reason_short(code: &str) -> Option<&'static str> {
    reason(code).map(|r| r.short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::MatchOutcome;

    #[test]
    fn every_failure_a_match_can_record_says_where_to_fix_it() {
        for code in MatchOutcome::LABELS {
            let r = reason(code).unwrap_or_else(|| panic!("{code}"));
            assert!(fix_at(r.fix).is_some() && !r.advice.is_empty(), "{code}");
        }
        // A person without SNILS at ESIA is not sent to the diary's record.
        let esia = reason("no_snils_from_esia").expect("known");
        assert_eq!(esia.fix, "esia_profile");
        assert!(!esia.advice.contains("исправьте запись"));
        assert_eq!(reason("fio_differs").map(|r| r.fix), Some("diary"));
        assert_eq!(reason("made up"), None);
    }

    #[test]
    fn codes_read_as_russian_words() {
        assert_eq!(role("parent"), Some("родитель"));
        assert_eq!(role("staff"), Some("сотрудник"));
        assert_eq!(state("never"), Some("ещё не входили"));
        assert_eq!(state("esia"), Some("через Госуслуги"));
        assert_eq!(role("Всего"), None);
    }
}
