//! What is left alone, gzip, deflate and brotli, windows-1251, koi8-r and
//! UTF-16 pages, the `Accept-Encoding` the diary hears, and a large page
//! that flows through without being held whole.

use std::io::{Read, Write};

use encoding_rs::{KOI8_R, WINDOWS_1251};
use flate2::read::{DeflateDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, ZlibEncoder};

use super::*;

const SNIP: &str = "<div id=\"x\">Войти через госуслуги ✓</div>";

#[test]
fn json_images_and_unknown_codings_are_left_alone() {
    for ct in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("image/png"),
        Some("text/css"),
        Some("application/xhtml+xml"),
        None,
    ] {
        assert_eq!(Page::of(ct, None).err(), Some(Skipped::NotHtml), "{ct:?}");
    }
    for ce in ["zstd", "gzip, br", "compress"] {
        assert_eq!(
            Page::of(Some("text/html"), Some(ce)).err(),
            Some(Skipped::UnsupportedEncoding(ce.to_string()))
        );
    }
    for ce in [
        None,
        Some("identity"),
        Some("gzip"),
        Some("x-gzip"),
        Some("deflate"),
        Some("br"),
    ] {
        assert!(
            Page::of(Some("text/html; charset=windows-1251"), ce).is_ok(),
            "{ce:?}"
        );
    }
    assert_eq!(
        Page::of(Some("text/html; charset=utf-16le"), None).err(),
        Some(Skipped::UnreadableCharset("UTF-16LE".into()))
    );
}

#[test]
fn a_gzip_page_is_decoded_injected_and_gzipped_again() {
    let page = "<html><body><h1>Оценки</h1></body></html>";
    for ce in ["gzip", "x-gzip", "GZIP"] {
        let out = run_in_pieces(
            &gzip(page.as_bytes()),
            "text/html; charset=utf-8",
            Some(ce),
            top("[Б]"),
            5,
        );
        assert_eq!(
            text(&gunzip(&out)),
            "<html><body>[Б]<h1>Оценки</h1></body></html>"
        );
    }
}

#[test]
fn a_body_that_is_not_what_it_says_goes_on_as_it_came() {
    let page = Page::of(Some("text/html"), Some("gzip")).expect("page");
    let mut s = page.stream(top("[B]"));
    let mut out = s.push(b"not gzip at all").expect("sent as it came");
    out.extend(s.push(b", really").expect("still"));
    out.extend(s.finish().expect("end"));
    assert_eq!(out, b"not gzip at all, really");
    assert!(s.take_note().is_some());
    // Cut short after part of it went out: what was decoded goes out,
    // properly ended. (Text that does not compress much: a simple
    // generator's digits.)
    let mut n: u32 = 1;
    let digits: Vec<u8> = (0..200_000)
        .map(|_| {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b'0' + (n >> 16) as u8 % 10
        })
        .collect();
    let body = gzip(&[&b"<body>"[..], &digits].concat());
    let cut = &body[..body.len() / 2];
    let mut s = page.stream(top("[B]"));
    let mut out = Vec::new();
    for c in cut.chunks(1000) {
        out.extend(s.push(c).expect("push"));
    }
    out.extend(s.finish().expect("finish"));
    let back = gunzip(&out);
    assert!(back.starts_with(b"<body>[B]") && back.len() > 1000);
    assert!(digits.starts_with(&back[9..]));
    assert!(s.take_note().is_some_and(|n| n.contains("ended early")));
}

#[test]
fn deflate_is_read_both_ways_and_written_back_the_same_way() {
    let page = b"<html><body>x</body></html>";
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(page).expect("zlib");
    let zlib = z.finish().expect("zlib");
    let out = run_in_pieces(&zlib, "text/html", Some("deflate"), top("[B]"), 1);
    let mut back = Vec::new();
    ZlibDecoder::new(out.as_slice())
        .read_to_end(&mut back)
        .expect("zlib back");
    assert_eq!(back, b"<html><body>[B]x</body></html>");

    let mut d = DeflateEncoder::new(Vec::new(), Compression::fast());
    d.write_all(page).expect("deflate");
    let raw = d.finish().expect("deflate");
    let out = run_in_pieces(&raw, "text/html", Some("deflate"), top("[B]"), 3);
    let mut back = Vec::new();
    DeflateDecoder::new(out.as_slice())
        .read_to_end(&mut back)
        .expect("raw deflate back");
    assert_eq!(back, b"<html><body>[B]x</body></html>");
}

#[test]
fn a_brotli_page_is_decoded_and_sent_plain() {
    let page = "<html><body><h1>Оценки</h1></body></html>";
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 20);
        w.write_all(page.as_bytes()).expect("brotli");
    }
    let p = Page::of(Some("text/html"), Some("br")).expect("page");
    assert!(p.sent_plain());
    let out = run_in_pieces(&br, "text/html; charset=utf-8", Some("br"), top("[Б]"), 4);
    assert_eq!(text(&out), "<html><body>[Б]<h1>Оценки</h1></body></html>");
}

#[test]
fn a_windows_1251_page_with_cyrillic_stays_valid_windows_1251() {
    let original =
        "<html><head><title>Дневник</title></head><body><h1>Оценки ученика</h1></body></html>";
    let (page, _, _) = WINDOWS_1251.encode(original);
    for (ct, label) in [
        ("text/html; charset=windows-1251", "header"),
        ("text/html; charset=\"CP1251\"", "quoted alias"),
    ] {
        let out = run(&page, ct, top(SNIP));
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
    let out = run(&page, "text/html", top(SNIP));
    let (decoded, had_errors) = WINDOWS_1251.decode_without_bom_handling(&out);
    assert!(!had_errors);
    assert!(
        decoded.contains("<body><div id=\"x\">Войти через госуслуги &#10003;</div>Привет"),
        "{decoded}"
    );
}

#[test]
fn koi8_r_and_unknown_charsets_get_a_readable_snippet() {
    let (page, _, _) =
        KOI8_R.encode("<html><head><meta charset=\"koi8-r\"></head><body>Дневник</body></html>");
    let out = run(&page, "text/html", top("Госуслуги"));
    let (decoded, had_errors) = KOI8_R.decode_without_bom_handling(&out);
    assert!(!had_errors);
    assert!(decoded.contains("<body>ГосуслугиДневник"), "{decoded}");
    // No charset anywhere: ASCII with references reads right whatever
    // the browser picks.
    let out = run(
        b"<body>\xC4\xED\xE5\xE2\xED\xE8\xEA</body>",
        "text/html",
        top("Гос «x»"),
    );
    assert_eq!(
        out,
        b"<body>&#1043;&#1086;&#1089; &#171;x&#187;\xC4\xED\xE5\xE2\xED\xE8\xEA</body>"
    );
    // The header's charset wins over a meta, as in browsers.
    let (page, _, _) = WINDOWS_1251
        .encode("<html><head><meta charset=\"koi8-r\"></head><body>Дневник</body></html>");
    let out = run(&page, "text/html; charset=windows-1251", top("Гос"));
    let (decoded, had_errors) = WINDOWS_1251.decode_without_bom_handling(&out);
    assert!(
        !had_errors && decoded.contains("<body>ГосДневник"),
        "{decoded}"
    );
}

#[test]
fn a_utf16_page_goes_on_unchanged() {
    let mut page = vec![0xFF, 0xFE];
    for u in "<html><body>Дневник</body></html>".encode_utf16() {
        page.extend_from_slice(&u.to_le_bytes());
    }
    assert_eq!(run(&page, "text/html", top("[Б]")), page);
}

#[test]
fn the_diary_is_asked_only_for_what_the_gateway_reads() {
    let cases = [
        (Some("gzip, deflate, br, zstd"), Some("gzip, deflate")),
        (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), Some("gzip, deflate")),
        (Some("br, zstd"), Some("identity")),
        (Some("gzip;q=0, deflate"), Some("deflate")),
        (Some("*"), Some("gzip, deflate")),
        (Some("*, gzip;q=0"), Some("deflate")),
        (Some("identity"), Some("identity")),
        (Some(""), Some("identity")),
        (None, None),
    ];
    for (browser, diary) in cases {
        assert_eq!(
            accept_encoding_for_diary(browser).as_deref(),
            diary,
            "{browser:?}"
        );
    }
}

/// A 2 MiB page, as a diary sends it in 16 KiB pieces: the beginning with
/// the banner goes out long before the end has arrived, and what the
/// stream holds back at any time stays small.
#[test]
fn a_large_page_flows_through_without_being_held_whole() {
    let row = "<tr><td>Иванов Иван</td><td>5</td><td>4</td><td>5</td></tr>\n";
    let mut page =
        String::from("<!DOCTYPE html><html><head><title>Журнал</title></head><body><table>");
    while page.len() < 2 * 1024 * 1024 {
        page.push_str(row);
    }
    page.push_str("</table><form></form></body></html>");
    let snippets = Snippets {
        top: Some("<div id=\"esia-gate-banner\">Б</div>".into()),
        ..button("[B]", Some("</form>"))
    };
    for ce in [None, Some("gzip")] {
        let body = match ce {
            Some(_) => gzip(page.as_bytes()),
            None => page.clone().into_bytes(),
        };
        let p = Page::of(Some("text/html; charset=utf-8"), ce).expect("page");
        let mut s = p.stream(snippets.clone());
        let mut out = Vec::new();
        let decoded_so_far = |out: &[u8]| match ce {
            Some(_) => gunzip_partial(out),
            None => out.to_vec(),
        };
        let pieces: Vec<&[u8]> = body.chunks(16 * 1024).collect();
        for (i, piece) in pieces.iter().enumerate() {
            out.extend(s.push(piece).expect("push"));
            if i == 0 {
                let first = decoded_so_far(&out);
                assert!(
                    text(&first).contains("esia-gate-banner"),
                    "{ce:?}: the banner is in the first piece out"
                );
            }
        }
        let before_end = decoded_so_far(&out).len();
        assert!(
            before_end + 64 * 1024 > page.len(),
            "{ce:?}: only {before_end} of {} bytes out before the end",
            page.len()
        );
        out.extend(s.finish().expect("finish"));
        let whole = match ce {
            Some(_) => gunzip(&out),
            None => out,
        };
        let whole = text(&whole);
        assert_eq!(
            whole.len(),
            page.len() + "<div id=\"esia-gate-banner\">Б</div>[B]".len()
        );
        assert!(whole.ends_with("<form></form>[B]</body></html>"));
    }
}

/// What a gzip stream cut short decodes to so far.
fn gunzip_partial(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(b);
    let mut buf = [0u8; 8192];
    while let Ok(n) = d.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}
