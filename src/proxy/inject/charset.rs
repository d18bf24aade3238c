//! The page's charset: found from a byte order mark, the Content-Type or a
//! `<meta>` as browsers do; the snippet written in it (numeric character
//! references for what it lacks), and UTF-16 pages handled whole.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use super::splice::splice;
use super::{Place, find_ignore_case};

/// The page's charset when it is declared with confidence: a byte order
/// mark, the Content-Type header, or a `<meta>` in the first 1024 bytes (as
/// browsers look). `None`: unknown.
pub(super) fn charset_of(html: &[u8], content_type: Option<&str>) -> Option<&'static Encoding> {
    if let Some((enc, _)) = Encoding::for_bom(html) {
        return Some(enc);
    }
    if let Some(enc) = content_type
        .and_then(charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
    {
        return Some(enc);
    }
    meta_charset(&html[..html.len().min(1024)])
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).trim().to_string())
    })
}

/// `<meta charset=…>` or `<meta http-equiv=… content="…; charset=…">`.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let mut from = 0;
    while let Some(off) = find_ignore_case(&head[from..], b"<meta") {
        let start = from + off;
        let tag = &head[start..];
        let end = tag.iter().position(|&c| c == b'>').unwrap_or(tag.len());
        let tag = String::from_utf8_lossy(&tag[..end]).to_ascii_lowercase();
        if let Some(i) = tag.find("charset") {
            let rest = tag[i + "charset".len()..].trim_start();
            if let Some(rest) = rest.strip_prefix('=') {
                let value: String = rest
                    .trim_start()
                    .trim_start_matches(['"', '\''])
                    .chars()
                    .take_while(|c| !matches!(c, '"' | '\'' | ';' | ' ' | '/' | '>'))
                    .collect();
                // A page that says UTF-16 in a meta is read as UTF-8 by
                // browsers (the meta was readable, so it is ASCII-compatible).
                return Encoding::for_label(value.as_bytes()).map(|e| {
                    if e == UTF_16LE || e == UTF_16BE {
                        UTF_8
                    } else {
                        e
                    }
                });
            }
        }
        from = start + 5;
    }
    None
}

/// The snippet in the page's charset; characters the charset lacks become
/// numeric character references. An unknown charset gets pure ASCII with
/// references, which reads the same in every ASCII-compatible charset.
pub(super) fn encode_snippet(snippet: &str, charset: Option<&'static Encoding>) -> Vec<u8> {
    match charset {
        Some(enc) if enc == UTF_8 => snippet.as_bytes().to_vec(),
        Some(enc) if enc.output_encoding() == enc => enc.encode(snippet).0.into_owned(),
        _ => {
            let mut out = Vec::with_capacity(snippet.len());
            for c in snippet.chars() {
                if c.is_ascii() {
                    out.push(c as u8);
                } else {
                    out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes());
                }
            }
            out
        }
    }
}

/// UTF-16 pages: decode, splice in UTF-8, encode back with the BOM they had.
pub(super) fn inject_utf16(
    html: &[u8],
    enc: &'static Encoding,
    snippet: &str,
    place: Place<'_>,
) -> Option<Vec<u8>> {
    let (text, _) = enc.decode_with_bom_removal(html);
    let had_bom = Encoding::for_bom(html).is_some();
    let spliced = splice(text.as_bytes(), snippet.as_bytes(), place)?;
    let spliced = String::from_utf8_lossy(&spliced);
    let mut out = Vec::with_capacity(spliced.len() * 2 + 2);
    let big_endian = enc == UTF_16BE;
    let units = (if had_bom { Some('\u{FEFF}') } else { None })
        .into_iter()
        .chain(spliced.chars())
        .collect::<String>();
    for unit in units.encode_utf16() {
        let bytes = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    Some(out)
}
