//! The insertion itself: where the snippet goes (after `<body>`, before
//! `</body>`, after a marker, or where a page without those tags would have
//! them), found by a light HTML tokenizer that is not fooled by comments,
//! quoted attributes or scripts.

use super::{Place, find_ignore_case, strip_bom};

/// Insert `snippet` at `place`; `None` for frameset pages.
pub(super) fn splice(html: &[u8], snippet: &[u8], place: Place<'_>) -> Option<Vec<u8>> {
    let found = scan(html);
    if found.frameset && found.body_open_end.is_none() {
        return None;
    }
    let before_close = || match found.body_close {
        Some(c) if found.body_open_end.is_none_or(|o| c >= o) => c,
        _ => found.html_close.unwrap_or(html.len()),
    };
    let at = match place {
        Place::AfterBodyOpen => found.body_open_end.unwrap_or(found.head_end),
        Place::BeforeBodyClose => before_close(),
        Place::After(marker) if !marker.is_empty() => {
            // The first occurrence in the markup itself: one inside a
            // comment or a script would put the button where nobody sees it.
            let mut from = found.body_open_end.unwrap_or(0);
            loop {
                match find_ignore_case(&html[from..], marker.as_bytes()) {
                    Some(i)
                        if found
                            .hidden
                            .iter()
                            .any(|(a, b)| (*a..*b).contains(&(from + i))) =>
                    {
                        from += i + 1;
                    }
                    Some(i) => break from + i + marker.len(),
                    None => break before_close(),
                }
            }
        }
        Place::After(_) => before_close(),
    };
    let at = at.min(html.len());
    let mut out = Vec::with_capacity(html.len() + snippet.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(snippet);
    out.extend_from_slice(&html[at..]);
    Some(out)
}

/// What a light HTML tokenizer finds: enough of the HTML rules (comments,
/// quoted attributes, script and other raw-text elements) that a `<body>`
/// inside a comment or a script string is not taken for the real one.
#[derive(Debug, Default)]
struct Found {
    /// Just after the first `<body …>` start tag.
    body_open_end: Option<usize>,
    /// At the last `</body>`.
    body_close: Option<usize>,
    /// At the last `</html>`.
    html_close: Option<usize>,
    frameset: bool,
    /// Where the body starts when `<body>` is missing: after the doctype and
    /// the head's elements (so a `<meta charset>` stays within the first
    /// bytes), after a byte order mark.
    head_end: usize,
    /// Byte ranges no reader sees as markup: comments and the text of
    /// script-like elements.
    hidden: Vec<(usize, usize)>,
}

const RAW_TEXT: [&[u8]; 8] = [
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
];
const HEAD_TAGS: [&[u8]; 10] = [
    b"html",
    b"head",
    b"meta",
    b"link",
    b"base",
    b"title",
    b"style",
    b"script",
    b"noscript",
    b"template",
];

fn scan(b: &[u8]) -> Found {
    let mut f = Found {
        head_end: b.len() - strip_bom(b).len(),
        ..Found::default()
    };
    let mut in_head = true;
    let mut i = f.head_end;
    while i < b.len() {
        let Some(lt) = b[i..].iter().position(|&c| c == b'<').map(|p| i + p) else {
            break;
        };
        if in_head && b[i..lt].iter().any(|c| !c.is_ascii_whitespace()) {
            in_head = false;
        }
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            // `<!-->` and `<!--->` are complete (empty) comments.
            let end = if rest[4..].starts_with(b">") {
                lt + 5
            } else if rest[4..].starts_with(b"->") {
                lt + 6
            } else {
                match find(&rest[4..], b"-->") {
                    Some(p) => lt + 4 + p + 3,
                    None => b.len(),
                }
            };
            f.hidden.push((lt, end));
            if in_head {
                f.head_end = end;
            }
            i = end;
        } else if rest.len() > 1 && (rest[1] == b'!' || rest[1] == b'?') {
            let end = find(rest, b">").map_or(b.len(), |p| lt + p + 1);
            if in_head {
                f.head_end = end;
            }
            i = end;
        } else if rest.len() > 2 && rest[1] == b'/' && rest[2].is_ascii_alphabetic() {
            let name = tag_name(&rest[2..]);
            let end = find(rest, b">").map_or(b.len(), |p| lt + p + 1);
            if name.eq_ignore_ascii_case(b"body") {
                f.body_close = Some(lt);
            } else if name.eq_ignore_ascii_case(b"html") {
                f.html_close = Some(lt);
            }
            if in_head {
                if name.eq_ignore_ascii_case(b"head") || is_one_of(name, &HEAD_TAGS) {
                    f.head_end = end;
                } else {
                    in_head = false;
                }
            }
            i = end;
        } else if rest.len() > 1 && rest[1].is_ascii_alphabetic() {
            let name = tag_name(&rest[1..]);
            let end = start_tag_end(b, lt + 1 + name.len());
            let mut after = end;
            if let Some(raw) = RAW_TEXT.iter().find(|r| name.eq_ignore_ascii_case(r)) {
                after = raw_text_end(b, end, raw);
                f.hidden.push((end, after));
            } else if name.eq_ignore_ascii_case(b"plaintext") {
                after = b.len();
            }
            if name.eq_ignore_ascii_case(b"body") && f.body_open_end.is_none() {
                f.body_open_end = Some(end);
            }
            if name.eq_ignore_ascii_case(b"frameset") {
                f.frameset = true;
            }
            if in_head {
                if is_one_of(name, &HEAD_TAGS) {
                    // For raw-text head elements, after their end tag.
                    f.head_end = if after > end {
                        b[after..]
                            .iter()
                            .position(|&c| c == b'>')
                            .map_or(b.len(), |p| after + p + 1)
                    } else {
                        end
                    };
                } else {
                    in_head = false;
                }
            }
            i = after;
        } else {
            // A `<` that starts no tag is text.
            in_head = false;
            i = lt + 1;
        }
    }
    f.head_end = f.head_end.min(b.len());
    f
}

fn is_one_of(name: &[u8], set: &[&[u8]]) -> bool {
    set.iter().any(|s| name.eq_ignore_ascii_case(s))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn tag_name(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
        .unwrap_or(b.len());
    &b[..n]
}

/// Just after the `>` that ends a start tag whose attributes begin at
/// `from`, honouring quoted attribute values (`<body onload="a>b">`).
fn start_tag_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    // Quotes start a value only right after `=` (and optional spaces).
    let mut after_equals = false;
    while i < b.len() {
        match b[i] {
            b'>' => return i + 1,
            b'=' => after_equals = true,
            q @ (b'"' | b'\'') if after_equals => {
                match b[i + 1..].iter().position(|&c| c == q) {
                    Some(p) => i += p + 1,
                    None => return b.len(),
                }
                after_equals = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        i += 1;
    }
    b.len()
}

/// Where the end tag of a raw-text element (`</script`, …) begins, searching
/// from `from`; the end of the body when it never ends.
fn raw_text_end(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(p) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + p;
        let rest = &b[at..];
        if rest.len() >= 2 + name.len()
            && rest[1] == b'/'
            && rest[2..2 + name.len()].eq_ignore_ascii_case(name)
            && rest
                .get(2 + name.len())
                .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
        {
            return at;
        }
        i = at + 1;
    }
    b.len()
}
