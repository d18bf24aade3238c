//! The body's `Content-Encoding`, streamed: which codings are read (gzip,
//! deflate as zlib or raw, brotli), the decoder fed in small slices so one
//! compressed chunk never grows into a large buffer, the encoder that
//! writes the page back, and the `Accept-Encoding` the diary hears when a
//! page may be changed.

use std::io::Write;

use brotli_decompressor::DecompressorWriter;
use flate2::Compression;
use flate2::write::{
    DeflateDecoder, DeflateEncoder, GzEncoder, MultiGzDecoder, ZlibDecoder, ZlibEncoder,
};

use super::InjectError;

/// A body's coding as its header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
    Identity,
    Gzip,
    /// Zlib-wrapped as the RFC says, or raw as some servers send it: the
    /// first two bytes tell.
    Deflate,
    Brotli,
}

pub(super) fn parse_coding(content_encoding: Option<&str>) -> Result<Coding, String> {
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
        [one] if one == "deflate" => Ok(Coding::Deflate),
        [one] if one == "br" => Ok(Coding::Brotli),
        _ => Err(ce.trim().to_string()),
    }
}

/// The codings the gateway asks the diary for when it may change the page:
/// those of the browser's `Accept-Encoding` that it reads and writes back
/// cheaply. Brotli is left out: written back it would cost the gateway
/// several times gzip's memory per page for a little fewer bytes, and a
/// parent on a phone is served by any compression. `None`: leave the header
/// as it is (the browser sent none, so the diary sends the page plain).
pub fn accept_encoding_for_diary(browser: Option<&str>) -> Option<String> {
    let browser = browser?;
    let mut star = None;
    let mut named: Vec<(String, bool)> = Vec::new();
    for item in browser.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.len() >= 2
                && p[..2].eq_ignore_ascii_case("q=")
                && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        if name == "*" {
            star = Some(!refused);
        } else if !name.is_empty() {
            named.push((name, !refused));
        }
    }
    let accepted = |coding: &str| match named.iter().find(|(n, _)| n == coding) {
        Some((_, ok)) => *ok,
        None => star == Some(true),
    };
    let kept: Vec<&str> = ["gzip", "deflate"]
        .into_iter()
        .filter(|c| accepted(c))
        .collect();
    Some(if kept.is_empty() {
        "identity".to_string()
    } else {
        kept.join(", ")
    })
}

/// Compressed input is decoded this much at a time: a deflate stream grows
/// at most ~1000 times, so one slice never decodes into more than a few MiB.
const SLICE: usize = 4 * 1024;

/// Where decoded bytes go, with the decoder (which tells how to encode).
pub(super) type Decoded<'a> = dyn FnMut(&[u8], &Decoder) -> Result<(), InjectError> + 'a;

pub(super) enum Decoder {
    Identity,
    Gzip(MultiGzDecoder<Vec<u8>>),
    /// `deflate` until its first two bytes are known.
    DeflateStart(Vec<u8>),
    Zlib(ZlibDecoder<Vec<u8>>),
    RawDeflate(DeflateDecoder<Vec<u8>>),
    Brotli(Box<DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    pub(super) fn new(coding: Coding) -> Self {
        match coding {
            Coding::Identity => Self::Identity,
            Coding::Gzip => Self::Gzip(MultiGzDecoder::new(Vec::new())),
            Coding::Deflate => Self::DeflateStart(Vec::new()),
            Coding::Brotli => Self::Brotli(Box::new(DecompressorWriter::new(Vec::new(), 4096))),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip(_) => "gzip",
            Self::DeflateStart(_) | Self::Zlib(_) | Self::RawDeflate(_) => "deflate",
            Self::Brotli(_) => "br",
        }
    }

    /// How the page goes back to the browser: as it came, except brotli
    /// (sent plain: see [`accept_encoding_for_diary`]). `None` until a
    /// `deflate` body has shown which kind it is. Compressed again at the
    /// fastest level, as nginx's `gzip_comp_level` defaults to: the page is
    /// on its way to a browser waiting for it, and level 6 costs about three
    /// times the CPU for a few per cent of its size.
    pub(super) fn output(&self) -> Option<Encoder> {
        let level = Compression::fast();
        Some(match self {
            Self::Identity | Self::Brotli(_) => Encoder::Identity(Vec::new()),
            Self::Gzip(_) => Encoder::Gzip(GzEncoder::new(Vec::new(), level)),
            Self::Zlib(_) => Encoder::Zlib(ZlibEncoder::new(Vec::new(), level)),
            Self::RawDeflate(_) => Encoder::RawDeflate(DeflateEncoder::new(Vec::new(), level)),
            Self::DeflateStart(_) => return None,
        })
    }

    /// Decode `input`, handing what it decodes to `out` piece by piece.
    pub(super) fn feed(&mut self, input: &[u8], out: &mut Decoded<'_>) -> Result<(), InjectError> {
        if let Self::Identity = self {
            return out(input, self);
        }
        if let Self::DeflateStart(seen) = self {
            seen.extend_from_slice(input);
            if seen.len() < 2 {
                return Ok(());
            }
            let seen = std::mem::take(seen);
            // Browsers tell them apart the same way: a valid zlib header
            // (deflate, window at most 32 KiB, check bits, no dictionary).
            let zlib = seen[0] & 0x0F == 8
                && seen[0] >> 4 <= 7
                && (u16::from(seen[0]) << 8 | u16::from(seen[1])) % 31 == 0
                && seen[1] & 0x20 == 0;
            *self = if zlib {
                Self::Zlib(ZlibDecoder::new(Vec::new()))
            } else {
                Self::RawDeflate(DeflateDecoder::new(Vec::new()))
            };
            return self.feed(&seen, out);
        }
        for slice in input.chunks(SLICE) {
            let name = self.name();
            let err = |source| InjectError::Decode {
                encoding: name,
                source,
            };
            let decoded = match self {
                Self::Gzip(d) => d
                    .write_all(slice)
                    .and_then(|()| d.flush())
                    .map(|()| d.get_mut()),
                Self::Zlib(d) => d
                    .write_all(slice)
                    .and_then(|()| d.flush())
                    .map(|()| d.get_mut()),
                Self::RawDeflate(d) => d
                    .write_all(slice)
                    .and_then(|()| d.flush())
                    .map(|()| d.get_mut()),
                Self::Brotli(d) => d
                    .write_all(slice)
                    .and_then(|()| d.flush())
                    .map(|()| d.get_mut()),
                Self::Identity | Self::DeflateStart(_) => return Ok(()),
            }
            .map_err(err)?;
            let decoded = std::mem::take(decoded);
            if !decoded.is_empty() {
                out(&decoded, self)?;
            }
        }
        Ok(())
    }

    /// The end of the body: what the decoder still holds, and whether the
    /// stream ended where it should.
    pub(super) fn finish(&mut self, out: &mut Decoded<'_>) -> Result<(), InjectError> {
        let name = self.name();
        let err = |source| InjectError::Decode {
            encoding: name,
            source,
        };
        let rest = match self {
            Self::Identity => return Ok(()),
            Self::DeflateStart(seen) if seen.is_empty() => return Ok(()),
            Self::DeflateStart(_) => {
                return Err(err(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Self::Gzip(d) => d.try_finish().map(|()| d.get_mut()),
            Self::Zlib(d) => d.try_finish().map(|()| d.get_mut()),
            Self::RawDeflate(d) => d.try_finish().map(|()| d.get_mut()),
            Self::Brotli(d) => d.close().map(|()| d.get_mut()),
        }
        .map_err(err)?;
        let rest = std::mem::take(rest);
        if rest.is_empty() {
            Ok(())
        } else {
            out(&rest, self)
        }
    }
}

pub(super) enum Encoder {
    Identity(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    RawDeflate(DeflateEncoder<Vec<u8>>),
}

impl Encoder {
    fn name(&self) -> &'static str {
        match self {
            Self::Identity(_) => "identity",
            Self::Gzip(_) => "gzip",
            Self::Zlib(_) | Self::RawDeflate(_) => "deflate",
        }
    }

    fn err(&self) -> impl Fn(std::io::Error) -> InjectError + use<> {
        let encoding = self.name();
        move |source| InjectError::Encode { encoding, source }
    }

    pub(super) fn write(&mut self, b: &[u8]) -> Result<(), InjectError> {
        let err = self.err();
        match self {
            Self::Identity(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
            Self::Gzip(e) => e.write_all(b),
            Self::Zlib(e) => e.write_all(b),
            Self::RawDeflate(e) => e.write_all(b),
        }
        .map_err(err)
    }

    /// Everything written so far, encoded and ready to send (a sync flush:
    /// the browser can show the page's beginning before its end arrives).
    pub(super) fn take(&mut self) -> Result<Vec<u8>, InjectError> {
        let err = self.err();
        let out = match self {
            Self::Identity(v) => v,
            Self::Gzip(e) => e.flush().map(|()| e.get_mut()).map_err(err)?,
            Self::Zlib(e) => e.flush().map(|()| e.get_mut()).map_err(err)?,
            Self::RawDeflate(e) => e.flush().map(|()| e.get_mut()).map_err(err)?,
        };
        Ok(std::mem::take(out))
    }

    /// The end of the stream (a gzip trailer, …).
    pub(super) fn finish(self) -> Result<Vec<u8>, InjectError> {
        let err = self.err();
        match self {
            Self::Identity(v) => Ok(v),
            Self::Gzip(e) => e.finish(),
            Self::Zlib(e) => e.finish(),
            Self::RawDeflate(e) => e.finish(),
        }
        .map_err(err)
    }
}
