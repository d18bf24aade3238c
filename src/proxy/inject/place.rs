//! Where the snippets go, decided on the page as it streams through
//! lol_html, which reads markup as a browser does (comments, scripts,
//! quoted attributes) and passes every byte it does not change on as it
//! came:
//! - the top snippets (banner, account bar) right after `<body …>`; in a
//!   page without `<body>`, before its first content, after the head's
//!   elements;
//! - the button right after the first occurrence of the policy's marker
//!   where a reader sees it (never in a comment, a script or an attribute):
//!   an end tag (`</form>`), a start tag (`<nav>`) or plain text; without
//!   one, before `</body>`, else before `</html>`, else at the end;
//! - nothing into a frameset page (a `<div>` would break it), nor into an
//!   answer that had to show it is a whole document and starts otherwise
//!   (an HTML fragment a script loads).

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use lol_html::errors::RewritingError;
use lol_html::html_content::{ContentType, Doctype, DocumentEnd, EndTag, TextChunk, TextType};
use lol_html::send::{
    DocumentContentHandlers, Element, ElementContentHandlers, HtmlRewriter, Settings,
};
use lol_html::{AsciiCompatibleEncoding, MemorySettings, OutputSink, Selector};

use super::Snippets;

/// Past this much held markup (one huge start tag, say) the rewriter gives
/// up and passes the rest of the page on as it is: no page is held whole.
const MAX_REWRITER_MEMORY: usize = 1024 * 1024;

/// Elements that come before a page's body.
const HEAD_TAGS: [&str; 10] = [
    "html", "head", "meta", "link", "base", "title", "style", "script", "noscript", "template",
];

/// What a whole document starts with (after a doctype and comments).
const DOCUMENT_START: [&str; 6] = ["html", "head", "body", "title", "meta", "base"];

/// The policy's marker, as the rewriter looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Marker {
    /// `</form>`: right after the first such end tag.
    EndTag(String),
    /// `<nav>`: right after the first such start tag.
    StartTag(String),
    /// Text (ASCII case ignored), right after its first occurrence in the
    /// page's text.
    Text(String),
    /// None, or markup the rewriter cannot look for (`</form></div>`):
    /// the button goes before `</body>`.
    None,
}

impl Marker {
    pub(super) fn parse(marker: Option<&str>) -> Self {
        let Some(m) = marker.map(str::trim).filter(|m| !m.is_empty()) else {
            return Self::None;
        };
        let tag = |inner: &str| {
            let inner = inner.trim();
            let mut chars = inner.chars();
            (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .then(|| inner.to_ascii_lowercase())
        };
        if let Some(inner) = m.strip_prefix("</").and_then(|r| r.strip_suffix('>')) {
            return tag(inner).map_or(Self::None, Self::EndTag);
        }
        if let Some(inner) = m.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            return tag(inner).map_or(Self::None, Self::StartTag);
        }
        if m.contains(['<', '>']) {
            return Self::None;
        }
        Self::Text(m.to_ascii_lowercase())
    }
}

/// What is still to be inserted, shared by the handlers.
struct Placement {
    top: Option<String>,
    button: Option<String>,
    /// The marker's text when it is text (ASCII lower-cased).
    text_marker: Option<String>,
    /// The answer has yet to show that it is a whole document.
    unproven: bool,
    /// The body has begun: a `<body>`, or content that starts it.
    in_body: bool,
    /// The end of the text node so far (ASCII lower-cased), for a text
    /// marker split across chunks.
    carry: String,
}

type Shared = Arc<Mutex<Placement>>;

fn lock(p: &Shared) -> MutexGuard<'_, Placement> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

impl Placement {
    /// Nothing goes into this answer.
    fn give_up(&mut self) {
        self.top = None;
        self.button = None;
        self.in_body = true;
        self.unproven = false;
    }

    fn on_element(&mut self, el: &mut Element<'_, '_>) {
        if self.in_body {
            return;
        }
        let name = el.tag_name();
        if std::mem::take(&mut self.unproven) && !DOCUMENT_START.contains(&name.as_str()) {
            self.give_up();
            return;
        }
        if name == "frameset" {
            self.give_up();
            return;
        }
        if name == "body" {
            self.in_body = true;
            if let Some(top) = self.top.take() {
                if el.can_have_content() {
                    el.prepend(&top, ContentType::Html);
                } else {
                    el.after(&top, ContentType::Html);
                }
            }
        } else if !HEAD_TAGS.contains(&name.as_str()) {
            self.in_body = true;
            if let Some(top) = self.top.take() {
                el.before(&top, ContentType::Html);
            }
        }
    }

    fn on_text(&mut self, t: &mut TextChunk<'_>) {
        if t.text_type() != TextType::Data {
            return;
        }
        let html_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0C');
        let content = t.as_str().find(|c| !html_space(c));
        if let (false, Some(at)) = (self.in_body, content) {
            if std::mem::take(&mut self.unproven) {
                self.give_up();
                return;
            }
            self.in_body = true;
            if let Some(top) = self.top.take() {
                // Right before the text itself, after the white space.
                let text = t.as_str();
                let changed = format!("{}{top}{}", &text[..at], &text[at..]);
                t.replace(&changed, ContentType::Html);
            }
        }
        self.find_text_marker(t);
        if t.last_in_text_node() {
            self.carry.clear();
        }
    }

    fn find_text_marker(&mut self, t: &mut TextChunk<'_>) {
        let Self {
            text_marker: Some(marker),
            button,
            carry,
            ..
        } = self
        else {
            return;
        };
        if button.is_none() {
            return;
        }
        let text = t.as_str();
        // ASCII lower-casing keeps every byte where it was.
        let joined = format!("{carry}{}", text.to_ascii_lowercase());
        if let Some(i) = joined.find(marker.as_str()) {
            // The match ends in this chunk: a carry is shorter than the marker.
            let end = i + marker.len() - carry.len();
            if let Some(b) = button.take() {
                let changed = format!("{}{b}{}", &text[..end], &text[end..]);
                t.replace(&changed, ContentType::Html);
            }
            carry.clear();
            return;
        }
        let mut keep = joined.len().saturating_sub(marker.len() - 1);
        while !joined.is_char_boundary(keep) {
            keep += 1;
        }
        *carry = joined[keep..].to_string();
    }
}

/// Where the rewriter's output collects until the stream takes it.
struct Collect(Arc<Mutex<Vec<u8>>>);

impl OutputSink for Collect {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(chunk);
    }
}

/// The rewriter of one page.
pub(super) struct Html {
    rewriter: HtmlRewriter<'static, Collect>,
    out: Arc<Mutex<Vec<u8>>>,
}

fn selector(s: &str) -> Option<Cow<'static, Selector>> {
    s.parse::<Selector>().ok().map(Cow::Owned)
}

impl Html {
    /// A rewriter reading the page in `encoding` (switching on a `<meta
    /// charset>` when `follow_meta`); snippets are written in the page's
    /// charset, with numeric character references for what it lacks.
    pub(super) fn new(
        snippets: Snippets,
        encoding: AsciiCompatibleEncoding,
        follow_meta: bool,
    ) -> Self {
        let marker = Marker::parse(snippets.button_after.as_deref());
        let state: Shared = Arc::new(Mutex::new(Placement {
            top: snippets.top,
            button: snippets.button,
            text_marker: match &marker {
                Marker::Text(t) => Some(t.clone()),
                _ => None,
            },
            unproven: snippets.only_whole_documents,
            in_body: false,
            carry: String::new(),
        }));
        let mut settings = Settings::new_send()
            .with_encoding(encoding)
            .with_adjust_charset_on_meta_tag(follow_meta)
            // Ambiguous markup is read as best it can be: a snippet is
            // harmless even where a browser would read the page otherwise.
            .with_strict(false)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(MAX_REWRITER_MEMORY)
                    .with_graceful_bail_out_on_memory_limit_exceeded(true),
            )
            .with_graceful_bail_out_on_content_handler_error(true);
        // Registered first: whether this is a document, and where its body
        // starts, is known before any other handler of the same element runs.
        let s = state.clone();
        if let Some(all) = selector("*") {
            settings = settings.append_element_content_handler((
                all,
                ElementContentHandlers::default().element(move |el: &mut Element<'_, '_>| {
                    lock(&s).on_element(el);
                    Ok(())
                }),
            ));
        }
        let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
        let mut document =
            DocumentContentHandlers::default().doctype(move |_: &mut Doctype<'_>| {
                lock(&s1).unproven = false;
                Ok(())
            });
        // Reading every piece of text costs as much as the rest of the
        // rewriting: only when the text decides something (is the answer a
        // fragment? where is the marker?). Otherwise a body-less page that
        // starts with bare text gets the banner before its first element.
        if snippets.only_whole_documents || matches!(marker, Marker::Text(_)) {
            document = document.text(move |t: &mut TextChunk<'_>| {
                lock(&s2).on_text(t);
                Ok(())
            });
        }
        settings = settings.append_document_content_handler(document.end(
            move |end: &mut DocumentEnd<'_>| {
                let mut p = lock(&s3);
                if p.unproven {
                    // White space and comments only: no document.
                    return Ok(());
                }
                for snippet in [p.top.take(), p.button.take()].into_iter().flatten() {
                    end.append(&snippet, ContentType::Html);
                }
                Ok(())
            },
        ));
        let mut on_end_tags = Vec::new();
        match &marker {
            Marker::EndTag(name) => on_end_tags.push((name.as_str(), true)),
            Marker::StartTag(name) => {
                if let Some(sel) = selector(name) {
                    let s = state.clone();
                    settings = settings.append_element_content_handler((
                        sel,
                        ElementContentHandlers::default().element(
                            move |el: &mut Element<'_, '_>| {
                                if let Some(b) = lock(&s).button.take() {
                                    if el.can_have_content() {
                                        el.prepend(&b, ContentType::Html);
                                    } else {
                                        el.after(&b, ContentType::Html);
                                    }
                                }
                                Ok(())
                            },
                        ),
                    ));
                }
            }
            Marker::Text(_) | Marker::None => {}
        }
        // Without the marker: before `</body>`, else before `</html>`.
        on_end_tags.extend([("body", false), ("html", false)]);
        for (name, after) in on_end_tags {
            let Some(sel) = selector(name) else {
                continue;
            };
            let s = state.clone();
            settings = settings.append_element_content_handler((
                sel,
                ElementContentHandlers::default().element(move |el: &mut Element<'_, '_>| {
                    if lock(&s).button.is_none() || !el.can_have_content() {
                        return Ok(());
                    }
                    let s = s.clone();
                    el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
                        if let Some(b) = lock(&s).button.take() {
                            if after {
                                end.after(&b, ContentType::Html);
                            } else {
                                end.before(&b, ContentType::Html);
                            }
                        }
                        Ok(())
                    }))
                }),
            ));
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        Self {
            rewriter: HtmlRewriter::new(settings, Collect(out.clone())),
            out,
        }
    }

    fn take(&self, into: &mut Vec<u8>) {
        into.append(&mut self.out.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Rewrite the next piece of the page, adding what is ready to `into`.
    /// On `Err` the rewriter has given up: the rest of the piece is in
    /// `into` as it came, and the rest of the page must go on unchanged.
    pub(super) fn write(&mut self, piece: &[u8], into: &mut Vec<u8>) -> Result<(), RewritingError> {
        let r = self.rewriter.write(piece);
        self.take(into);
        r
    }

    /// The end of the page: what the rewriter still holds, and the
    /// snippets that found no better place.
    pub(super) fn end(self, into: &mut Vec<u8>) -> Result<(), RewritingError> {
        let out = self.out.clone();
        let r = self.rewriter.end();
        into.append(&mut out.lock().unwrap_or_else(|e| e.into_inner()));
        r
    }
}
