//! A school administrator's reports after a week of logins: who has come
//! in through ESIA and who still uses the password, whose profile lacks a
//! valid SNILS, and which ESIA logins found no account and why — as a page,
//! as a CSV file Excel opens with Cyrillic intact, and as JSON. People read
//! Russian words, scripts read codes; a class teacher finds her class's
//! parents and who has not come yet; a failed match says whom it is about
//! and where to fix it. Never a full SNILS, never an ESIA oid.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Browser, Options, Stack, persons};

/// The «Войти через госуслуги» button (before the cut-over the diary's own
/// pages still lead to its password form).
const ESIA_LOGIN: &str = "/esia-gate/login?return_to=%2Fgrades";

/// Yaroslavl before its cut-over: password logins still work (and are
/// recorded); the directory file is re-read every second.
fn options() -> Options {
    Options {
        config_extra: format!(
            "[policy]\nfile = \"{}/policies/yaroslavl-2019.toml\"\nrehearse_date = \"2018-12-15\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        config_replace: vec![(
            "[directory]\n".into(),
            "[directory]\ncsv_reload_seconds = 1\n".into(),
        )],
        ..Options::default()
    }
}

struct Got {
    content_type: String,
    disposition: String,
    bytes: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("UTF-8")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).expect("JSON")
    }
}

async fn get(stack: &Stack, path: &str) -> Got {
    let r = reqwest::get(stack.admin_url(path))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, content_type, disposition) = (
        r.status().as_u16(),
        header("content-type"),
        header("content-disposition"),
    );
    let bytes = r.bytes().await.expect("body").to_vec();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&bytes));
    Got {
        content_type,
        disposition,
        bytes,
    }
}

fn rows<'a>(report: &'a Value, table: &str) -> &'a Vec<Value> {
    report[table]
        .as_array()
        .unwrap_or_else(|| panic!("{table} in {report}"))
}

fn row<'a>(rows: &'a [Value], login: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["login"] == login)
        .unwrap_or_else(|| panic!("{login} in {rows:?}"))
}

/// Rewrite the directory export as a school does: aside, then renamed in.
fn edit_directory(stack: &Stack, edit: impl Fn(String) -> String) {
    let path = stack.dir.path().join("data").join("accounts.csv");
    let text = std::fs::read_to_string(&path).expect("accounts.csv");
    let aside = path.with_extension("csv.new");
    std::fs::write(&aside, edit(text)).expect("write");
    std::fs::rename(&aside, &path).expect("rename");
}

/// Every spelling of every SNILS in the story (ESIA's and the diary's),
/// to be found nowhere.
fn snils_spellings(stack: &Stack) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for p in esia_gate_dev::fixtures::demo_persons() {
        all.extend(p.snils.clone());
        all.extend(p.kids.iter().filter_map(|k| k.snils.clone()));
    }
    let path = stack.dir.path().join("data").join("accounts.csv");
    let mut directory = csv::Reader::from_path(&path).expect("accounts.csv");
    for r in directory.records() {
        let r = r.expect("a row");
        all.extend(r.get(4).map(str::to_string));
    }
    let mut spellings = Vec::new();
    for s in all {
        let d: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
        if d.len() != 11 {
            continue;
        }
        spellings.push(d.clone());
        spellings.push(format!("{}-{}-{} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]));
        spellings.push(format!("{}-{}-{}-{}", &d[..3], &d[3..6], &d[6..9], &d[9..]));
        spellings.push(format!("{} {} {} {}", &d[..3], &d[3..6], &d[6..9], &d[9..]));
        spellings.push(d[..9].to_string());
    }
    assert!(spellings.len() > 50);
    spellings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_logins_shows_up_in_the_schools_reports() {
    let stack = Stack::start_with(options()).await;

    // Monday: a parent comes in through ESIA, a teacher still uses the
    // diary's password, a stranger finds nothing.
    let page = Browser::new()
        .login(&stack, ESIA_LOGIN, persons::IVANOVA)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let teacher = Browser::new();
    let logged_in = teacher
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);
    Browser::new()
        .login(&stack, ESIA_LOGIN, persons::SIDOROV)
        .await;

    // Tuesday: the school's export changes — the stranger is now in the
    // diary without a SNILS, the deputy head's surname is mistyped, and a
    // new pupil's SNILS fails its checksum.
    edit_directory(&stack, |text| {
        let text = text.replace("smirnov.d,СМИРНОВ,", "smirnov.d,СМИРНОВА,");
        format!(
            "{text}sidorov.a,Сидоров,Алексей,Николаевич,,parent,,МОУ СШ №5,,\n\
             broken.s,Белов,Сергей,,112-233-445 96,student,2012-02-02,МОУ СШ №5,6В,\n"
        )
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let snils = get(&stack, "/reports/snils.json").await.json();
        if rows(&snils, "accounts")
            .iter()
            .any(|r| r["login"] == "broken.s")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the directory was not reloaded:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Wednesday: three more ESIA logins that find no account.
    for oid in [persons::SIDOROV, persons::SMIRNOV, persons::KUZNETSOVA] {
        Browser::new().login(&stack, ESIA_LOGIN, oid).await;
    }

    // Adoption: every account, its last logins, and totals.
    let adoption = get(&stack, "/reports/adoption.json").await;
    assert_eq!(adoption.content_type, "application/json");
    let adoption = adoption.json();
    assert_eq!(adoption["report"], "adoption");
    let accounts = rows(&adoption, "accounts");
    let ivanova = row(accounts, "ivanova.m");
    assert_eq!(ivanova["state"], "esia");
    assert!(ivanova["last_esia_login"].as_str().is_some_and(|t| {
        chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with("+03:00")
    }));
    assert!(ivanova["last_password_login"].is_null());
    assert_eq!(ivanova["snils"], "***-***-*** 88");
    let petrov = row(accounts, "petrov.teacher");
    assert_eq!(petrov["state"], "password_only");
    assert!(petrov["last_password_login"].is_string());
    assert_eq!(row(accounts, "orlova.t")["state"], "never");
    assert_eq!(row(accounts, "smirnov.d")["state"], "never");
    let total = rows(&adoption, "totals");
    let school = total
        .iter()
        .find(|t| t["school"] == "МОУ СШ №5" && t["class"] == "" && t["role"] == "parent")
        .unwrap_or_else(|| panic!("parents of the school in {total:?}"));
    assert_eq!(school["esia"], 1);
    let per_school = get(&stack, "/reports/adoption.json?group=school")
        .await
        .json();
    let totals = rows(&per_school, "totals");
    assert_eq!(totals.len(), 1, "{totals:?}");
    assert_eq!(totals[0]["accounts"].as_u64(), Some(accounts.len() as u64));
    assert_eq!(totals[0]["esia"], 1);
    assert_eq!(totals[0]["password_only"], 1);

    // Filters: the parents only, or one class.
    let parents = get(&stack, "/reports/adoption.json?role=parent")
        .await
        .json();
    let parent_rows = rows(&parents, "accounts");
    assert!(!parent_rows.is_empty());
    assert!(parent_rows.iter().all(|r| r["role"] == "parent"));
    let class = get(
        &stack,
        "/reports/adoption.json?school=%D0%9C%D0%9E%D0%A3+%D0%A1%D0%A8+%E2%84%965&class=9%D0%90",
    )
    .await
    .json();
    let logins: Vec<&str> = rows(&class, "accounts")
        .iter()
        .filter_map(|r| r["login"].as_str())
        .collect();
    // The class's pupil and, through him, his mother.
    assert_eq!(logins, vec!["ivanova.m", "ivanov.n"]);
    assert_eq!(
        row(rows(&class, "accounts"), "ivanova.m")["children_classes"],
        serde_json::json!(["4Б", "9А"])
    );

    // A class teacher of 7Б: her class's parents, and who has not come yet.
    let parents_7b = get(&stack, "/reports/adoption.json?class=7%D0%91&role=parent")
        .await
        .json();
    let logins: Vec<&str> = rows(&parents_7b, "accounts")
        .iter()
        .filter_map(|r| r["login"].as_str())
        .collect();
    assert_eq!(logins, vec!["petrov.parent"]);
    let never = get(&stack, "/reports/adoption.json?state=never")
        .await
        .json();
    let never = rows(&never, "accounts");
    assert!(never.iter().all(|r| r["state"] == "never"), "{never:?}");
    assert!(never.iter().any(|r| r["login"] == "orlova.t"));
    assert!(never.iter().all(|r| r["login"] != "ivanova.m"));
    let not_yet = get(&stack, "/reports/adoption.json?state=not_esia")
        .await
        .json();
    let not_yet = rows(&not_yet, "accounts");
    assert!(not_yet.iter().any(|r| r["login"] == "petrov.teacher"));
    assert!(not_yet.iter().any(|r| r["login"] == "orlova.t"));
    assert!(not_yet.iter().all(|r| r["state"] != "esia"));

    // The same as CSV for Excel, and as a page.
    let csv = get(&stack, "/reports/adoption.csv").await;
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    assert!(
        csv.disposition
            .starts_with("attachment; filename=\"esia-gate-adoption-")
    );
    assert!(csv.bytes.starts_with(b"\xef\xbb\xbf"), "UTF-8 with a BOM");
    let text = csv.text();
    let mut lines = text.trim_start_matches('\u{feff}').split("\r\n");
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("Логин;Фамилия;Имя;Отчество;Роль;Школа;Класс"),
        "{header}"
    );
    let ivanova_line = lines
        .find(|l| l.starts_with("ivanova.m;"))
        .expect("ivanova.m in the CSV");
    assert!(
        ivanova_line.contains(";Иванова;Мария;Петровна;родитель;МОУ СШ №5;;4Б, 9А;"),
        "{ivanova_line}"
    );
    assert!(ivanova_line.ends_with(";через Госуслуги"), "{ivanova_line}");
    for code in [";parent;", ";esia", ";never", ";password_only"] {
        assert!(!text.contains(code), "{code} in a Russian table");
    }
    let totals_csv = get(&stack, "/reports/adoption.csv?table=totals&group=school").await;
    assert!(totals_csv.disposition.contains("-totals-"));
    assert!(
        totals_csv.text().contains("\r\nМОУ СШ №5;"),
        "{}",
        totals_csv.text()
    );
    let html = get(&stack, "/reports/adoption?role=parent").await;
    assert_eq!(html.content_type, "text/html; charset=utf-8");
    let html = html.text();
    assert!(html.contains("<td>ivanova.m</td>"), "{html}");
    assert!(html.contains("<td>родитель</td>"), "{html}");
    assert!(!html.contains("<td>petrov.teacher</td>"), "filtered out");
    assert!(
        html.contains("<option value=\"parent\" selected>"),
        "{html}"
    );
    assert!(html.contains("/reports/adoption.csv?role=parent&amp;table=accounts"));

    // Accounts that cannot be matched automatically.
    let snils = get(&stack, "/reports/snils.json").await.json();
    let broken = rows(&snils, "accounts");
    assert_eq!(row(broken, "broken.s")["problem"], "checksum");
    assert_eq!(row(broken, "orlova.t")["problem"], "missing");
    assert_eq!(row(broken, "sidorov.a")["problem"], "missing");
    assert!(broken.iter().all(|r| r["login"] != "ivanova.m"));
    let students = get(&stack, "/reports/snils.json?role=student").await.json();
    assert!(
        rows(&students, "accounts")
            .iter()
            .all(|r| r["role"] == "student")
    );
    let snils_csv = get(&stack, "/reports/snils.csv").await.text();
    assert!(
        snils_csv.contains(
            "broken.s;Белов;Сергей;;учащийся;МОУ СШ №5;6В;;СНИЛС не проходит проверку контрольного числа"
        ),
        "{snils_csv}"
    );

    // Failed matches: the reason and the directory account to fix.
    let failures = get(&stack, "/reports/match-failures.json?days=7")
        .await
        .json();
    let f = rows(&failures, "failures");
    let reason_of = |login: &str| row(f, login)["reason"].as_str().map(str::to_string);
    assert_eq!(reason_of("smirnov.d").as_deref(), Some("fio_differs"));
    assert_eq!(
        reason_of("sidorov.a").as_deref(),
        Some("snils_not_in_diary")
    );
    assert_eq!(
        reason_of("kuznetsova.o").as_deref(),
        Some("no_snils_from_esia")
    );
    assert!(
        f.iter()
            .any(|r| r["reason"] == "nothing" && r["login"].is_null()),
        "Monday's stranger, with no account to show: {f:?}"
    );
    assert_eq!(row(f, "smirnov.d")["last_name"], "СМИРНОВА");
    assert_eq!(row(f, "smirnov.d")["snils"], "***-***-*** 44");
    // Whom each is about, as ESIA named them, and where the fix is.
    assert_eq!(
        row(f, "smirnov.d")["esia_name"],
        "Смирнов Дмитрий Алексеевич"
    );
    assert_eq!(row(f, "smirnov.d")["fix_at"], "diary");
    assert_eq!(row(f, "kuznetsova.o")["fix_at"], "esia_profile");
    assert!(
        f.iter()
            .any(|r| r["reason"] == "nothing" && r["esia_name"] == "Сидоров Алексей Николаевич"),
        "{f:?}"
    );
    let staff = get(&stack, "/reports/match-failures.json?role=staff")
        .await
        .json();
    let staff_logins: Vec<&str> = rows(&staff, "failures")
        .iter()
        .filter_map(|r| r["login"].as_str())
        .collect();
    assert_eq!(staff_logins, vec!["smirnov.d"]);
    let page = get(&stack, "/reports/match-failures").await.text();
    assert!(page.contains("ФИО там записано иначе"), "{page}");
    assert!(
        page.contains("<td>Смирнов Дмитрий Алексеевич</td>"),
        "{page}"
    );
    let failures_csv = get(&stack, "/reports/match-failures.csv").await.text();
    let kuznetsova = failures_csv
        .lines()
        .find(|l| l.contains("kuznetsova.o"))
        .unwrap_or_else(|| panic!("{failures_csv}"));
    assert!(
        kuznetsova.contains(";Госуслуги не передали СНИЛС;на Госуслугах (сам человек);"),
        "{kuznetsova}"
    );
    assert!(!failures_csv.contains("fio_differs"), "{failures_csv}");

    // Nothing any report gives away: no full SNILS in any spelling, no
    // ESIA oid.
    let mut everything = String::new();
    for path in [
        "/reports",
        "/reports/adoption",
        "/reports/adoption.csv",
        "/reports/adoption.json",
        "/reports/adoption.csv?table=totals",
        "/reports/snils",
        "/reports/snils.csv",
        "/reports/snils.json",
        "/reports/match-failures",
        "/reports/match-failures.csv",
        "/reports/match-failures.json",
    ] {
        everything.push_str(&get(&stack, path).await.text());
    }
    for s in snils_spellings(&stack) {
        assert!(!everything.contains(&s), "a SNILS ({s}) in a report");
    }
    for oid in [
        persons::IVANOVA,
        persons::SIDOROV,
        persons::SMIRNOV,
        persons::KUZNETSOVA,
    ] {
        assert!(!everything.contains(oid), "an ESIA oid in a report");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_parameters_are_explained() {
    let stack = Stack::start().await;
    // Every value checked, the answer naming it and what is allowed, in
    // the form asked for.
    for (path, content_type, says) in [
        (
            "/reports/adoption?state=nevr",
            "text/html",
            ["nevr", "never (ещё не входили)"],
        ),
        (
            "/reports/adoption.csv?state=nevr",
            "text/plain",
            ["nevr", "not_esia"],
        ),
        (
            "/reports/adoption?role=teacher",
            "text/html",
            ["teacher", "parent (родитель)"],
        ),
        (
            "/reports/match-failures.csv?days=0",
            "text/plain",
            ["days=0", "3660"],
        ),
        (
            "/reports/adoption?group=street",
            "text/html",
            ["street", "school"],
        ),
        (
            "/reports/snils.csv?table=nothing",
            "text/plain",
            ["nothing", "accounts"],
        ),
        (
            "/reports/snils?state=never",
            "text/html",
            ["state", "school, class, role"],
        ),
        (
            "/reports/adoption.csv?clas=7%D0%91",
            "text/plain",
            ["clas", "class"],
        ),
        ("/reports/adoption?class=7%D0%92", "text/html", ["7В", "7Б"]),
    ] {
        let r = reqwest::get(stack.admin_url(path)).await.expect("admin");
        assert_eq!(r.status(), 400, "{path}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let text = r.text().await.expect("text");
        for s in says {
            assert!(text.contains(s), "{path}: {s} in {text}");
        }
    }
    let r = reqwest::get(stack.admin_url("/reports/adoption.json?state=nevr"))
        .await
        .expect("admin");
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["parameter"], "state");
    assert_eq!(e["value"], "nevr");
    assert_eq!(
        e["allowed"],
        serde_json::json!(["esia", "not_esia", "password_only", "never"])
    );
    let r = reqwest::get(stack.admin_url("/reports/unknown.json"))
        .await
        .expect("admin");
    assert_eq!(r.status(), 404);
}
