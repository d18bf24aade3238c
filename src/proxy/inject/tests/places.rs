//! Where the snippets go: after `<body>`, after the marker (never one in a
//! comment, a script or an attribute), before `</body>`, in pages without
//! body tags, never into framesets or fragments.

use super::*;

#[test]
fn the_banner_goes_right_after_body_open() {
    let page = b"<!doctype html><html><head><title>t</title></head><BODY class=\"a>b\" data-x='1'><h1>Hi</h1></body></html>";
    let out = run(page, "text/html; charset=utf-8", top("<i>B</i>"));
    assert_eq!(
        text(&out),
        "<!doctype html><html><head><title>t</title></head><BODY class=\"a>b\" data-x='1'><i>B</i><h1>Hi</h1></body></html>"
    );
}

#[test]
fn the_button_goes_before_body_close_or_after_the_marker() {
    let page = b"<html><body><form action=/login></FORM><!-- </body> --></body></html>";
    let out = run(page, "text/html", button("[B]", None));
    assert_eq!(
        text(&out),
        "<html><body><form action=/login></FORM><!-- </body> -->[B]</body></html>"
    );
    let out = run(page, "text/html", button("[B]", Some("</form>")));
    assert_eq!(
        text(&out),
        "<html><body><form action=/login></FORM>[B]<!-- </body> --></body></html>"
    );
    let out = run(page, "text/html", button("[B]", Some("<nav>")));
    assert!(
        text(&out).ends_with("-->[B]</body></html>"),
        "{}",
        text(&out)
    );
    // A start tag: right after it.
    let page = b"<html><body><nav class=top><a href=/>x</a></nav><p>y</p></body></html>";
    let out = run(page, "text/html", button("[B]", Some("<NAV>")));
    assert!(
        text(&out).contains("<nav class=top>[B]<a href=/>"),
        "{}",
        text(&out)
    );
}

#[test]
fn both_at_once_and_the_banner_first() {
    let page = b"<html><body><form></form><p>x</p></body></html>";
    let snippets = Snippets {
        top: Some("[banner][bar]".into()),
        ..button("[B]", Some("</form>"))
    };
    let out = run(page, "text/html", snippets);
    assert_eq!(
        text(&out),
        "<html><body>[banner][bar]<form></form>[B]<p>x</p></body></html>"
    );
}

#[test]
fn a_marker_in_a_comment_script_or_attribute_is_not_the_marker() {
    let page = b"<html><body><!-- old: </form> --><script>var f = \"</form>\";</script><input value=\"</form>\"><form action=/login></form><p>x</p></body></html>";
    let out = run(page, "text/html", button("[B]", Some("</form>")));
    assert!(
        text(&out).contains("<form action=/login></form>[B]<p>x</p>"),
        "{}",
        text(&out)
    );
    // Only hidden occurrences: before </body>, as without a marker.
    let page = b"<html><body><!-- </form> --><p>x</p></body></html>";
    let out = run(page, "text/html", button("[B]", Some("</form>")));
    assert!(
        text(&out).ends_with("<p>x</p>[B]</body></html>"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_text_marker_is_found_in_the_text_even_cut_in_two() {
    let page = "<html><body><p>Вход в дневник</p><script>// Забыли пароль?</script><p>Забыли ПАРОЛЬ? <a href=/r>Восстановить</a></p></body></html>";
    for piece in [1, 3, 7, 64] {
        let out = run_in_pieces(
            page.as_bytes(),
            "text/html; charset=utf-8",
            None,
            button("[B]", Some("забыли пароль?")),
            piece,
        );
        // ASCII case only is ignored: Cyrillic must match as written.
        assert!(
            text(&out).ends_with("</p>[B]</body></html>"),
            "{}",
            text(&out)
        );
        let out = run_in_pieces(
            page.as_bytes(),
            "text/html; charset=utf-8",
            None,
            button("[B]", Some("Забыли ПАРОЛЬ?")),
            piece,
        );
        assert!(
            text(&out).contains("<p>Забыли ПАРОЛЬ?[B] <a href=/r>"),
            "piece {piece}: {}",
            text(&out)
        );
    }
}

#[test]
fn a_body_tag_in_a_comment_or_script_is_not_the_body() {
    let page = b"<html><head><!-- <body> --><script>var s = \"<body>\";</script></head><body><p>x</p></body></html>";
    let out = run(page, "text/html", top("[B]"));
    assert!(
        text(&out).contains("</head><body>[B]<p>x</p>"),
        "{}",
        text(&out)
    );
}

#[test]
fn pages_without_body_tags_still_get_the_snippet() {
    let page = b"\xEF\xBB\xBF<!DOCTYPE html><meta charset=utf-8><title>t</title><p>grades";
    let out = run(page, "text/html", top("[B]"));
    assert_eq!(
        text(&out),
        "\u{feff}<!DOCTYPE html><meta charset=utf-8><title>t</title>[B]<p>grades"
    );
    let out = run(page, "text/html", button("[B]", None));
    assert!(text(&out).ends_with("<p>grades[B]"));
    let page = b"<html><body><p>x</p></html>";
    let out = run(page, "text/html", button("[B]", None));
    assert_eq!(text(&out), "<html><body><p>x</p>[B]</html>");
    // Bare text is not read (that would cost as much as the rest): the
    // banner goes before the first element, or at the end.
    let out = run(b"just text", "text/html", top("[B]"));
    assert_eq!(text(&out), "just text[B]");
    let out = run(b"<title>t</title>Hi <b>you</b>", "text/html", top("[B]"));
    assert_eq!(text(&out), "<title>t</title>Hi [B]<b>you</b>");
    // The sample diary's `/legacy/no-body-close`.
    let page = "<html><head><title>Без конца</title></head><body><p id=\"legacy\">оценки</p>";
    let both = Snippets {
        top: Some("[T]".into()),
        ..button("[B]", Some("</form>"))
    };
    let out = run(page.as_bytes(), "text/html; charset=utf-8", both);
    assert_eq!(
        text(&out),
        "<html><head><title>Без конца</title></head><body>[T]<p id=\"legacy\">оценки</p>[B]"
    );
}

#[test]
fn framesets_and_empty_bodies_get_nothing() {
    let page = b"<html><head><title>t</title></head><frameset><frame src=a></frameset></html>";
    let both = Snippets {
        top: Some("[T]".into()),
        ..button("[B]", None)
    };
    assert_eq!(run(page, "text/html", both.clone()), page);
    assert_eq!(run(b"", "text/html", both.clone()), b"");
    // A gzip body of nothing stays a gzip body of nothing.
    let out = run_in_pieces(&gzip(b""), "text/html", Some("gzip"), both, 7);
    assert_eq!(gunzip(&out), b"");
}

#[test]
fn a_fragment_gets_nothing_when_the_request_did_not_say() {
    let whole_only = |s: Snippets| Snippets {
        only_whole_documents: true,
        ..s
    };
    let both = Snippets {
        top: Some("[T]".into()),
        ..button("[B]", Some("</li>"))
    };
    // RosarioSIS-like menu loaded by a script.
    for fragment in [
        &b"<ul id=\"menu\"><li><a href=\"/grades\">Grades</a></li></ul>"[..],
        b"\n  <div class=\"x\"><form></form></div>",
        b"<!-- menu --><option value=1>5A</option>",
        b"Saved.",
        b"<nav><a href=/>home</a></nav></body>",
        b"  <!-- nothing here -->\n",
    ] {
        assert_eq!(
            run(fragment, "text/html", whole_only(both.clone())),
            fragment,
            "{}",
            text(fragment)
        );
    }
    // Whole documents still get theirs.
    for (page, expected) in [
        (
            &b"<!DOCTYPE html><ul><li>x</li></ul>"[..],
            "<!DOCTYPE html>[T]<ul><li>x</li>[B]</ul>",
        ),
        (
            b"<html><body><ul><li>x</li></ul></body></html>",
            "<html><body>[T]<ul><li>x</li>[B]</ul></body></html>",
        ),
        (
            b"<title>t</title><p>x</p>",
            "<title>t</title>[T]<p>x</p>[B]",
        ),
    ] {
        let out = run(page, "text/html", whole_only(both.clone()));
        assert_eq!(text(&out), expected);
    }
    // Told it is a page (Sec-Fetch-Dest: document): a fragment-looking
    // page gets the banner too.
    let out = run(b"<p>x</p>", "text/html", top("[T]"));
    assert_eq!(text(&out), "[T]<p>x</p>");
}

#[test]
fn markers_are_read_as_tags_or_text() {
    use super::super::place::Marker;
    assert_eq!(
        Marker::parse(Some("</FORM>")),
        Marker::EndTag("form".into())
    );
    assert_eq!(
        Marker::parse(Some(" <nav> ")),
        Marker::StartTag("nav".into())
    );
    assert_eq!(
        Marker::parse(Some("Забыли Пароль? Forgot PASSWORD?")),
        Marker::Text("Забыли Пароль? forgot password?".into())
    );
    for unsupported in [
        None,
        Some(""),
        Some("</form></div>"),
        Some("<form action=/x>"),
    ] {
        assert_eq!(Marker::parse(unsupported), Marker::None, "{unsupported:?}");
    }
}

#[test]
fn snippets_are_built_safely() {
    let b = esia_button_snippet("/esia-gate/login?return=/grades&x=\"y\"");
    assert!(
        b.contains("href=\"/esia-gate/login?return=/grades&amp;x=&quot;y&quot;\""),
        "{b}"
    );
    assert!(b.contains("Войти через госуслуги"));
    let banner = banner_snippet("<b>!</b>", "/esia-gate/login?return_to=%2F");
    assert!(banner.contains("<b>!</b> <a href=\"/esia-gate/login?return_to=%2F\""));
    assert!(banner.contains("Войти через Госуслуги</a></div>"));
}
