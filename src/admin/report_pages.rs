//! The reports on the admin listener: `/reports` lists them; each one is
//! served as `/reports/NAME` (an HTML page with a filter form),
//! `/reports/NAME.csv` (`?table=` picks a table other than the first) and
//! `/reports/NAME.json`, filtered by `school`, `class`, `role` (and
//! `state` for adoption). A parameter or value a report cannot use is a
//! 400 saying which and what is allowed, as a page, a text or JSON, as the
//! request asked.

use std::collections::BTreeSet;

use chrono_tz::Tz;
use http::Response;

use super::AdminApp;
use super::report_stream::{AdoptionCsv, Answer};
use super::reports::query::{self, MAX_DAYS};
use super::reports::{self, BadParameter, Clock, Report, StateFilter, words};
use crate::identity::Directory;
use crate::pages::escape;

/// How reports are made: the region's zone, the failed-match window.
#[derive(Debug, Clone, Copy)]
pub struct ReportSettings {
    pub zone: Tz,
    pub match_failure_days: u32,
    /// How often a scrape may recount the adoption gauge.
    pub adoption_refresh: std::time::Duration,
}

const NAMES: [(&str, &str); 3] = [
    (
        "adoption",
        "Вход через Госуслуги: кто уже перешёл, итоги по школам, классам и ролям",
    ),
    ("snils", "Учётные записи без действительного СНИЛС"),
    (
        "match-failures",
        "Неудачные сопоставления с Госуслугами и их причины",
    ),
];

#[derive(Clone, Copy)]
enum Format {
    Html,
    Csv,
    Json,
}

pub(super) fn respond(
    status: u16,
    content_type: &str,
    extra: &[(&str, String)],
    body: Vec<u8>,
) -> Response<Vec<u8>> {
    let mut b = Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff");
    for (k, v) in extra {
        b = b.header(*k, v.as_str());
    }
    b.body(body).unwrap_or_else(|_| Response::new(Vec::new()))
}

/// A parameter the report cannot use, answered in the form asked for.
fn bad_request(report: &str, format: Format, e: &BadParameter) -> Response<Vec<u8>> {
    match format {
        Format::Json => {
            let body = serde_json::json!({
                "error": "bad_parameter",
                "parameter": e.parameter,
                "value": e.value,
                "allowed": e.allowed,
                "message": e.message,
            });
            respond(400, "application/json", &[], body.to_string().into_bytes())
        }
        Format::Csv => respond(
            400,
            "text/plain; charset=utf-8",
            &[],
            format!("{}\n", e.message).into_bytes(),
        ),
        Format::Html => {
            let body = format!(
                "<p class=\"error\" id=\"bad-parameter\">{}</p>\
                 <p><a href=\"/reports/{report}\">Открыть отчёт без фильтров</a> · \
                 <a href=\"/reports\">Все отчёты</a></p>",
                escape(&e.message)
            );
            respond(
                400,
                "text/html; charset=utf-8",
                &[],
                page("Отчёт не построен: неверный параметр", &body),
            )
        }
    }
}

const STYLE: &str = "body{margin:0;font:14px/1.45 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
color:#0b1f33;background:#f2f5f9}main{padding:20px 24px}h1{font-size:22px;margin:0 0 12px}\
h2{font-size:17px;margin:24px 0 8px}p{margin:0 0 8px;max-width:900px}\
form{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin:12px 0}label{display:flex;flex-direction:column;font-weight:600}\
select,input{font:inherit;padding:4px 6px}button{font:inherit;padding:5px 14px}\
.downloads a{margin-right:14px}.scroll{overflow-x:auto;padding-bottom:10px}\
.guide{max-width:900px}.guide dt{font-weight:600;margin-top:8px}.guide dd{margin:2px 0 0 16px}table{border-collapse:collapse;background:#fff}\
th,td{border:1px solid #c9d4e3;padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}\
thead th{white-space:normal;vertical-align:bottom}\
thead th{background:#e4ecfd;position:sticky;top:0}tfoot th{background:#f2f5f9}.note,.empty{color:#66727f}\
.error{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px}";

fn page(title: &str, body: &str) -> Vec<u8> {
    format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{STYLE}</style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    )
    .into_bytes()
}

/// `/reports`: what there is.
pub(super) fn index() -> Response<Vec<u8>> {
    let mut body = String::from(
        "<p>Отчёты для школ. Каждый открывается как страница, скачивается как CSV (открывается в Excel) \
         и как JSON; их можно отфильтровать по школе, классу и роли.</p><ul>",
    );
    for (name, text) in NAMES {
        body.push_str(&format!(
            "<li><a href=\"/reports/{name}\">{}</a> — <a href=\"/reports/{name}.csv\">CSV</a>, \
             <a href=\"/reports/{name}.json\">JSON</a></li>",
            escape(text)
        ));
    }
    body.push_str("</ul>");
    respond(
        200,
        "text/html; charset=utf-8",
        &[],
        page("Отчёты esia-gate", &body),
    )
}

fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl AdminApp {
    /// `/reports/...`; `None` when the path names no report.
    pub(super) async fn report(&self, path: &str, query: Option<&str>) -> Option<Answer> {
        self.report_answer(path, query).await.map(|r| match r {
            Ok(whole) => Answer::Whole(whole),
            Err(stream) => stream,
        })
    }

    /// A whole answer, or (`Err`) the adoption accounts file, which is
    /// sent a part at a time.
    async fn report_answer(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Option<Result<Response<Vec<u8>>, Answer>> {
        let rest = path.strip_prefix("/reports/")?;
        let (name, format) = match rest.rsplit_once('.') {
            Some((n, "csv")) => (n, Format::Csv),
            Some((n, "json")) => (n, Format::Json),
            Some(_) => return None,
            None => (rest, Format::Html),
        };
        let name = NAMES.iter().find(|(n, _)| *n == name)?.0;
        let dir = self.directory.load_full();
        let q = match query::parse(name, query, &dir) {
            Ok(q) => q,
            Err(e) => return Some(Ok(bad_request(name, format, &e))),
        };
        let clock = Clock {
            now: (self.clock)(),
            zone: self.reports.zone,
        };
        let filter = &q.filter;
        let date = clock.now.with_timezone(&clock.zone).format("%Y-%m-%d");
        if name == "adoption"
            && matches!(format, Format::Csv)
            && q.table.is_none_or(|t| t == "accounts")
        {
            return Some(Err(Answer::AdoptionCsv(AdoptionCsv {
                dir: dir.clone(),
                filter: filter.clone(),
                group: q.group.clone(),
                clock,
                file: format!("esia-gate-adoption-{date}.csv"),
            })));
        }
        let built = match name {
            "adoption" => {
                // The totals file needs no row of the accounts table.
                let rows = !(matches!(format, Format::Csv) && q.table == Some("totals"));
                self.adoption_report(&dir, filter, &q.group, clock, rows)
                    .await
            }
            "snils" => Ok(reports::invalid_snils(&dir, filter, &clock)),
            _ => {
                let days = q.days.unwrap_or(self.reports.match_failure_days);
                let since = clock.now.timestamp() - i64::from(days) * 86_400;
                self.store
                    .match_failures_since(since)
                    .await
                    .map(|f| reports::match_failures(&dir, &f, filter, days, &clock))
            }
        };
        let report = match built {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(report = name, error = %e, "a report could not be read from the store");
                return Some(Ok(respond(
                    503,
                    "text/plain; charset=utf-8",
                    &[],
                    b"the store does not answer; try again later\n".to_vec(),
                )));
            }
        };
        Some(Ok(match format {
            Format::Json => respond(
                200,
                "application/json",
                &[],
                report.to_json().to_string().into_bytes(),
            ),
            Format::Csv => {
                let table = match q.table {
                    None => report
                        .tables
                        .iter()
                        .find(|t| t.key != "totals")
                        .or(report.tables.first()),
                    Some(k) => report.tables.iter().find(|t| t.key == k),
                };
                let Some(table) = table else {
                    // The query named a table of this report: it is there.
                    return Some(Ok(respond(
                        500,
                        "text/plain; charset=utf-8",
                        &[],
                        b"the report has no such table\n".to_vec(),
                    )));
                };
                let file = if table.key == "totals" {
                    format!("esia-gate-{}-totals-{date}.csv", report.name)
                } else {
                    format!("esia-gate-{}-{date}.csv", report.name)
                };
                respond(
                    200,
                    "text/csv; charset=utf-8",
                    &[(
                        "Content-Disposition",
                        format!("attachment; filename=\"{file}\""),
                    )],
                    table.to_csv(),
                )
            }
            Format::Html => respond(
                200,
                "text/html; charset=utf-8",
                &[],
                html(&report, &dir, query),
            ),
        }))
    }
}

/// The report's page: explanation, filter form, downloads, tables.
fn html(report: &Report, dir: &Directory, query: Option<&str>) -> Vec<u8> {
    let mut body = String::new();
    for n in &report.notes {
        body.push_str(&format!("<p>{}</p>", escape(n)));
    }
    body.push_str(&filter_form(report, dir, query));
    let keep: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "table")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let link = |ext: &str, table: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &keep {
            q.append_pair(k, v);
        }
        if let Some(t) = table {
            q.append_pair("table", t);
        }
        let q = q.finish();
        let sep = if q.is_empty() { "" } else { "?" };
        escape(&format!("/reports/{}.{ext}{sep}{q}", report.name))
    };
    body.push_str("<p class=\"downloads\">Скачать: ");
    for t in &report.tables {
        body.push_str(&format!(
            "<a href=\"{}\">{} (CSV)</a>",
            link("csv", Some(t.key)),
            escape(t.title)
        ));
    }
    body.push_str(&format!("<a href=\"{}\">JSON</a></p>", link("json", None)));
    for t in &report.tables {
        body.push_str(&t.to_html());
    }
    if !report.guide.is_empty() {
        body.push_str("<h2>Что сделать</h2><dl class=\"guide\">");
        for (term, text) in &report.guide {
            // A term is a table's words (lower case): capitalised here.
            let mut chars = term.chars();
            let term: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            body.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(&term),
                escape(text)
            ));
        }
        body.push_str("</dl>");
    }
    body.push_str("<p class=\"note\"><a href=\"/reports\">Все отчёты</a></p>");
    page(report.title, &body)
}

fn filter_form(report: &Report, dir: &Directory, query: Option<&str>) -> String {
    let schools: BTreeSet<&str> = dir.accounts().iter().map(|a| a.school.trim()).collect();
    let classes: BTreeSet<&str> = dir
        .accounts()
        .iter()
        .map(|a| a.class.trim())
        .filter(|c| !c.is_empty())
        .collect();
    // Every select but the totals' grouping offers «все» (an empty value).
    let select = |name: &str, label: &str, options: Vec<(String, String)>, chosen: Option<&str>| {
        let mut s = format!("<label>{}<select name=\"{name}\">", escape(label));
        if name != "group" {
            s.push_str("<option value=\"\">все</option>");
        }
        for (value, text) in options {
            let sel = if chosen == Some(value.as_str()) {
                " selected"
            } else {
                ""
            };
            s.push_str(&format!(
                "<option value=\"{}\"{sel}>{}</option>",
                escape(&value),
                escape(&text)
            ));
        }
        s.push_str("</select></label>");
        s
    };
    let f = &report.filter;
    let mut out = format!("<form method=\"get\" action=\"/reports/{}\">", report.name);
    out.push_str(&select(
        "school",
        "Школа",
        schools
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_string(), s.to_string()))
            .collect(),
        f.school.as_deref(),
    ));
    out.push_str(&select(
        "class",
        "Класс",
        classes
            .into_iter()
            .map(|c| (c.to_string(), c.to_string()))
            .collect(),
        f.class.as_deref(),
    ));
    out.push_str(&select(
        "role",
        "Роль",
        [
            crate::identity::Role::Staff,
            crate::identity::Role::Parent,
            crate::identity::Role::Student,
        ]
        .into_iter()
        .map(|r| (r.as_str().to_string(), r.russian().to_string()))
        .collect(),
        f.role.map(|r| r.as_str()),
    ));
    if report.name == "adoption" {
        out.push_str(&select(
            "state",
            "Состояние",
            StateFilter::ALL
                .into_iter()
                .map(|s| {
                    let text = words::state(s.code()).unwrap_or(s.code());
                    (s.code().to_string(), text.to_string())
                })
                .collect(),
            f.state.map(StateFilter::code),
        ));
    }
    if report.name == "match-failures" {
        let days = param(query, "days").unwrap_or_default();
        out.push_str(&format!(
            "<label>За дней<input type=\"number\" name=\"days\" min=\"1\" max=\"{MAX_DAYS}\" value=\"{}\"></label>",
            escape(&days)
        ));
    }
    if report.name == "adoption" {
        let group = param(query, "group").unwrap_or_else(|| "school,class,role".into());
        let mut options: Vec<(String, String)> = [
            ("school,class,role", "школа, класс, роль"),
            ("school", "школа"),
            ("school,role", "школа, роль"),
            ("school,class", "школа, класс"),
            ("class,role", "класс, роль"),
            ("role", "роль"),
        ]
        .into_iter()
        .map(|(v, t)| (v.to_string(), t.to_string()))
        .collect();
        if !options.iter().any(|(v, _)| *v == group) {
            // A grouping typed into the address (already checked).
            options.push((group.clone(), group.clone()));
        }
        out.push_str(&select("group", "Итоги по", options, Some(group.as_str())));
    }
    out.push_str("<button type=\"submit\">Показать</button></form>");
    out
}
