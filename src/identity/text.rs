//! The directory CSV's bytes as text. Russian Excel saves "CSV" in
//! windows-1251 (and "Unicode text" in UTF-16 with a BOM), LibreOffice and
//! scripts in UTF-8 with or without a BOM: a byte order mark wins, then
//! bytes that are valid UTF-8 are UTF-8, and anything else is
//! windows-1251 — a Cyrillic windows-1251 file is practically never valid
//! UTF-8. `directory.csv_encoding` names the encoding instead.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1251};

pub use crate::config::directory::CsvEncoding;

/// The text, and the name of the encoding it was read in. A fixed
/// encoding refuses bytes that are not valid in it (rather than read a
/// name with replacement characters that then matches nobody).
pub fn decode(bytes: &[u8], how: CsvEncoding) -> Result<(Cow<'_, str>, &'static str), String> {
    let bom = Encoding::for_bom(bytes);
    let (encoding, body) = match (how, bom) {
        (CsvEncoding::Fixed(e), Some((b, n))) if b == e => (e, &bytes[n..]),
        (CsvEncoding::Fixed(e), _) => (e, bytes),
        (CsvEncoding::Detect, Some((b, n))) => (b, &bytes[n..]),
        (CsvEncoding::Detect, None) => match std::str::from_utf8(bytes) {
            Ok(text) => return Ok((Cow::Borrowed(text), UTF_8.name())),
            Err(_) => (WINDOWS_1251, bytes),
        },
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .map(|text| (text, encoding.name()))
        .ok_or_else(|| {
            format!(
                "the file is not valid {} (set directory.csv_encoding to the encoding it was saved in)",
                encoding.name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "Иванова;Мария;Петровна";

    #[test]
    fn utf8_with_or_without_a_bom_is_utf8() {
        let (t, e) = decode(NAME.as_bytes(), CsvEncoding::Detect).expect("utf-8");
        assert_eq!((t.as_ref(), e), (NAME, "UTF-8"));
        let with_bom = [b"\xef\xbb\xbf".as_slice(), NAME.as_bytes()].concat();
        let (t, e) = decode(&with_bom, CsvEncoding::Detect).expect("bom");
        assert_eq!((t.as_ref(), e), (NAME, "UTF-8"));
    }

    #[test]
    fn anything_else_is_windows_1251() {
        let (cp1251, _, _) = WINDOWS_1251.encode(NAME);
        assert!(std::str::from_utf8(&cp1251).is_err());
        let (t, e) = decode(&cp1251, CsvEncoding::Detect).expect("1251");
        assert_eq!((t.as_ref(), e), (NAME, "windows-1251"));
    }

    #[test]
    fn excels_unicode_text_is_utf16_by_its_bom() {
        let mut bytes = vec![0xff, 0xfe];
        for u in NAME.encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        let (t, e) = decode(&bytes, CsvEncoding::Detect).expect("utf-16");
        assert_eq!((t.as_ref(), e), (NAME, "UTF-16LE"));
    }

    #[test]
    fn a_named_encoding_is_used_and_bytes_invalid_in_it_are_refused() {
        use crate::config::directory::CsvEncoding;
        let koi8 = CsvEncoding::parse("KOI8-R").expect("label");
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(NAME);
        assert_eq!(decode(&bytes, koi8).expect("koi8").0, NAME);
        let utf8 = CsvEncoding::parse("utf-8").expect("label");
        let (cp1251, _, _) = WINDOWS_1251.encode(NAME);
        let e = decode(&cp1251, utf8).expect_err("not utf-8");
        assert!(e.contains("directory.csv_encoding"), "{e}");
    }
}
