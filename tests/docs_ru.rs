//! The Russian operator guide (`docs/ru/`) says what the English one
//! (`docs/`) says: the same sections in the same order, the same tables
//! (row for row), the same commands and configuration in its code blocks
//! (comments may be translated), and the same keys, metrics, paths and
//! commands quoted in its text. A change to one guide that is not carried
//! over to the other fails here, naming what differs.

use std::collections::BTreeSet;
use std::path::Path;

/// What two translations of one guide must share.
#[derive(Debug, Default)]
struct Shape {
    /// Heading levels, in order.
    headings: Vec<usize>,
    /// Fenced code blocks: the language tag and the lines without comments
    /// (untagged blocks, diagrams and file snippets: their line count).
    code: Vec<(String, Vec<String>)>,
    /// `inline code` of the text.
    quoted: BTreeSet<String>,
    /// Table rows (separator lines included), per table.
    tables: Vec<usize>,
}

/// A line of code without its comment (`# ...` at the start or after a
/// blank; `#` inside a word or a string stays).
fn without_comment(line: &str) -> String {
    let mut in_quotes = false;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes && prev_blank => return line[..i].trim_end().to_string(),
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line.trim_end().to_string()
}

fn shape(text: &str) -> Shape {
    let mut s = Shape::default();
    let mut block: Option<(String, Vec<String>)> = None;
    let mut table = 0usize;
    let mut prose = String::new();
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            match block.take() {
                Some((lang, lines)) => {
                    let lines = if lang.is_empty() {
                        vec![format!("{} lines", lines.len())]
                    } else {
                        lines
                            .iter()
                            .map(|l| without_comment(l))
                            .filter(|l| !l.trim().is_empty())
                            .collect()
                    };
                    s.code.push((lang, lines));
                }
                None => block = Some((rest.trim().to_string(), Vec::new())),
            }
            continue;
        }
        if let Some((_, lines)) = block.as_mut() {
            lines.push(line.to_string());
            continue;
        }
        if line.starts_with('|') {
            table += 1;
        } else if table > 0 {
            s.tables.push(table);
            table = 0;
        }
        if line.starts_with('#') {
            s.headings
                .push(line.chars().take_while(|c| *c == '#').count());
        }
        prose.push_str(line);
        prose.push('\n');
    }
    if table > 0 {
        s.tables.push(table);
    }
    // Spans may wrap across lines: taken from the whole text, with their
    // white space made single.
    let mut parts = prose.split('`');
    parts.next();
    while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
        s.quoted
            .insert(code.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    s
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn in_step(english: &str, russian: &str) {
    let (en, ru) = (shape(&read(english)), shape(&read(russian)));
    assert_eq!(
        en.headings, ru.headings,
        "{russian}: the heading levels differ from {english}"
    );
    assert_eq!(
        en.tables, ru.tables,
        "{russian}: the tables (rows each) differ from {english}"
    );
    assert_eq!(
        en.code.len(),
        ru.code.len(),
        "{russian}: the number of code blocks differs from {english}"
    );
    for (i, (e, r)) in en.code.iter().zip(&ru.code).enumerate() {
        assert_eq!(
            e,
            r,
            "{russian}: code block {} differs from {english}'s (comments aside)",
            i + 1
        );
    }
    let only_en: Vec<_> = en.quoted.difference(&ru.quoted).collect();
    let only_ru: Vec<_> = ru.quoted.difference(&en.quoted).collect();
    assert!(
        only_en.is_empty() && only_ru.is_empty(),
        "{russian}: quoted `...` differ from {english}: only in English {only_en:?}, only in Russian {only_ru:?}"
    );
}

#[test]
fn the_russian_operator_guide_follows_the_english_one() {
    in_step("docs/operations.md", "docs/ru/operations.md");
}

#[test]
fn the_russian_store_guide_follows_the_english_one() {
    in_step("docs/store.md", "docs/ru/store.md");
}

#[test]
fn the_readme_says_where_the_russian_guide_is() {
    let readme = read("README.md");
    assert!(readme.contains("docs/ru/operations.md"));
    assert!(readme.contains("docs/ru/store.md"));
}

#[test]
fn comments_are_cut_but_not_hashes_in_words_or_strings() {
    assert_eq!(without_comment("install -d x   # the dir"), "install -d x");
    assert_eq!(without_comment("# a whole line"), "");
    assert_eq!(without_comment("path = \"a#b\"  # note"), "path = \"a#b\"");
    assert_eq!(
        without_comment("see docs/operations.md#alerts"),
        "see docs/operations.md#alerts"
    );
}
