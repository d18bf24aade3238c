//! Insertion on real-looking pages, each fed to the stream in pieces as a
//! diary sends them: placement (`places`), codings, charsets and streaming
//! (`codings`), and property tests: random bodies never panic, and a page
//! is kept whole around the snippet however it is cut (`properties`).

mod codings;
mod places;
mod properties;

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::*;

/// Feed `body` to a stream in pieces of `piece` bytes; the whole answer.
fn run_in_pieces(
    body: &[u8],
    content_type: &str,
    content_encoding: Option<&str>,
    snippets: Snippets,
    piece: usize,
) -> Vec<u8> {
    let page = Page::of(Some(content_type), content_encoding).expect("a page that can be changed");
    let mut stream = page.stream(snippets);
    let mut out = Vec::new();
    for chunk in body.chunks(piece.max(1)) {
        out.extend(stream.push(chunk).expect("push"));
    }
    out.extend(stream.finish().expect("finish"));
    out
}

/// The same, in pieces of 7 bytes (tags and characters cut in two).
fn run(body: &[u8], content_type: &str, snippets: Snippets) -> Vec<u8> {
    run_in_pieces(body, content_type, None, snippets, 7)
}

fn top(s: &str) -> Snippets {
    Snippets {
        top: Some(s.to_string()),
        ..Snippets::default()
    }
}

fn button(s: &str, after: Option<&str>) -> Snippets {
    Snippets {
        button: Some(s.to_string()),
        button_after: after.map(str::to_string),
        ..Snippets::default()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf-8")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}
