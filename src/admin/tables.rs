//! Report tables written three ways: an HTML page for a person, a CSV file
//! for Excel (UTF-8 with a byte order mark, `;` between fields, as Excel in
//! a Russian locale expects) and JSON for scripts.
//!
//! People read Russian words where scripts read stable English codes: a
//! column of codes carries the words shown for each code in HTML and CSV,
//! while JSON keeps the code itself.

use serde_json::Value;

use crate::pages::escape;

/// Where a column appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// In the page, the CSV file and JSON.
    Everywhere,
    /// In JSON only (kept there for scripts that read it).
    JsonOnly,
    /// In the page and the CSV file only (JSON has the parts).
    PeopleOnly,
    /// In the CSV file and JSON, not in the page (long text the page
    /// explains once above the table).
    FilesOnly,
}

/// One column: its key in JSON, its header for people.
#[derive(Debug, Clone)]
pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
    pub shown: Shown,
    /// For a column of codes: the words people read for a code (a code
    /// without words is shown as it is).
    pub words: Option<fn(&str) -> Option<&'static str>>,
}

impl Column {
    pub fn new(key: &'static str, header: &'static str) -> Self {
        Self {
            key,
            header,
            shown: Shown::Everywhere,
            words: None,
        }
    }

    /// A column of codes (`parent`, `never`): JSON has the code, people
    /// read `words(code)`.
    pub fn coded(
        key: &'static str,
        header: &'static str,
        words: fn(&str) -> Option<&'static str>,
    ) -> Self {
        Self {
            words: Some(words),
            ..Self::new(key, header)
        }
    }

    pub fn json_only(key: &'static str) -> Self {
        Self {
            shown: Shown::JsonOnly,
            ..Self::new(key, "")
        }
    }

    pub fn people_only(key: &'static str, header: &'static str) -> Self {
        Self {
            shown: Shown::PeopleOnly,
            ..Self::new(key, header)
        }
    }

    pub fn files_only(self) -> Self {
        Self {
            shown: Shown::FilesOnly,
            ..self
        }
    }

    fn in_json(&self) -> bool {
        matches!(
            self.shown,
            Shown::Everywhere | Shown::JsonOnly | Shown::FilesOnly
        )
    }

    fn in_csv(&self) -> bool {
        matches!(
            self.shown,
            Shown::Everywhere | Shown::PeopleOnly | Shown::FilesOnly
        )
    }

    fn on_page(&self) -> bool {
        matches!(self.shown, Shown::Everywhere | Shown::PeopleOnly)
    }

    /// A cell as people read it: a code in words, a time in the region's
    /// zone, a list comma separated.
    fn show(&self, v: &Value) -> String {
        match (self.words, v) {
            (Some(words), Value::String(code)) => words(code).unwrap_or(code).to_string(),
            _ => display(v, ','),
        }
    }
}

/// One table of a report. Cells are JSON values: strings, numbers, null;
/// times are RFC 3339 strings with the region's offset.
#[derive(Debug, Clone)]
pub struct Table {
    /// The table's key in the JSON form and in `?table=`.
    pub key: &'static str,
    pub title: &'static str,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// A closing row (totals), shown after the rows in HTML and CSV.
    pub footer: Option<Vec<Value>>,
}

/// Rows shown on an HTML page; the CSV and JSON forms have them all.
pub const HTML_ROW_LIMIT: usize = 5000;

impl Table {
    pub fn to_json_rows(&self) -> Value {
        let objects = self.rows.iter().map(|row| {
            Value::Object(
                self.columns
                    .iter()
                    .zip(row)
                    .filter(|(c, _)| c.in_json())
                    .map(|(c, v)| (c.key.to_string(), v.clone()))
                    .collect(),
            )
        });
        Value::Array(objects.collect())
    }

    /// CSV with a BOM, `;`-separated, CRLF line ends, a header row of the
    /// Russian column names, then the rows and the footer.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = csv_start(&self.columns);
        let rows: Vec<&Vec<Value>> = self.rows.iter().chain(self.footer.iter()).collect();
        out.extend(csv_rows(&self.columns, rows));
        out
    }

    /// The table as HTML (at most [`HTML_ROW_LIMIT`] rows).
    pub fn to_html(&self) -> String {
        let mut out = format!("<h2>{}</h2>", escape(self.title));
        if self.rows.is_empty() {
            out.push_str("<p class=\"empty\">Нет строк.</p>");
            return out;
        }
        out.push_str("<div class=\"scroll\"><table><thead><tr>");
        for c in self.columns.iter().filter(|c| c.on_page()) {
            out.push_str(&format!("<th>{}</th>", escape(c.header)));
        }
        out.push_str("</tr></thead><tbody>");
        for row in self.rows.iter().take(HTML_ROW_LIMIT) {
            out.push_str(&self.html_row(row, "td"));
        }
        out.push_str("</tbody>");
        if let Some(f) = &self.footer {
            out.push_str(&format!("<tfoot>{}</tfoot>", self.html_row(f, "th")));
        }
        out.push_str("</table></div>");
        if self.rows.len() > HTML_ROW_LIMIT {
            out.push_str(&format!(
                "<p class=\"note\">Показаны первые {HTML_ROW_LIMIT} строк из {}; \
                 все строки — в файле CSV.</p>",
                self.rows.len()
            ));
        } else {
            out.push_str(&format!(
                "<p class=\"note\">Строк: {}.</p>",
                self.rows.len()
            ));
        }
        out
    }
}

impl Table {
    /// The cells of a row in the columns `shown` picks, with their columns.
    fn cells<'a>(
        &'a self,
        row: &'a [Value],
        shown: fn(&Column) -> bool,
    ) -> impl Iterator<Item = (&'a Column, &'a Value)> + 'a {
        self.columns.iter().zip(row).filter(move |(c, _)| shown(c))
    }

    fn html_row(&self, row: &[Value], cell: &str) -> String {
        let mut out = String::from("<tr>");
        for (c, v) in self.cells(row, Column::on_page) {
            out.push_str(&format!("<{cell}>{}</{cell}>", escape(&c.show(v))));
        }
        out.push_str("</tr>");
        out
    }
}

/// The start of a CSV file of `columns` (see [`Table::to_csv`]): the BOM and
/// the header row; [`csv_rows`] writes the rows after it, so that a long
/// table can be sent a part at a time.
pub fn csv_start(columns: &[Column]) -> Vec<u8> {
    let mut out = Vec::from(&b"\xef\xbb\xbf"[..]);
    out.extend(csv_records(std::iter::once(
        columns
            .iter()
            .filter(|c| c.in_csv())
            .map(|c| c.header.to_string())
            .collect::<Vec<_>>(),
    )));
    out
}

/// Rows of a CSV file of `columns` (no header).
pub fn csv_rows<'a>(columns: &[Column], rows: impl IntoIterator<Item = &'a Vec<Value>>) -> Vec<u8> {
    csv_records(rows.into_iter().map(|row| {
        columns
            .iter()
            .zip(row)
            .filter(|(c, _)| c.in_csv())
            .map(|(c, v)| spreadsheet_safe(&c.show(v)))
            .collect::<Vec<_>>()
    }))
}

fn csv_records(records: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in records {
        if let Err(e) = w.write_record(&r) {
            // Writing to memory cannot fail; keep what was written.
            tracing::error!(error = %e, "cannot write a CSV report");
            break;
        }
    }
    w.into_inner().unwrap_or_default()
}

/// A cell as people read it: times as `2024-09-01 11:05` in the region's
/// zone, decimals with `decimal`, lists comma separated, null as empty.
fn display(v: &Value, decimal: char) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(items) => items
            .iter()
            .map(|i| display(i, decimal))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) if s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') => {
                t.format("%Y-%m-%d %H:%M").to_string()
            }
            _ => s.clone(),
        },
        Value::Number(n) if n.is_f64() => n.to_string().replace('.', &decimal.to_string()),
        other => other.to_string(),
    }
}

/// A cell starting with `=`, `+`, `-`, `@` or a control character is a
/// formula to a spreadsheet: it gets a leading apostrophe, so a name typed
/// into the diary cannot run anything on the school's computer.
fn spreadsheet_safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Table {
        Table {
            key: "t",
            title: "Т",
            columns: vec![
                Column::new("name", "Фамилия"),
                Column::new("at", "Когда"),
                Column::new("share", "Доля"),
            ],
            rows: vec![
                vec![
                    json!("Иванова"),
                    json!("2024-09-01T11:05:00+03:00"),
                    json!(12.5),
                ],
                vec![json!("=HYPERLINK(\"x\")"), Value::Null, json!(3)],
                vec![json!("<b>; \"кавычки\""), Value::Null, json!(0.0)],
            ],
            footer: Some(vec![json!("Всего"), Value::Null, json!(15)]),
        }
    }

    #[test]
    fn csv_opens_in_a_russian_excel() {
        let bytes = table().to_csv();
        assert!(bytes.starts_with(b"\xef\xbb\xbf"), "a BOM first");
        let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "Фамилия;Когда;Доля");
        assert_eq!(lines[1], "Иванова;2024-09-01 11:05;12,5");
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\";;3");
        assert_eq!(lines[3], "\"<b>; \"\"кавычки\"\"\";;0,0");
        assert_eq!(lines[4], "Всего;;15");
    }

    #[test]
    fn html_escapes_every_cell() {
        let html = table().to_html();
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>;"), "{html}");
        assert!(html.contains("<tfoot>"));
    }

    #[test]
    fn json_rows_are_keyed_by_column() {
        let rows = table().to_json_rows();
        assert_eq!(rows[0]["name"], "Иванова");
        assert_eq!(rows[0]["share"], 12.5);
        assert!(rows[1]["at"].is_null());
    }

    #[test]
    fn codes_read_as_words_for_people_and_each_column_goes_where_it_belongs() {
        fn words(code: &str) -> Option<&'static str> {
            (code == "parent").then_some("родитель")
        }
        let t = Table {
            key: "t",
            title: "Т",
            columns: vec![
                Column::coded("role", "Роль", words),
                Column::json_only("role_text"),
                Column::people_only("name", "ФИО"),
                Column::new("advice", "Что сделать").files_only(),
                Column::new("classes", "Классы детей"),
            ],
            rows: vec![vec![
                json!("parent"),
                json!("родитель"),
                json!("Иванова Мария"),
                json!("исправить"),
                json!(["4Б", "9А"]),
            ]],
            footer: Some(vec![
                json!("Всего"),
                Value::Null,
                Value::Null,
                Value::Null,
                json!([]),
            ]),
        };
        let csv = String::from_utf8(t.to_csv()[3..].to_vec()).expect("utf-8");
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "Роль;ФИО;Что сделать;Классы детей");
        assert_eq!(lines[1], "родитель;Иванова Мария;исправить;4Б, 9А");
        assert_eq!(lines[2], "Всего;;;", "a code without words stays as it is");
        let html = t.to_html();
        assert!(html.contains("<td>родитель</td><td>Иванова Мария</td><td>4Б, 9А</td>"));
        assert!(!html.contains("исправить"), "{html}");
        let json = t.to_json_rows();
        assert_eq!(
            json[0],
            json!({"role": "parent", "role_text": "родитель", "advice": "исправить", "classes": ["4Б", "9А"]})
        );
    }
}
