//! SNILS, the insurance number that ties an ESIA person to a diary account.
//! Parsed once at the edge; never printed in clear (its `Debug` hides it).

/// Eleven digits of a SNILS, spelt any usual way on input.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Snils(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnilsError {
    #[error("SNILS must have 11 digits")]
    Length,
    #[error("SNILS contains characters other than digits, spaces and hyphens")]
    Characters,
    #[error("SNILS checksum does not match")]
    Checksum,
}

impl Snils {
    /// Accepts `123-456-789 01`, `12345678901` and the like. The checksum
    /// is checked (numbers up to 001-001-998 have none, as the law says).
    pub fn parse(s: &str) -> Result<Self, SnilsError> {
        let mut digits = String::with_capacity(11);
        for c in s.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '\u{a0}' => {}
                _ => return Err(SnilsError::Characters),
            }
        }
        if digits.len() != 11 {
            return Err(SnilsError::Length);
        }
        if !checksum_ok(&digits) {
            return Err(SnilsError::Checksum);
        }
        Ok(Self(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The last two digits only, for reports.
    pub fn masked(&self) -> String {
        format!("***-***-*** {}", &self.0[9..])
    }
}

impl std::fmt::Debug for Snils {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snils({})", self.masked())
    }
}

fn checksum_ok(d: &str) -> bool {
    let b = d.as_bytes();
    let number: u64 = d[..9].parse().unwrap_or(0);
    let control: u32 = u32::from(b[9] - b'0') * 10 + u32::from(b[10] - b'0');
    if number <= 1_001_998 {
        return true;
    }
    let sum: u32 = b[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * (9 - i as u32))
        .sum();
    let expected = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => {
            let r = s % 101;
            if r == 100 { 0 } else { r }
        }
    };
    expected == control
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_spellings_parse_to_the_same_digits() {
        let a = Snils::parse("112-233-445 95").expect("valid");
        let b = Snils::parse("11223344595").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.digits(), "11223344595");
    }

    #[test]
    fn a_wrong_checksum_is_refused() {
        assert_eq!(Snils::parse("112-233-445 96"), Err(SnilsError::Checksum));
        assert_eq!(Snils::parse("112-233-445"), Err(SnilsError::Length));
        assert_eq!(Snils::parse("112-233-445 9x"), Err(SnilsError::Characters));
    }

    #[test]
    fn debug_never_shows_the_number() {
        let s = Snils::parse("112-233-445 95").expect("valid");
        let shown = format!("{s:?}");
        assert!(!shown.contains("112233"), "{shown}");
        assert!(shown.ends_with("95)"));
    }
}
