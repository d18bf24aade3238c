//! The body's `Content-Encoding`: which codings are handled (gzip, deflate
//! as zlib or raw), decoding capped at [`MAX_DECODED_BODY`], and encoding
//! back the way the body came.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

use super::{InjectError, MAX_DECODED_BODY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
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
        [one] if one == "deflate" => Ok(Coding::Zlib),
        _ => Err(ce.trim().to_string()),
    }
}

/// Decode per the coding, capped; `None` when too large. `deflate` is tried
/// as zlib first, then as raw deflate, and the coding that worked is
/// returned so the body is encoded back the same way.
pub(super) fn decode(
    body: &[u8],
    coding: Coding,
) -> Result<Option<(Coding, Vec<u8>)>, InjectError> {
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

pub(super) fn encode(html: &[u8], coding: Coding) -> Result<Vec<u8>, InjectError> {
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
