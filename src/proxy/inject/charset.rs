//! The page's charset as the rewriter must know it before the first byte,
//! as browsers decide it: a byte order mark, else the Content-Type's
//! `charset`, else a `<meta>` (the rewriter switches when it meets one).
//! Until then the snippet is written as ASCII with numeric character
//! references, which reads the same in every ASCII-compatible charset.

use encoding_rs::{Encoding, X_USER_DEFINED};
use lol_html::AsciiCompatibleEncoding;

/// The charset the Content-Type names, if any encoding_rs knows.
pub(super) fn header_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    let label = content_type?.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).trim().to_string())
    })?;
    Encoding::for_label(label.as_bytes())
}

/// How the rewriter reads the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// In this charset; `follow_meta`: a `<meta charset>` may still change it.
    As {
        encoding: AsciiCompatibleEncoding,
        follow_meta: bool,
    },
    /// UTF-16 and the like, which the rewriter cannot read: left alone.
    Unreadable,
}

/// Decide from the page's first bytes (`bom_len` of them are a byte order
/// mark, to be passed on untouched) and the header's charset.
pub(super) fn reading(first: &[u8], header: Option<&'static Encoding>) -> (Reading, usize) {
    let (encoding, bom_len, follow_meta) = match Encoding::for_bom(first) {
        Some((enc, len)) => (enc, len, false),
        None => match header {
            Some(enc) => (enc, 0, false),
            // No charset known yet: only ASCII is safe to write.
            None => (X_USER_DEFINED, 0, true),
        },
    };
    let reading = match AsciiCompatibleEncoding::new(encoding) {
        Some(encoding) => Reading::As {
            encoding,
            follow_meta,
        },
        None => Reading::Unreadable,
    };
    (reading, bom_len)
}

/// Whether a byte order mark may still be on its way: fewer than three
/// bytes seen, all of them a prefix of one.
pub(super) fn may_be_bom(first: &[u8]) -> bool {
    first.len() < 3
        && [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"]
            .iter()
            .any(|bom| bom.starts_with(first) && first.len() < bom.len())
}
