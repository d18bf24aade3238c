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
//!
//! Here: the entry point and its answer; the body's coding is handled in
//! `coding`, the charset in `charset`, the place in `splice`, and the
//! snippets themselves are built in `snippets`.

mod charset;
mod coding;
mod snippets;
mod splice;
#[cfg(test)]
mod tests;

use encoding_rs::{UTF_16BE, UTF_16LE};

use charset::{charset_of, encode_snippet, inject_utf16};
use coding::{decode, encode, parse_coding};
use splice::splice;

pub use snippets::{banner_snippet, esia_button_snippet};

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
