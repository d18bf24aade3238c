//! Inserting the gateway's HTML (the policy banner, the account bar, the
//! «Войти через госуслуги» button) into a diary page in one streaming pass:
//! the body is decoded once as it arrives (gzip, deflate, brotli), rewritten
//! by lol_html, and encoded once, each piece sent on as soon as it is ready;
//! no page is held whole. gzip and deflate pages go back the same way;
//! brotli ones (which the gateway does not ask for, see
//! [`accept_encoding_for_diary`]) go back plain. Snippets are written in the
//! page's own charset (windows-1251, koi8-r, …) with numeric character
//! references for what it lacks. Anything that is not plainly HTML, or is
//! coded in a way not handled here, is left alone: an unchanged page is
//! always better than a broken one.
//!
//! Here: which answers can be changed ([`Page`]) and what goes in
//! ([`Snippets`]); the coding is handled in `coding`, the charset in
//! `charset`, the places in `place`, the flow in `stream`, and the snippets
//! themselves are built in `snippets`.

mod charset;
mod coding;
mod place;
mod snippets;
mod stream;

use encoding_rs::Encoding;

use coding::{Coding, Decoder, parse_coding};

pub use coding::accept_encoding_for_diary;
pub use snippets::{banner_snippet, esia_button_snippet};
pub use stream::PageStream;

/// What goes into a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippets {
    /// Right after `<body>` opens (the banner, then the account bar).
    pub top: Option<String>,
    /// The «Войти через госуслуги» button…
    pub button: Option<String>,
    /// …right after the first occurrence of this marker (the policy's
    /// `esia_button_after`), else before `</body>`.
    pub button_after: Option<String>,
    /// The request did not say how the answer is used (no fetch metadata):
    /// only an answer that starts like a whole document gets anything.
    pub only_whole_documents: bool,
}

/// Why an answer is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Not `text/html` (JSON, images, CSS, XHTML, no Content-Type).
    NotHtml,
    /// A content coding not handled here (`zstd`, several codings, …).
    UnsupportedEncoding(String),
    /// A charset the rewriter cannot read (UTF-16).
    UnreadableCharset(String),
}

/// A body that breaks its declared coding.
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
    #[error("a deflate body of unknown kind")]
    UnknownDeflate,
}

/// An answer that can be changed: how it comes and how it goes back.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    coding: Coding,
    charset: Option<&'static Encoding>,
}

impl Page {
    /// From the answer's `Content-Type` and `Content-Encoding`.
    pub fn of(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<Self, Skipped> {
        if !content_type.is_some_and(is_html_type) {
            return Err(Skipped::NotHtml);
        }
        let coding = parse_coding(content_encoding).map_err(Skipped::UnsupportedEncoding)?;
        let charset = charset::header_charset(content_type);
        if let Some(enc) = charset.filter(|e| !e.is_ascii_compatible()) {
            return Err(Skipped::UnreadableCharset(enc.name().to_string()));
        }
        Ok(Self { coding, charset })
    }

    /// The page goes to the browser plain: its `Content-Encoding` goes.
    pub fn sent_plain(&self) -> bool {
        self.coding == Coding::Brotli
    }

    /// Start changing the page.
    pub fn stream(self, snippets: Snippets) -> PageStream {
        PageStream::new(
            Decoder::new(self.coding),
            self.charset,
            snippets,
            !self.sent_plain(),
        )
    }
}

fn is_html_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html")
}

#[cfg(test)]
mod tests;
