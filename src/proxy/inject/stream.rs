//! One page on its way to the browser: each piece the diary sends is
//! decoded, rewritten and encoded again as it comes, and what is ready goes
//! on at once; nothing is held whole. Until the first bytes have gone out
//! the diary's own bytes are kept, so that a body that cannot be decoded
//! still reaches the browser as it came.

use encoding_rs::Encoding;

use super::charset::{Reading, may_be_bom, reading};
use super::coding::{Decoder, Encoder};
use super::place::Html;
use super::{InjectError, Snippets};

enum Stage {
    /// The page's first bytes, until a byte order mark is ruled in or out.
    Start(Vec<u8>),
    Rewriting(Box<Html>),
    /// On unchanged (a charset the rewriter cannot read, or it gave up).
    Through,
}

/// A diary page being changed on its way (see [`super::Page::stream`]).
pub struct PageStream {
    decoder: Decoder,
    /// Made with the first decoded bytes (a `deflate` body shows its kind).
    encoder: Option<Encoder>,
    stage: Stage,
    header_charset: Option<&'static Encoding>,
    /// Until the rewriter is made.
    snippets: Option<Snippets>,
    /// The diary's bytes while none have gone out (`None` when the page
    /// could not go back as it came: its coding changes).
    held: Option<Vec<u8>>,
    /// The diary's bytes go on as they are.
    raw: bool,
    /// Some body arrived (an empty one stays empty).
    seen: bool,
    /// Written to the encoder since it was last emptied.
    unsent: bool,
    /// Why the page went on unchanged, once, for the log.
    note: Option<String>,
}

impl PageStream {
    pub(super) fn new(
        decoder: Decoder,
        header_charset: Option<&'static Encoding>,
        snippets: Snippets,
        keeps_coding: bool,
    ) -> Self {
        let held = (keeps_coding && !matches!(decoder, Decoder::Identity)).then(Vec::new);
        Self {
            decoder,
            encoder: None,
            stage: Stage::Start(Vec::new()),
            header_charset,
            snippets: Some(snippets),
            held,
            raw: false,
            seen: false,
            unsent: false,
            note: None,
        }
    }

    /// Why the page, or its rest, went on unchanged (once).
    pub fn take_note(&mut self) -> Option<String> {
        self.note.take()
    }

    /// The next piece from the diary; what is ready for the browser.
    /// `Err`: the body breaks its coding after some of it has gone out.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, InjectError> {
        if self.raw || chunk.is_empty() {
            return Ok(chunk.to_vec());
        }
        self.seen = true;
        if let Some(h) = &mut self.held {
            h.extend_from_slice(chunk);
        }
        let Self {
            decoder,
            encoder,
            stage,
            header_charset,
            snippets,
            unsent,
            note,
            ..
        } = self;
        let fed = decoder.feed(chunk, &mut |decoded, dec| {
            let enc = output(encoder, dec)?;
            *unsent = true;
            page_bytes(stage, enc, decoded, *header_charset, snippets, note)
        });
        self.sent_or_held(fed)
    }

    /// The end of the body: the rest, properly ended.
    pub fn finish(&mut self) -> Result<Vec<u8>, InjectError> {
        if self.raw || !self.seen {
            return Ok(Vec::new());
        }
        let Self {
            decoder,
            encoder,
            stage,
            header_charset,
            snippets,
            note,
            ..
        } = self;
        let fed = decoder.finish(&mut |decoded, dec| {
            let enc = output(encoder, dec)?;
            page_bytes(stage, enc, decoded, *header_charset, snippets, note)
        });
        if let Err(e) = fed {
            if let Some(held) = self.held.take() {
                self.raw = true;
                self.note = Some(format!("sent as it came: {e}"));
                return Ok(held);
            }
            // Cut short: what was decoded goes out, properly ended.
            self.note = Some(format!("the diary's body ended early: {e}"));
        }
        let enc = output(&mut self.encoder, &self.decoder)?;
        let stage = std::mem::replace(&mut self.stage, Stage::Through);
        match stage {
            // Nothing once decoded: nothing to put anything into.
            Stage::Start(first) if first.is_empty() => {}
            Stage::Start(first) => {
                let mut stage = Stage::Start(Vec::new());
                start(
                    &mut stage,
                    enc,
                    &first,
                    self.header_charset,
                    &mut self.snippets,
                    &mut self.note,
                )?;
                if let Stage::Rewriting(html) = stage {
                    end(*html, enc, &mut self.note)?;
                }
            }
            Stage::Rewriting(html) => end(*html, enc, &mut self.note)?,
            Stage::Through => {}
        }
        match self.encoder.take() {
            Some(enc) => enc.finish(),
            None => Ok(Vec::new()),
        }
    }

    fn sent_or_held(&mut self, fed: Result<(), InjectError>) -> Result<Vec<u8>, InjectError> {
        match fed {
            Ok(()) => {
                let out = match (&mut self.encoder, self.unsent) {
                    (Some(enc), true) => enc.take()?,
                    _ => Vec::new(),
                };
                self.unsent = false;
                if !out.is_empty() {
                    self.held = None;
                }
                Ok(out)
            }
            Err(e) => match self.held.take() {
                Some(held) => {
                    self.raw = true;
                    self.note = Some(format!("sent as it came: {e}"));
                    Ok(held)
                }
                None => Err(e),
            },
        }
    }
}

fn output<'a>(
    encoder: &'a mut Option<Encoder>,
    dec: &Decoder,
) -> Result<&'a mut Encoder, InjectError> {
    if encoder.is_none() {
        *encoder = Some(dec.output().ok_or(InjectError::UnknownDeflate)?);
    }
    encoder.as_mut().ok_or(InjectError::UnknownDeflate)
}

fn page_bytes(
    stage: &mut Stage,
    enc: &mut Encoder,
    decoded: &[u8],
    header_charset: Option<&'static Encoding>,
    snippets: &mut Option<Snippets>,
    note: &mut Option<String>,
) -> Result<(), InjectError> {
    match stage {
        Stage::Start(first) => {
            first.extend_from_slice(decoded);
            if may_be_bom(first) {
                return Ok(());
            }
            let first = std::mem::take(first);
            start(stage, enc, &first, header_charset, snippets, note)
        }
        Stage::Rewriting(html) => {
            let mut out = Vec::with_capacity(decoded.len() + 256);
            let r = html.write(decoded, &mut out);
            enc.write(&out)?;
            if let Err(e) = r {
                *note = Some(format!("the rest sent as it came: {e}"));
                *stage = Stage::Through;
            }
            Ok(())
        }
        Stage::Through => enc.write(decoded),
    }
}

/// The page's first bytes decide how it is read.
fn start(
    stage: &mut Stage,
    enc: &mut Encoder,
    first: &[u8],
    header_charset: Option<&'static Encoding>,
    snippets: &mut Option<Snippets>,
    note: &mut Option<String>,
) -> Result<(), InjectError> {
    let (how, bom_len) = reading(first, header_charset);
    let (bom, rest) = first.split_at(bom_len.min(first.len()));
    enc.write(bom)?;
    match (how, snippets.take()) {
        (
            Reading::As {
                encoding,
                follow_meta,
            },
            Some(s),
        ) => {
            *stage = Stage::Rewriting(Box::new(Html::new(s, encoding, follow_meta)));
            page_bytes(stage, enc, rest, header_charset, snippets, note)
        }
        _ => {
            *note = Some("a charset the rewriter cannot read: sent unchanged".into());
            *stage = Stage::Through;
            enc.write(rest)
        }
    }
}

fn end(html: Html, enc: &mut Encoder, note: &mut Option<String>) -> Result<(), InjectError> {
    let mut out = Vec::new();
    if let Err(e) = html.end(&mut out) {
        *note = Some(format!("the end sent as it came: {e}"));
    }
    enc.write(&out)
}
