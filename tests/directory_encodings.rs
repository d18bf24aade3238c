//! The directory as regions export it: Russian Excel saves "CSV" in
//! windows-1251 with semicolons. The gateway reads such a file as it is
//! (converted here by the real `iconv`), and the Cyrillic names in it
//! match the people ESIA sends; a file in another encoding than
//! `directory.csv_encoding` names is refused by `esia-gate check`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Browser, Options, Stack, counter, element_text, persons};

/// The `csv = "..."` file of a configuration.
fn directory_file(config: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config).expect("config");
    let line = text
        .lines()
        .find(|l| l.starts_with("csv = "))
        .expect("a csv directory");
    PathBuf::from(line.trim_start_matches("csv = ").trim_matches('"'))
}

/// The directory as Russian Excel writes it: semicolons, windows-1251
/// (through `iconv`), beside the original; the configuration points at it.
fn excel_export(config: &Path) {
    let original = directory_file(config);
    let mut rows = csv::Reader::from_path(&original).expect("the demo directory");
    let mut semicolons = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    semicolons
        .write_record(rows.headers().expect("header"))
        .expect("header");
    for r in rows.records() {
        semicolons.write_record(&r.expect("row")).expect("row");
    }
    let utf8 = semicolons.into_inner().expect("csv");
    let mut iconv = Command::new("iconv")
        .args(["-f", "UTF-8", "-t", "WINDOWS-1251"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("iconv (libc-bin) is needed");
    std::io::Write::write_all(&mut iconv.stdin.take().expect("stdin"), &utf8).expect("to iconv");
    let out = iconv.wait_with_output().expect("iconv");
    assert!(out.status.success(), "iconv failed");
    assert!(
        std::str::from_utf8(&out.stdout).is_err(),
        "a windows-1251 file with Cyrillic names is not UTF-8"
    );
    assert!(
        out.stdout
            .windows(7)
            .any(|w| w == b"\xc8\xe2\xe0\xed\xee\xe2\xe0"),
        "«Иванова» in windows-1251"
    );
    let export = original.with_file_name("accounts-excel.csv");
    std::fs::write(&export, &out.stdout).expect("write the export");
    let text = std::fs::read_to_string(config).expect("config");
    let text = text.replace(
        &format!("csv = \"{}\"", original.display()),
        &format!("csv = \"{}\"", export.display()),
    );
    std::fs::write(config, text).expect("config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_1251_excel_export_is_read_and_its_cyrillic_names_match() {
    let stack = Stack::start_with(Options {
        gateway_setup: excel_export,
        ..Options::default()
    })
    .await;
    let log = stack.log_text();
    assert!(
        log.lines().any(|l| l.contains("directory loaded")
            && l.contains("encoding=\"windows-1251\"")
            && l.contains("skipped=0")),
        "{log}"
    );
    // Иванова comes from ESIA with her SNILS and name; the diary's row, read
    // from windows-1251, has the same name: one account. Her children's
    // rows match too, and are offered by their Cyrillic names.
    let b = Browser::new();
    let chooser = b.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    for child in ["Иванов Никита", "Иванова Анна"] {
        assert!(chooser.body.contains(child), "{child}: {}", chooser.body);
    }
    let csrf = support::hidden_value(&chooser.body, "csrf").expect("csrf");
    b.post_form(
        &stack.url("/esia-gate/children/select"),
        &[("csrf", &csrf), ("login", "ivanova.a")],
    )
    .await;
    let page = b.get(&stack.url("/grades")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "remote-user").as_deref(),
        Some("ivanova.m")
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(&scrape, "esia_gate_match_outcomes_total{outcome=\"one\"}"),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_match_outcomes_total{outcome=\"fio_differs\"}"
        ),
        0.0
    );
}

fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("run esia-gate check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_passes_the_export_and_refuses_it_when_told_it_is_utf8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = esia_gate_dev::demo::prepare(dir.path(), esia_gate_dev::demo::Ports::DEMO)
        .expect("prepare");
    excel_export(&p.gateway_config);
    let (ok, out) = check(&p.gateway_config);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&p.gateway_config).expect("config");
    let named = text.replace("[directory]\n", "[directory]\ncsv_encoding = \"utf-8\"\n");
    assert_ne!(named, text, "a [directory] section");
    std::fs::write(&p.gateway_config, named).expect("config");
    let (ok, out) = check(&p.gateway_config);
    assert!(!ok, "{out}");
    assert!(out.contains("not valid UTF-8"), "{out}");
    assert!(out.contains("directory.csv_encoding"), "{out}");
    let cp1251 = text.replace(
        "[directory]\n",
        "[directory]\ncsv_encoding = \"windows-1251\"\n",
    );
    std::fs::write(&p.gateway_config, cp1251).expect("config");
    let (ok, out) = check(&p.gateway_config);
    assert!(ok, "{out}");
}
