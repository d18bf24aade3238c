//! Normalisation of names (ФИО) so that the diary's spelling and ESIA's
//! compare equal: case, ё/е, repeated and edge spaces, hyphen spacing.

/// A full name reduced to its comparable form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalFio(String);

pub fn normalise_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let c = match c {
            'ё' | 'Ё' => 'е',
            '‐' | '‑' | '–' | '—' => '-',
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
        out.extend(c.to_lowercase());
    }
    out
}

impl NormalFio {
    pub fn new(last: &str, first: &str, middle: &str) -> Self {
        let parts: Vec<String> = [last, first, middle]
            .iter()
            .map(|p| normalise_part(p))
            .filter(|p| !p.is_empty())
            .collect();
        Self(parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
