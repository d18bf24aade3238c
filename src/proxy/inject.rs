//! Inserting the gateway's HTML (the policy banner, the «Войти через
//! госуслуги» button) into a whole diary response body without breaking it:
//! gzip and deflate are decoded and encoded again the same way, the snippet
//! is written in the page's own charset (windows-1251, koi8-r, …) with
//! numeric character references for what that charset lacks, and pages
//! without `<body>` or `</body>` still get it in a sensible place. Anything
//! that is not plainly HTML, or is compressed in a way not handled here, is
//! left alone: an unchanged page is always better than a broken one. Pure:
//! the glue buffers the body, calls [`inject_html`] and sends the result
//! with a fixed `Content-Length`.

use std::io::{Read, Write};

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use flate2::Compression;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

/// Bodies larger than this once decoded are left alone.
pub const MAX_DECODED_BODY: usize = 16 * 1024 * 1024;

/// Where the snippet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// Right after the `<body …>` start tag (the banner).
    AfterBodyOpen,
    /// Right before `</body>` (the button when there is no better place).
    BeforeBodyClose,
    /// Right after the first occurrence of this marker (ASCII case ignored),
    /// e.g. `</form>` on the login page; before `</body>` when it is absent.
    After(&'a str),
}

/// The result of [`inject_html`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    /// The new body, encoded like the old one (send it with its length).
    Changed { body: Vec<u8> },
    /// Send the original body as it was.
    Unchanged(Skipped),
}

/// Why a body was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    Empty,
    /// Not `text/html` (JSON, images, XHTML, …).
    NotHtml,
    /// A content coding not handled here (`br`, `zstd`, several codings).
    UnsupportedEncoding(String),
    /// A frameset page: a `<div>` would break it.
    Frameset,
    /// Larger than [`MAX_DECODED_BODY`] once decoded.
    TooLarge,
}

/// A body that claims an encoding it does not have.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("the body is not valid {encoding}: {source}")]
    Decode {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {encoding}-encode the body: {source}")]
    Encode {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    /// HTTP `deflate` as the RFC says: zlib-wrapped.
    Zlib,
    /// HTTP `deflate` as some servers send it: raw deflate.
    RawDeflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Zlib | Self::RawDeflate => "deflate",
        }
    }
}

/// Whether a response with these headers can get a snippet, so the glue
/// buffers only bodies [`inject_html`] may change. A missing Content-Type
/// counts (the body is sniffed).
pub fn wants_injection(content_type: Option<&str>, content_encoding: Option<&str>) -> bool {
    content_type.is_none_or(is_html_type) && parse_coding(content_encoding).is_ok()
}

fn is_html_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html")
}

fn parse_coding(content_encoding: Option<&str>) -> Result<Coding, String> {
    let Some(ce) = content_encoding else {
        return Ok(Coding::Identity);
    };
    let codings: Vec<String> = ce
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    match codings.as_slice() {
        [] => Ok(Coding::Identity),
        [one] if one == "gzip" || one == "x-gzip" => Ok(Coding::Gzip),
        [one] if one == "deflate" => Ok(Coding::Zlib),
        _ => Err(ce.trim().to_string()),
    }
}

/// Insert `snippet` (UTF-8 HTML) into an HTML response body at `place`.
///
/// `content_type` and `content_encoding` are the response's header values.
/// The body must be whole (the glue reassembles chunked bodies). On `Err`
/// the body is corrupt for its declared coding: send the original.
pub fn inject_html(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    snippet: &str,
    place: Place<'_>,
) -> Result<Injected, InjectError> {
    if body.is_empty() {
        return Ok(Injected::Unchanged(Skipped::Empty));
    }
    if content_type.is_some_and(|ct| !is_html_type(ct)) {
        return Ok(Injected::Unchanged(Skipped::NotHtml));
    }
    let coding = match parse_coding(content_encoding) {
        Ok(c) => c,
        Err(other) => return Ok(Injected::Unchanged(Skipped::UnsupportedEncoding(other))),
    };
    let Some((coding, html)) = decode(body, coding)? else {
        return Ok(Injected::Unchanged(Skipped::TooLarge));
    };
    if content_type.is_none() && !looks_like_html(&html) {
        return Ok(Injected::Unchanged(Skipped::NotHtml));
    }
    let charset = charset_of(&html, content_type);
    let changed = if charset == Some(UTF_16LE) || charset == Some(UTF_16BE) {
        inject_utf16(&html, charset.unwrap_or(UTF_16LE), snippet, place)
    } else {
        let encoded = encode_snippet(snippet, charset);
        splice(&html, &encoded, place)
    };
    match changed {
        Some(new_html) => Ok(Injected::Changed {
            body: encode(&new_html, coding)?,
        }),
        None => Ok(Injected::Unchanged(Skipped::Frameset)),
    }
}

/// Decode per the coding, capped; `None` when too large. `deflate` is tried
/// as zlib first, then as raw deflate, and the coding that worked is
/// returned so the body is encoded back the same way.
fn decode(body: &[u8], coding: Coding) -> Result<Option<(Coding, Vec<u8>)>, InjectError> {
    fn read_capped(
        mut r: impl Read,
        encoding: &'static str,
    ) -> Result<Option<Vec<u8>>, InjectError> {
        let mut out = Vec::new();
        (&mut r)
            .take(MAX_DECODED_BODY as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|source| InjectError::Decode { encoding, source })?;
        Ok((out.len() <= MAX_DECODED_BODY).then_some(out))
    }
    let decoded = match coding {
        Coding::Identity => {
            return Ok((body.len() <= MAX_DECODED_BODY).then(|| (coding, body.to_vec())));
        }
        Coding::Gzip => read_capped(MultiGzDecoder::new(body), "gzip")?.map(|b| (coding, b)),
        Coding::Zlib | Coding::RawDeflate => match read_capped(ZlibDecoder::new(body), "deflate") {
            Ok(b) => b.map(|b| (Coding::Zlib, b)),
            Err(_) => {
                read_capped(DeflateDecoder::new(body), "deflate")?.map(|b| (Coding::RawDeflate, b))
            }
        },
    };
    Ok(decoded)
}

fn encode(html: &[u8], coding: Coding) -> Result<Vec<u8>, InjectError> {
    let err = |source| InjectError::Encode {
        encoding: coding.name(),
        source,
    };
    match coding {
        Coding::Identity => Ok(html.to_vec()),
        Coding::Gzip => {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(html).map_err(err)?;
            e.finish().map_err(err)
        }
        Coding::Zlib => {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(html).map_err(err)?;
            e.finish().map_err(err)
        }
        Coding::RawDeflate => {
            let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
            e.write_all(html).map_err(err)?;
            e.finish().map_err(err)
        }
    }
}

/// For bodies without a Content-Type: HTML is what starts like HTML.
fn looks_like_html(b: &[u8]) -> bool {
    let b = strip_bom(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let head = &b[start..b.len().min(start + 512)];
    ["<!doctype html", "<html", "<head", "<body", "<!--"]
        .iter()
        .any(|p| starts_with_ignore_case(head, p.as_bytes()))
        || (head.first() == Some(&b'<') && find_ignore_case(head, b"<body").is_some())
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(b)
}

fn starts_with_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The page's charset when it is declared with confidence: a byte order
/// mark, the Content-Type header, or a `<meta>` in the first 1024 bytes (as
/// browsers look). `None`: unknown.
fn charset_of(html: &[u8], content_type: Option<&str>) -> Option<&'static Encoding> {
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
fn encode_snippet(snippet: &str, charset: Option<&'static Encoding>) -> Vec<u8> {
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
fn inject_utf16(
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

/// Insert `snippet` at `place`; `None` for frameset pages.
fn splice(html: &[u8], snippet: &[u8], place: Place<'_>) -> Option<Vec<u8>> {
    let found = scan(html);
    if found.frameset && found.body_open_end.is_none() {
        return None;
    }
    let before_close = || match found.body_close {
        Some(c) if found.body_open_end.is_none_or(|o| c >= o) => c,
        _ => found.html_close.unwrap_or(html.len()),
    };
    let at = match place {
        Place::AfterBodyOpen => found.body_open_end.unwrap_or(found.head_end),
        Place::BeforeBodyClose => before_close(),
        Place::After(marker) if !marker.is_empty() => {
            // The first occurrence in the markup itself: one inside a
            // comment or a script would put the button where nobody sees it.
            let mut from = found.body_open_end.unwrap_or(0);
            loop {
                match find_ignore_case(&html[from..], marker.as_bytes()) {
                    Some(i)
                        if found
                            .hidden
                            .iter()
                            .any(|(a, b)| (*a..*b).contains(&(from + i))) =>
                    {
                        from += i + 1;
                    }
                    Some(i) => break from + i + marker.len(),
                    None => break before_close(),
                }
            }
        }
        Place::After(_) => before_close(),
    };
    let at = at.min(html.len());
    let mut out = Vec::with_capacity(html.len() + snippet.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(snippet);
    out.extend_from_slice(&html[at..]);
    Some(out)
}

/// What a light HTML tokenizer finds: enough of the HTML rules (comments,
/// quoted attributes, script and other raw-text elements) that a `<body>`
/// inside a comment or a script string is not taken for the real one.
#[derive(Debug, Default)]
struct Found {
    /// Just after the first `<body …>` start tag.
    body_open_end: Option<usize>,
    /// At the last `</body>`.
    body_close: Option<usize>,
    /// At the last `</html>`.
    html_close: Option<usize>,
    frameset: bool,
    /// Where the body starts when `<body>` is missing: after the doctype and
    /// the head's elements (so a `<meta charset>` stays within the first
    /// bytes), after a byte order mark.
    head_end: usize,
    /// Byte ranges no reader sees as markup: comments and the text of
    /// script-like elements.
    hidden: Vec<(usize, usize)>,
}

const RAW_TEXT: [&[u8]; 8] = [
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
];
const HEAD_TAGS: [&[u8]; 10] = [
    b"html",
    b"head",
    b"meta",
    b"link",
    b"base",
    b"title",
    b"style",
    b"script",
    b"noscript",
    b"template",
];

fn scan(b: &[u8]) -> Found {
    let mut f = Found {
        head_end: b.len() - strip_bom(b).len(),
        ..Found::default()
    };
    let mut in_head = true;
    let mut i = f.head_end;
    while i < b.len() {
        let Some(lt) = b[i..].iter().position(|&c| c == b'<').map(|p| i + p) else {
            break;
        };
        if in_head && b[i..lt].iter().any(|c| !c.is_ascii_whitespace()) {
            in_head = false;
        }
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            // `<!-->` and `<!--->` are complete (empty) comments.
            let end = if rest[4..].starts_with(b">") {
                lt + 5
            } else if rest[4..].starts_with(b"->") {
                lt + 6
            } else {
                match find(&rest[4..], b"-->") {
                    Some(p) => lt + 4 + p + 3,
                    None => b.len(),
                }
            };
            f.hidden.push((lt, end));
            if in_head {
                f.head_end = end;
            }
            i = end;
        } else if rest.len() > 1 && (rest[1] == b'!' || rest[1] == b'?') {
            let end = find(rest, b">").map_or(b.len(), |p| lt + p + 1);
            if in_head {
                f.head_end = end;
            }
            i = end;
        } else if rest.len() > 2 && rest[1] == b'/' && rest[2].is_ascii_alphabetic() {
            let name = tag_name(&rest[2..]);
            let end = find(rest, b">").map_or(b.len(), |p| lt + p + 1);
            if name.eq_ignore_ascii_case(b"body") {
                f.body_close = Some(lt);
            } else if name.eq_ignore_ascii_case(b"html") {
                f.html_close = Some(lt);
            }
            if in_head {
                if name.eq_ignore_ascii_case(b"head") || is_one_of(name, &HEAD_TAGS) {
                    f.head_end = end;
                } else {
                    in_head = false;
                }
            }
            i = end;
        } else if rest.len() > 1 && rest[1].is_ascii_alphabetic() {
            let name = tag_name(&rest[1..]);
            let end = start_tag_end(b, lt + 1 + name.len());
            let mut after = end;
            if let Some(raw) = RAW_TEXT.iter().find(|r| name.eq_ignore_ascii_case(r)) {
                after = raw_text_end(b, end, raw);
                f.hidden.push((end, after));
            } else if name.eq_ignore_ascii_case(b"plaintext") {
                after = b.len();
            }
            if name.eq_ignore_ascii_case(b"body") && f.body_open_end.is_none() {
                f.body_open_end = Some(end);
            }
            if name.eq_ignore_ascii_case(b"frameset") {
                f.frameset = true;
            }
            if in_head {
                if is_one_of(name, &HEAD_TAGS) {
                    // For raw-text head elements, after their end tag.
                    f.head_end = if after > end {
                        b[after..]
                            .iter()
                            .position(|&c| c == b'>')
                            .map_or(b.len(), |p| after + p + 1)
                    } else {
                        end
                    };
                } else {
                    in_head = false;
                }
            }
            i = after;
        } else {
            // A `<` that starts no tag is text.
            in_head = false;
            i = lt + 1;
        }
    }
    f.head_end = f.head_end.min(b.len());
    f
}

fn is_one_of(name: &[u8], set: &[&[u8]]) -> bool {
    set.iter().any(|s| name.eq_ignore_ascii_case(s))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn tag_name(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
        .unwrap_or(b.len());
    &b[..n]
}

/// Just after the `>` that ends a start tag whose attributes begin at
/// `from`, honouring quoted attribute values (`<body onload="a>b">`).
fn start_tag_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    // Quotes start a value only right after `=` (and optional spaces).
    let mut after_equals = false;
    while i < b.len() {
        match b[i] {
            b'>' => return i + 1,
            b'=' => after_equals = true,
            q @ (b'"' | b'\'') if after_equals => {
                match b[i + 1..].iter().position(|&c| c == q) {
                    Some(p) => i += p + 1,
                    None => return b.len(),
                }
                after_equals = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        i += 1;
    }
    b.len()
}

/// Where the end tag of a raw-text element (`</script`, …) begins, searching
/// from `from`; the end of the body when it never ends.
fn raw_text_end(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(p) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + p;
        let rest = &b[at..];
        if rest.len() >= 2 + name.len()
            && rest[1] == b'/'
            && rest[2..2 + name.len()].eq_ignore_ascii_case(name)
            && rest
                .get(2 + name.len())
                .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
        {
            return at;
        }
        i = at + 1;
    }
    b.len()
}

/// The banner as inserted into a diary page: the sanitised policy HTML in a
/// plain, self-styled block that does not depend on the diary's CSS.
pub fn banner_snippet(banner_html: &str) -> String {
    format!(
        "<div id=\"esia-gate-banner\" role=\"status\" style=\"box-sizing:border-box;margin:0;\
         padding:12px 16px;background:#fff4d6;border-bottom:2px solid #e0b400;color:#222;\
         font:15px/1.4 sans-serif;text-align:left\">{banner_html}</div>"
    )
}

/// The «Войти через госуслуги» button linking to the gateway's login.
pub fn esia_button_snippet(href: &str) -> String {
    format!(
        "<p id=\"esia-gate-login\" style=\"margin:16px 0;font:16px/1.4 sans-serif\">\
         <a href=\"{}\" style=\"display:inline-block;padding:10px 18px;background:#0d4cd3;\
         color:#fff;border-radius:6px;text-decoration:none\">Войти через госуслуги</a></p>",
        escape_attr(href)
    )
}

fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{KOI8_R, WINDOWS_1251};
    use proptest::prelude::*;

    const SNIP: &str = "<div id=\"x\">Войти через госуслуги ✓</div>";

    fn changed(r: Result<Injected, InjectError>) -> Vec<u8> {
        match r {
            Ok(Injected::Changed { body }) => body,
            other => panic!("not changed: {other:?}"),
        }
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn the_banner_goes_right_after_body_open() {
        let page = b"<!doctype html><html><head><title>t</title></head><BODY class=\"a>b\" data-x='1'><h1>Hi</h1></body></html>";
        let out = changed(inject_html(
            page,
            Some("text/html; charset=utf-8"),
            None,
            "<i>B</i>",
            Place::AfterBodyOpen,
        ));
        assert_eq!(
            text(&out),
            "<!doctype html><html><head><title>t</title></head><BODY class=\"a>b\" data-x='1'><i>B</i><h1>Hi</h1></body></html>"
        );
    }

    #[test]
    fn the_button_goes_before_body_close_or_after_the_marker() {
        let page = b"<html><body><form action=/login></FORM><!-- </body> --></body></html>";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::BeforeBodyClose,
        ));
        assert_eq!(
            text(&out),
            "<html><body><form action=/login></FORM><!-- </body> -->[B]</body></html>"
        );
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::After("</form>"),
        ));
        assert_eq!(
            text(&out),
            "<html><body><form action=/login></FORM>[B]<!-- </body> --></body></html>"
        );
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::After("<nav>"),
        ));
        assert!(text(&out).ends_with("-->[B]</body></html>"));
    }

    #[test]
    fn a_marker_in_a_comment_or_script_is_not_the_marker() {
        let page = b"<html><body><!-- old: </form> --><script>var f = \"</form>\";</script><form action=/login></form><p>x</p></body></html>";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::After("</form>"),
        ));
        assert!(
            text(&out).contains("<form action=/login></form>[B]<p>x</p>"),
            "{}",
            text(&out)
        );
        // Only hidden occurrences: before </body>, as without a marker.
        let page = b"<html><body><!-- </form> --><p>x</p></body></html>";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::After("</form>"),
        ));
        assert!(
            text(&out).ends_with("<p>x</p>[B]</body></html>"),
            "{}",
            text(&out)
        );
    }

    #[test]
    fn a_body_tag_in_a_comment_or_script_is_not_the_body() {
        let page = b"<html><head><!-- <body> --><script>var s = \"<body>\";</script></head><body><p>x</p></body></html>";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::AfterBodyOpen,
        ));
        assert!(
            text(&out).contains("</head><body>[B]<p>x</p>"),
            "{}",
            text(&out)
        );
    }

    #[test]
    fn pages_without_body_tags_still_get_the_snippet() {
        let page = b"\xEF\xBB\xBF<!DOCTYPE html><meta charset=utf-8><title>t</title><p>grades";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::AfterBodyOpen,
        ));
        assert_eq!(
            text(&out),
            "\u{feff}<!DOCTYPE html><meta charset=utf-8><title>t</title>[B]<p>grades"
        );
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::BeforeBodyClose,
        ));
        assert!(text(&out).ends_with("<p>grades[B]"));
        let page = b"<html><body><p>x</p></html>";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::BeforeBodyClose,
        ));
        assert_eq!(text(&out), "<html><body><p>x</p>[B]</html>");
        let page = b"just text";
        let out = changed(inject_html(
            page,
            Some("text/html"),
            None,
            "[B]",
            Place::AfterBodyOpen,
        ));
        assert_eq!(text(&out), "[B]just text");
    }

    #[test]
    fn json_images_framesets_and_unknown_codings_are_left_alone() {
        let json = br#"{"grades": [5, 4]}"#;
        for ct in [
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            None,
        ] {
            assert_eq!(
                inject_html(json, ct, None, SNIP, Place::AfterBodyOpen).unwrap(),
                Injected::Unchanged(Skipped::NotHtml)
            );
        }
        assert_eq!(
            inject_html(
                b"\x89PNG\r\n",
                Some("image/png"),
                None,
                SNIP,
                Place::AfterBodyOpen
            )
            .unwrap(),
            Injected::Unchanged(Skipped::NotHtml)
        );
        let page = b"<html><frameset><frame src=a></frameset></html>";
        assert_eq!(
            inject_html(page, Some("text/html"), None, SNIP, Place::AfterBodyOpen).unwrap(),
            Injected::Unchanged(Skipped::Frameset)
        );
        for ce in ["br", "zstd", "gzip, br", "compress"] {
            assert_eq!(
                inject_html(
                    b"<body>",
                    Some("text/html"),
                    Some(ce),
                    SNIP,
                    Place::AfterBodyOpen
                )
                .unwrap(),
                Injected::Unchanged(Skipped::UnsupportedEncoding(ce.to_string()))
            );
            assert!(!wants_injection(Some("text/html"), Some(ce)));
        }
        assert_eq!(
            inject_html(b"", Some("text/html"), None, SNIP, Place::AfterBodyOpen).unwrap(),
            Injected::Unchanged(Skipped::Empty)
        );
        assert!(wants_injection(
            Some("text/html; charset=windows-1251"),
            Some("gzip")
        ));
        assert!(wants_injection(None, Some("identity")));
        assert!(!wants_injection(Some("application/json"), None));
        // Without a Content-Type, HTML is recognised by its start.
        let out = changed(inject_html(
            b"  <!DOCTYPE html><body>x",
            None,
            None,
            "[B]",
            Place::AfterBodyOpen,
        ));
        assert_eq!(text(&out), "  <!DOCTYPE html><body>[B]x");
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(b).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_gzip_page_is_decoded_injected_and_gzipped_again() {
        let page = "<html><body><h1>Оценки</h1></body></html>";
        for ce in ["gzip", "x-gzip", "GZIP"] {
            let out = changed(inject_html(
                &gzip(page.as_bytes()),
                Some("text/html; charset=utf-8"),
                Some(ce),
                "[Б]",
                Place::AfterBodyOpen,
            ));
            assert_eq!(
                text(&gunzip(&out)),
                "<html><body>[Б]<h1>Оценки</h1></body></html>"
            );
        }
        assert!(matches!(
            inject_html(
                b"not gzip at all",
                Some("text/html"),
                Some("gzip"),
                SNIP,
                Place::AfterBodyOpen
            ),
            Err(InjectError::Decode {
                encoding: "gzip",
                ..
            })
        ));
    }

    #[test]
    fn deflate_is_read_both_ways_and_written_back_the_same_way() {
        let page = b"<html><body>x</body></html>";
        let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
        z.write_all(page).unwrap();
        let zlib = z.finish().unwrap();
        let out = changed(inject_html(
            &zlib,
            Some("text/html"),
            Some("deflate"),
            "[B]",
            Place::AfterBodyOpen,
        ));
        let mut back = Vec::new();
        ZlibDecoder::new(out.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"<html><body>[B]x</body></html>");

        let mut d = DeflateEncoder::new(Vec::new(), Compression::fast());
        d.write_all(page).unwrap();
        let raw = d.finish().unwrap();
        let out = changed(inject_html(
            &raw,
            Some("text/html"),
            Some("deflate"),
            "[B]",
            Place::AfterBodyOpen,
        ));
        let mut back = Vec::new();
        DeflateDecoder::new(out.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"<html><body>[B]x</body></html>");
    }

    #[test]
    fn a_windows_1251_page_with_cyrillic_stays_valid_windows_1251() {
        let original =
            "<html><head><title>Дневник</title></head><body><h1>Оценки ученика</h1></body></html>";
        let (page, _, _) = WINDOWS_1251.encode(original);
        for (ct, label) in [
            (Some("text/html; charset=windows-1251"), "header"),
            (Some("text/html; charset=\"CP1251\""), "quoted alias"),
        ] {
            let out = changed(inject_html(&page, ct, None, SNIP, Place::AfterBodyOpen));
            let (decoded, had_errors) = WINDOWS_1251.decode_without_bom_handling(&out);
            assert!(!had_errors, "{label}");
            assert_eq!(
                decoded,
                "<html><head><title>Дневник</title></head><body><div id=\"x\">Войти через госуслуги &#10003;</div><h1>Оценки ученика</h1></body></html>",
                "{label}"
            );
        }
        // Declared by a meta tag only.
        let with_meta = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><body>Привет</body></html>";
        let (page, _, _) = WINDOWS_1251.encode(with_meta);
        let out = changed(inject_html(
            &page,
            Some("text/html"),
            None,
            SNIP,
            Place::AfterBodyOpen,
        ));
        let (decoded, had_errors) = WINDOWS_1251.decode_without_bom_handling(&out);
        assert!(!had_errors);
        assert!(decoded.contains("<body><div id=\"x\">Войти через госуслуги &#10003;</div>Привет"));
    }

    #[test]
    fn koi8_r_and_unknown_charsets_get_a_readable_snippet() {
        let (page, _, _) = KOI8_R
            .encode("<html><head><meta charset=\"koi8-r\"></head><body>Дневник</body></html>");
        let out = changed(inject_html(
            &page,
            Some("text/html"),
            None,
            "Госуслуги",
            Place::AfterBodyOpen,
        ));
        let (decoded, had_errors) = KOI8_R.decode_without_bom_handling(&out);
        assert!(!had_errors);
        assert!(decoded.contains("<body>ГосуслугиДневник"));
        // No charset anywhere: ASCII with references reads right whatever
        // the browser picks.
        let out = changed(inject_html(
            b"<body>\xC4\xED\xE5\xE2\xED\xE8\xEA</body>",
            Some("text/html"),
            None,
            "Гос",
            Place::AfterBodyOpen,
        ));
        assert_eq!(
            out,
            b"<body>&#1043;&#1086;&#1089;\xC4\xED\xE5\xE2\xED\xE8\xEA</body>"
        );
    }

    #[test]
    fn a_utf16_page_stays_utf16() {
        let mut page = vec![0xFF, 0xFE];
        for u in "<html><body>Дневник</body></html>".encode_utf16() {
            page.extend_from_slice(&u.to_le_bytes());
        }
        let out = changed(inject_html(
            &page,
            Some("text/html"),
            None,
            "[Б]",
            Place::AfterBodyOpen,
        ));
        let (decoded, enc, had_errors) = UTF_16LE.decode(&out);
        assert!(!had_errors);
        assert_eq!(enc, UTF_16LE);
        assert_eq!(decoded, "<html><body>[Б]Дневник</body></html>");
    }

    #[test]
    fn snippets_are_built_safely() {
        let b = esia_button_snippet("/esia-gate/login?return=/grades&x=\"y\"");
        assert!(
            b.contains("href=\"/esia-gate/login?return=/grades&amp;x=&quot;y&quot;\""),
            "{b}"
        );
        assert!(b.contains("Войти через госуслуги"));
        assert!(banner_snippet("<b>!</b>").contains("<b>!</b></div>"));
    }

    fn html_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<body>".to_string()),
            Just("<BODY class='x'>".to_string()),
            Just("</body>".to_string()),
            Just("</html>".to_string()),
            Just("<html>".to_string()),
            Just("<head>".to_string()),
            Just("</head>".to_string()),
            Just("<!--".to_string()),
            Just("-->".to_string()),
            Just("<script>".to_string()),
            Just("</script>".to_string()),
            Just("<frameset>".to_string()),
            Just("<meta charset=windows-1251>".to_string()),
            Just("<a href=\"".to_string()),
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("=".to_string()),
            Just(">".to_string()),
            Just("<".to_string()),
            Just("</".to_string()),
            Just("<!".to_string()),
            "[a-zа-я ]{0,6}".prop_map(|s| s),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn random_bodies_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            ct in prop_oneof![Just(None), Just(Some("text/html")), Just(Some("text/html; charset=windows-1251")), Just(Some("text/html; charset=utf-16le")), Just(Some("application/json"))],
            ce in prop_oneof![Just(None), Just(Some("gzip")), Just(Some("deflate")), Just(Some("br"))],
            place in prop_oneof![Just(Place::AfterBodyOpen), Just(Place::BeforeBodyClose), Just(Place::After("</form>"))],
        ) {
            let _ = inject_html(&body, ct, ce, SNIP, place);
        }

        /// In a UTF-8 page, the result is the page with the snippet added at
        /// one place: nothing of the page is lost or changed.
        #[test]
        fn the_page_is_kept_whole_around_the_snippet(
            pieces in proptest::collection::vec(html_piece(), 0..30),
            place in prop_oneof![Just(Place::AfterBodyOpen), Just(Place::BeforeBodyClose), Just(Place::After("</head>"))],
            gz in any::<bool>(),
        ) {
            let page: String = pieces.concat();
            let snippet = "\u{1}SNIPPET\u{1}";
            let body = if gz { gzip(page.as_bytes()) } else { page.clone().into_bytes() };
            let ce = if gz { Some("gzip") } else { None };
            match inject_html(&body, Some("text/html; charset=utf-8"), ce, snippet, place) {
                Ok(Injected::Changed { body }) => {
                    let out = if gz { gunzip(&body) } else { body };
                    let out = String::from_utf8(out).unwrap();
                    prop_assert_eq!(out.matches(snippet).count(), 1);
                    prop_assert_eq!(out.replacen(snippet, "", 1), page);
                }
                Ok(Injected::Unchanged(why)) => {
                    prop_assert!(why == Skipped::Frameset || why == Skipped::Empty, "{:?}", why);
                }
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}
