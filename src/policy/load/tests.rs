//! Loading policies: a minimal one, and every kind of problem reported at
//! its line and column, several at once in file order.

use super::*;
use crate::policy::model::{RoleSet, RouteClass};

const MINIMAL: &str = r#"
name = "test"
timezone = "Europe/Moscow"

[[routes]]
class = "grades_html"
methods = ["GET"]
paths = ["/grades"]

[[routes]]
class = "login_submit"
methods = ["POST"]
paths = ["/login"]
login_field = "login"

[[stages]]
name = "cutover"
from = 2019-01-01
roles = ["all"]
password_login = "existing_users"
grades_html = "hide"
"#;

fn problems(src: &str) -> String {
    match parse("p.toml", src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_minimal_policy_loads() {
    let p = parse("p.toml", MINIMAL).unwrap();
    assert_eq!(p.name, "test");
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.stages[0].roles, RoleSet::ALL);
    assert!(p.stages[0].enforce);
    assert_eq!(
        p.classify(&crate::policy::RouteRequest::get("POST", "/login")),
        RouteClass::LoginSubmit {
            login_field: "login".into(),
            password_field: "password".into()
        }
    );
    assert_eq!(
        p.classify(&crate::policy::RouteRequest::get("GET", "/grades/")),
        RouteClass::GradesHtml
    );
    assert_eq!(
        p.classify(&crate::policy::RouteRequest::get("HEAD", "/grades")),
        RouteClass::GradesHtml
    );
    assert_eq!(
        p.classify(&crate::policy::RouteRequest::get("POST", "/grades")),
        RouteClass::Default
    );
}

#[test]
fn an_unknown_key_is_reported_with_line_and_column() {
    let src = MINIMAL.replace(
        "grades_html = \"hide\"",
        "grades_html = \"hide\"\ncolour = 1",
    );
    let e = problems(&src);
    assert!(e.starts_with("p.toml:22:1: unknown field `colour`"), "{e}");
}

#[test]
fn a_bad_date_is_reported_with_line_and_column() {
    let e = problems(&MINIMAL.replace("2019-01-01", "2019-13-01"));
    assert!(e.starts_with("p.toml:18:13: invalid date-time"), "{e}");
    assert!(e.contains("date"), "{e}");
    let e = problems(&MINIMAL.replace("2019-01-01", "\"2019-02-30\""));
    assert!(
        e.starts_with("p.toml:18:8: `from` = `2019-02-30` is not a date"),
        "{e}"
    );
    let e = problems(&MINIMAL.replace("2019-01-01", "2019-01-01T10:00:00"));
    assert!(e.starts_with("p.toml:18:8: `from` is a date alone"), "{e}");
}

#[test]
fn an_unknown_role_is_reported_at_the_role() {
    let e = problems(&MINIMAL.replace("[\"all\"]", "[\"parent\", \"teacher\"]"));
    assert_eq!(
        e,
        "p.toml:19:20: unknown role `teacher`: expected staff, parent, student_14_plus, student_under_14 or all"
    );
}

#[test]
fn an_unknown_value_names_the_choices() {
    let e = problems(&MINIMAL.replace("\"existing_users\"", "\"sometimes\""));
    assert!(
        e.starts_with("p.toml:20:18: unknown variant `sometimes`"),
        "{e}"
    );
    assert!(e.contains("existing_users"), "{e}");
}

#[test]
fn unsorted_and_overlapping_stages_are_refused() {
    let later = "\n[[stages]]\nname = \"early\"\nfrom = 2018-10-01\nroles = [\"parent\"]\npassword_login = \"allowed\"\n";
    let e = problems(&format!("{MINIMAL}{later}"));
    assert!(
        e.contains(":25:8: stages must be listed in date order"),
        "{e}"
    );
    let same = "\n[[stages]]\nname = \"again\"\nfrom = 2019-01-01\nroles = [\"staff\"]\npassword_login = \"allowed\"\n";
    let e = problems(&format!("{MINIMAL}{same}"));
    assert!(
        e.contains(":26:10: stages overlap: `cutover` already starts 2019-01-01 for `staff`"),
        "{e}"
    );
    let dup = "\n[[stages]]\nname = \"cutover\"\nfrom = 2019-02-01\nroles = [\"staff\"]\npassword_login = \"allowed\"\n";
    let e = problems(&format!("{MINIMAL}{dup}"));
    assert!(
        e.contains(":24:8: a stage named `cutover` is already defined"),
        "{e}"
    );
}

#[test]
fn bad_globs_and_classes_are_refused() {
    let e = problems(&MINIMAL.replace("paths = [\"/grades\"]", "paths = [\"grades\"]"));
    assert!(
        e.starts_with("p.toml:8:10: path pattern `grades` must start with `/`"),
        "{e}"
    );
    let e = problems(&MINIMAL.replace("class = \"grades_html\"", "class = \"grade_html\""));
    assert!(
        e.starts_with("p.toml:6:9: unknown class `grade_html`"),
        "{e}"
    );
    let e = problems(&MINIMAL.replace("login_field = \"login\"\n", ""));
    assert!(e.contains("needs `login_field`"), "{e}");
    let e = problems(&MINIMAL.replace("[\"GET\"]", "[\"FETCH\"]"));
    assert!(
        e.starts_with("p.toml:7:12: unknown HTTP method `FETCH`"),
        "{e}"
    );
}

#[test]
fn rewrite_needs_its_body_and_the_body_must_be_json() {
    let src = MINIMAL.replace("grades_html = \"hide\"", "grades_html = \"rewrite\"");
    let e = problems(&src);
    assert!(e.contains("needs a `[rewrite.grades_html]` table"), "{e}");
    let bad = format!("{src}\n[rewrite.grades_html]\nbody = '{{\"grades\": [}}'\n");
    let e = problems(&bad);
    assert!(e.contains("body is not valid JSON"), "{e}");
    let good = format!("{src}\n[rewrite.grades_html]\nstatus = 403\nbody = '{{\"grades\": []}}'\n");
    let p = parse("p.toml", &good).unwrap();
    assert_eq!(p.rewrites["grades_html"].status, 403);
}

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let src = MINIMAL
        .replace("Europe/Moscow", "Europe/Yaroslavl")
        .replace("[\"all\"]", "[\"nobody\"]");
    let e = problems(&src);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("p.toml:3:12: unknown time zone"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("p.toml:19:10: unknown role `nobody`"),
        "{e}"
    );
}

#[test]
fn banners_keep_formatting_and_links_only() {
    let src = MINIMAL.replace(
        "grades_html = \"hide\"",
        "grades_html = \"hide\"\nbanner = '<b>Внимание!</b> <a href=\"https://esia.gosuslugi.ru\" onclick=\"x()\">ЕСИА</a><script>alert(1)</script><img src=x onerror=y>'",
    );
    let p = parse("p.toml", &src).unwrap();
    let banner = p.stages[0].banner.as_deref().unwrap();
    assert!(banner.contains("<b>Внимание!</b>"), "{banner}");
    assert!(
        banner.contains("href=\"https://esia.gosuslugi.ru\""),
        "{banner}"
    );
    assert!(
        !banner.contains("script") && !banner.contains("onclick"),
        "{banner}"
    );
    assert!(
        !banner.contains("img") && !banner.contains("onerror"),
        "{banner}"
    );
    let js = sanitise("<a href=\"javascript:alert(1)\">x</a>");
    assert!(!js.contains("javascript"), "{js}");
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_col("a\nбв=1", 6), (2, 3));
    assert_eq!(line_col("", 10), (1, 1));
}

#[test]
fn the_confirmation_texts_are_the_regions_over_neutral_defaults() {
    use crate::policy::model::{ConfirmPage, Trust};
    let p = parse("p.toml", MINIMAL).unwrap();
    assert_eq!(
        *p.confirm.for_trust(Trust::Confirmed),
        ConfirmPage::default_confirmed()
    );
    let src = format!(
        "{MINIMAL}\n[confirm.confirmed]\nmessage = \"С <b>1 июля</b> <script>x</script>только подтверждённые\"\n\
         notes = [\"Ребёнку — детская учётная запись\"]\n"
    );
    let p = parse("p.toml", &src).unwrap();
    let c = p.confirm.for_trust(Trust::Confirmed);
    assert_eq!(c.message, "С <b>1 июля</b> только подтверждённые");
    assert_eq!(c.title, ConfirmPage::default_confirmed().title);
    assert_eq!(c.ways, ConfirmPage::default_confirmed().ways);
    assert_eq!(
        c.notes,
        vec!["Ребёнку — детская учётная запись".to_string()]
    );
    assert_eq!(
        *p.confirm.for_trust(Trust::Standard),
        ConfirmPage::default_standard()
    );
    let e = problems(&format!(
        "{MINIMAL}\n[confirm.standard]\nways = [\"<script>x</script>\"]\n"
    ));
    assert!(e.contains("a way is empty once sanitised"), "{e}");
    let e = problems(&format!("{MINIMAL}\n[confirm.simplified]\ntitle = \"x\"\n"));
    assert!(e.contains("unknown field `simplified`"), "{e}");
    let e = problems(&format!("{MINIMAL}\n[confirm.standard]\ndates = []\n"));
    assert!(e.contains("unknown field `dates`"), "{e}");
}

#[test]
fn a_stage_may_want_a_standard_account() {
    let src = MINIMAL.replace(
        "grades_html = \"hide\"",
        "grades_html = \"hide\"\ntrust = \"standard\"",
    );
    let p = parse("p.toml", &src).unwrap();
    assert_eq!(p.stages[0].trust, crate::policy::Trust::Standard);
    let e = problems(&MINIMAL.replace(
        "grades_html = \"hide\"",
        "grades_html = \"hide\"\ntrust = \"simplified\"",
    ));
    assert!(e.contains("unknown variant `simplified`"), "{e}");
}
