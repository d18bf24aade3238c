//! Normalisation of names (ФИО) so that the diary's spelling and ESIA's
//! compare equal: case, ё/е, repeated and edge spaces, hyphen variants and
//! the spaces around them, invisible characters, and Latin letters that look
//! like Cyrillic ones typed into a Cyrillic name («Cидоров» with a Latin
//! „C“). A purely Latin name stays Latin.

/// A full name reduced to its comparable form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalFio(String);

impl NormalFio {
    pub fn new(last: &str, first: &str, middle: &str) -> Self {
        let parts = [last, first, middle];
        // A word made only of look-alike Latin letters («Coc») is Cyrillic
        // when the rest of the name is.
        let cyrillic_name = parts.iter().any(|p| p.chars().any(is_cyrillic));
        let parts: Vec<String> = parts
            .iter()
            .map(|p| normalise(p, cyrillic_name))
            .filter(|p| !p.is_empty())
            .collect();
        Self(parts.join(" "))
    }

    /// The comparable form, for logs of tests and reports.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One part of a name (a surname, a first name, a patronymic) in its
/// comparable form, deciding look-alike letters from this part alone.
pub fn normalise_part(s: &str) -> String {
    normalise(s, false)
}

fn normalise(s: &str, cyrillic_name: bool) -> String {
    let spaced = unify_spacing(s);
    let mut out = String::with_capacity(spaced.len());
    let mut word = String::new();
    for c in spaced.chars() {
        if c == ' ' || c == '-' {
            fold_word(&word, cyrillic_name, &mut out);
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    fold_word(&word, cyrillic_name, &mut out);
    out
}

/// Hyphens of every kind become `-` with no space around; runs of spaces
/// become one; edge spaces and invisible characters go. Case is kept, so
/// that look-alikes can be told by their case (`B` is `В`, `b` is `ь`).
fn unify_spacing(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let c = match c {
            // Soft hyphen, zero-width spaces and joiners, byte order mark.
            '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => continue,
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}' => '-',
            c => c,
        };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c == '-' {
            // "Петрова - Водкина" and "Петрова-Водкина" are one name.
            pending_space = false;
            if out.ends_with(' ') {
                out.pop();
            }
            out.push('-');
            continue;
        }
        if pending_space && !out.ends_with('-') {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{400}'..='\u{4ff}')
}

/// The Cyrillic letter a Latin letter is mistaken for, if any.
fn cyrillic_look_alike(c: char) -> Option<char> {
    Some(match c {
        'a' => 'а',
        'e' => 'е',
        'o' => 'о',
        'p' => 'р',
        'c' => 'с',
        'x' => 'х',
        'y' => 'у',
        'k' => 'к',
        'm' => 'м',
        't' => 'т',
        'h' => 'н',
        'b' => 'ь',
        'A' => 'А',
        'B' => 'В',
        'E' => 'Е',
        'K' => 'К',
        'M' => 'М',
        'H' => 'Н',
        'O' => 'О',
        'P' => 'Р',
        'C' => 'С',
        'T' => 'Т',
        'X' => 'Х',
        'ë' | 'Ë' => 'ё',
        _ => return None,
    })
}

/// Appends the word in its comparable form: look-alikes mapped when the
/// word is otherwise Cyrillic, then lower case, then ё as е.
fn fold_word(word: &str, cyrillic_name: bool, out: &mut String) {
    let has_cyrillic = word.chars().any(is_cyrillic);
    let only_look_alikes = word
        .chars()
        .all(|c| !c.is_alphabetic() || is_cyrillic(c) || cyrillic_look_alike(c).is_some());
    let map = only_look_alikes && (has_cyrillic || cyrillic_name);
    for c in word.chars() {
        let c = if map {
            cyrillic_look_alike(c).unwrap_or(c)
        } else {
            c
        };
        for l in c.to_lowercase() {
            out.push(if l == 'ё' { 'е' } else { l });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fio(s: &str) -> NormalFio {
        let mut p = s.split(',');
        let mut next = || p.next().unwrap_or("");
        let (l, f, m) = (next(), next(), next());
        NormalFio::new(l, f, m)
    }

    #[test]
    fn case_yo_and_spaces_do_not_matter() {
        assert_eq!(
            NormalFio::new("  СЕМЁНОВА ", "анна", "Петровна"),
            NormalFio::new("Семенова", "Анна", " петровна  ")
        );
        assert_eq!(
            NormalFio::new("Петрова - Водкина", "Ольга", ""),
            NormalFio::new("петрова-водкина", "ольга", "")
        );
        assert_ne!(
            NormalFio::new("Семенова", "Анна", "Петровна"),
            NormalFio::new("Семенова", "Анна", "Павловна")
        );
    }

    #[test]
    fn в_дневнике_фамилия_набрана_с_латинской_с() {
        // "Cидоров": the first letter is the Latin C (U+0043).
        assert_eq!(fio("Cидоров,Иван,Петрович"), fio("Сидоров,Иван,Петрович"));
        assert_eq!(
            fio("Сидоров,Иван,Петрович").as_str(),
            "сидоров иван петрович"
        );
    }

    #[test]
    fn в_дневнике_имя_набрано_капсом_с_латинскими_буквами() {
        // ВОРОБЬЁВ АНТОН with Latin B, O, P, E, A, H, T.
        assert_eq!(fio("BOPOБЬЁB,AHTOH,"), fio("Воробьев,Антон,"));
        // Lower-case look-alikes typed into a Cyrillic word.
        assert_eq!(
            fio("Kоpoлeва,Мapия,Aлексеевна"),
            fio("Королёва,Мария,Алексеевна")
        );
        // The Latin ë in a Cyrillic name is ё, and so е.
        assert_eq!(fio("Сëмина,Анна,"), fio("Семина,Анна,"));
    }

    #[test]
    fn слово_только_из_похожих_латинских_букв_в_русском_имени_русское() {
        // The surname «Сос» typed entirely in Latin, the rest in Cyrillic.
        assert_eq!(fio("Coc,Анна,Ивановна"), fio("Сос,Анна,Ивановна"));
    }

    #[test]
    fn латинское_имя_остаётся_латинским() {
        // A foreign pupil written in Latin: nothing is changed but case.
        assert_eq!(fio("Smith,Emma,").as_str(), "smith emma");
        assert_eq!(fio("Moxa,Tom,").as_str(), "moxa tom");
        assert_ne!(fio("Moxa,Tom,"), fio("Моха,Том,"));
        // A Latin word that has a letter with no Cyrillic twin stays Latin
        // even beside a Cyrillic one.
        assert_eq!(fio("Иванова,Jane,").as_str(), "иванова jane");
    }

    #[test]
    fn дефисы_любого_вида_и_пробелы_вокруг_них_одно_и_то_же() {
        let plain = fio("Петрова-Водкина,Анна-Мария,");
        for spelling in [
            "Петрова – Водкина,Анна — Мария,",
            "Петрова‐Водкина,Анна‑Мария,",
            "Петрова −Водкина,Анна- Мария,",
            "  Петрова  -  Водкина ,  Анна-Мария  ,",
            "ПЕТРОВА－ВОДКИНА,анна-мария,",
        ] {
            assert_eq!(fio(spelling), plain, "{spelling}");
        }
    }

    #[test]
    fn невидимые_символы_и_неразрывные_пробелы_не_мешают() {
        assert_eq!(
            fio("\u{feff}Иванова\u{200b},Мария\u{a0}Луиза,"),
            fio("Иванова,Мария Луиза,")
        );
        assert_eq!(fio("Ива\u{ad}нова,Мария,"), fio("Иванова,Мария,"));
    }

    #[test]
    fn разные_люди_остаются_разными() {
        assert_ne!(fio("Иванова,Мария,"), fio("Иванов,Мария,"));
        assert_ne!(fio("Петрова-Водкина,Ольга,"), fio("Петрова Водкина,Ольга,"));
        assert_ne!(fio("Сидоров,Иван,"), fio("Иван,Сидоров,"));
    }

    #[test]
    fn a_single_part_is_normalised_on_its_own() {
        assert_eq!(normalise_part(" Cидоров "), "сидоров");
        assert_eq!(normalise_part("Coc"), "coc");
    }
}
