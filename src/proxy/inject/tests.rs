//! Insertion on real-looking pages: placement, markers and body tags in
//! comments or scripts, pages without body tags, what is left alone, gzip
//! and deflate, windows-1251, koi8-r and UTF-16 pages, safe snippets, and
//! property tests: random bodies never panic, and a UTF-8 page is kept
//! whole around the snippet.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

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
    let (page, _, _) =
        KOI8_R.encode("<html><head><meta charset=\"koi8-r\"></head><body>Дневник</body></html>");
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
