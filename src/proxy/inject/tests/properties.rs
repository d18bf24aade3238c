//! Property tests: random bodies never panic, however cut; a UTF-8 page is
//! kept whole around the snippet; and where a page is cut into pieces
//! never changes the answer.

use proptest::prelude::*;

use super::*;

const SNIP: &str = "<div id=\"x\">Войти через госуслуги ✓</div>";

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
        Just("<form>".to_string()),
        Just("</form>".to_string()),
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

fn snippets(place: u8) -> Snippets {
    match place {
        0 => top("\u{1}SNIPPET\u{1}"),
        1 => button("\u{1}SNIPPET\u{1}", None),
        _ => button("\u{1}SNIPPET\u{1}", Some("</form>")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        ct in prop_oneof![Just("text/html"), Just("text/html; charset=windows-1251"), Just("text/html; charset=shift_jis")],
        ce in prop_oneof![Just(None), Just(Some("gzip")), Just(Some("deflate")), Just(Some("br"))],
        piece in 1usize..50,
        whole_only in any::<bool>(),
    ) {
        let page = Page::of(Some(ct), ce).expect("page");
        let mut s = page.stream(Snippets { only_whole_documents: whole_only, ..button(SNIP, Some("</form>")) });
        for c in body.chunks(piece) {
            if s.push(c).is_err() {
                return Ok(());
            }
        }
        let _ = s.finish();
    }

    /// In a UTF-8 page, the result is the page with the snippet added at
    /// one place: nothing of the page is lost or changed.
    #[test]
    fn the_page_is_kept_whole_around_the_snippet(
        pieces in proptest::collection::vec(html_piece(), 0..30),
        place in 0u8..3,
        gz in any::<bool>(),
        piece in 1usize..40,
    ) {
        let page: String = pieces.concat();
        let snippet = "\u{1}SNIPPET\u{1}";
        let body = if gz { gzip(page.as_bytes()) } else { page.clone().into_bytes() };
        let ce = if gz { Some("gzip") } else { None };
        let out = run_in_pieces(&body, "text/html; charset=utf-8", ce, snippets(place), piece);
        let out = if gz { gunzip(&out) } else { out };
        let out = String::from_utf8(out).expect("utf-8");
        if page.is_empty() {
            prop_assert_eq!(out, "");
        } else {
            prop_assert_eq!(out.matches(snippet).count(), 1, "{}", out);
            prop_assert_eq!(out.replacen(snippet, "", 1), page);
        }
    }

    /// The answer does not depend on where the diary's pieces end.
    #[test]
    fn pieces_do_not_change_the_answer(
        pieces in proptest::collection::vec(html_piece(), 0..30),
        place in 0u8..3,
        piece in 1usize..40,
    ) {
        let page: String = pieces.concat();
        let whole = run_in_pieces(page.as_bytes(), "text/html; charset=utf-8", None, snippets(place), usize::MAX);
        let cut = run_in_pieces(page.as_bytes(), "text/html; charset=utf-8", None, snippets(place), piece);
        prop_assert_eq!(text(&whole), text(&cut));
    }
}
