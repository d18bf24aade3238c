//! `esia-gate check`: scripts rely on its exit status, operators on its
//! messages naming the key and what is wrong.

use std::process::Command;

use esia_gate_dev::demo::{Ports, prepare};

fn check(config: &std::path::Path) -> (bool, String) {
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

fn prepared() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = prepare(dir.path(), Ports::DEMO).expect("prepare");
    let text = std::fs::read_to_string(&p.gateway_config).expect("config");
    (dir, p.gateway_config, text)
}

#[test]
fn a_valid_configuration_passes() {
    let (_dir, path, _) = prepared();
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        !out.contains("note:"),
        "the demo needs no second look: {out}"
    );
}

#[test]
fn a_new_file_is_checked_while_the_gateway_holds_its_store() {
    // An operator checks an edited file before `systemctl reload`: the
    // running gateway holds the embedded store's file, and that is fine.
    let (dir, path, _) = prepared();
    let held = redb::Database::create(dir.path().join("esia-gate.redb")).expect("hold the store");
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("note: store:") && l.contains("already open")),
        "{out}"
    );
    drop(held);
}

#[test]
fn a_valid_but_risky_configuration_passes_with_notes_naming_the_key() {
    let (_dir, path, text) = prepared();
    let risky = text
        .replace("logout_path = \"/logout\"\n", "")
        .replace("[session]\n", "[session]\nidle_seconds = 0\n");
    let risky = if risky.contains("idle_seconds") {
        risky
    } else {
        format!("{risky}\n[session]\nidle_seconds = 0\n")
    };
    std::fs::write(&path, risky).expect("write");
    let (ok, out) = check(&path);
    assert!(ok, "notes are not errors: {out}");
    for key in ["upstream.logout_path", "session.idle_seconds"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("note: ") && l.contains(key)),
            "{key}: {out}"
        );
    }
}

#[test]
fn connection_caps_worth_a_second_look_are_noted() {
    let (_dir, path, text) = prepared();
    // https outside and plain HTTP here: a TLS terminator in front, whose
    // connections all come from one address.
    let behind_tls = text.replacen(
        "public_url = \"http://127.0.0.1:8080\"",
        "public_url = \"https://dnevnik.example.ru\"",
        1,
    );
    // More connections than any descriptor limit allows.
    let too_many = format!("{behind_tls}\n[connections]\nmax_total = 4000000000\n");
    std::fs::write(&path, too_many).expect("write");
    let (ok, out) = check(&path);
    assert!(ok, "notes are not errors: {out}");
    for key in ["gateway.trusted_proxies", "connections.max_total"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("note: ") && l.contains(key)),
            "{key}: {out}"
        );
    }
}

#[test]
fn mistakes_fail_with_the_key_named() {
    let (_dir, path, text) = prepared();
    for (from, to, expect) in [
        ("[directory]", "[directory]\ncvs = \"x\"", "cvs"),
        ("mode = \"v2\"", "mode = \"v9\"", "mode"),
        (
            "client_id = \"DIARY\"",
            "client_id = \"DI ARY\"",
            "esia.client_id",
        ),
        (
            "public_url = \"http://127.0.0.1:8080\"",
            "public_url = \"http://127.0.0.1:8080/diary\"",
            "gateway.public_url",
        ),
        (
            "trusted_certificates = [\"",
            "trusted_certificates = [\"/nonexistent/",
            "esia.trusted_certificates",
        ),
        ("csv = \"", "csv = \"/nonexistent/", "directory.csv"),
        (
            "[directory]",
            "[esia.signer]\ncommand = [\"openssl\"]\nurl = \"http://127.0.0.1:1/sign\"\n\n[directory]",
            "esia.signer",
        ),
        (
            "[directory]",
            "[esia.signer]\nurl = \"ftp://signer/\"\n\n[directory]",
            "esia.signer.url",
        ),
        (
            "[directory]",
            "[session]\ncookie_name = \"__Host-esia_gate_session\"\n\n[directory]",
            "session.cookie_name",
        ),
        (
            "logout_path = \"/logout\"",
            "logout_path = \"logout\"",
            "upstream.logout_path",
        ),
        (
            "[directory]",
            "[store]\nbackend = \"redis\"\n\n[directory]",
            "store.url",
        ),
        (
            "[directory]",
            "[connections]\nheader_timeout_seconds = 0\n\n[directory]",
            "connections.header_timeout_seconds",
        ),
        (
            "[directory]",
            "[connections]\nkeepalive_timeout_seconds = 86400\n\n[directory]",
            "connections.keepalive_timeout_seconds",
        ),
        (
            "[directory]",
            "[connections]\nmax_total = 0\n\n[directory]",
            "connections.max_total",
        ),
        (
            "[directory]",
            "[connections]\nmax_per_clinet = 8\n\n[directory]",
            "max_per_clinet",
        ),
    ] {
        assert!(text.contains(from), "fixture lacks {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
        let (ok, out) = check(&path);
        assert!(!ok, "{to} should fail: {out}");
        assert!(
            out.contains(expect),
            "{to}: message should name {expect}: {out}"
        );
    }
}

#[test]
fn a_missing_file_fails() {
    let (ok, out) = check(std::path::Path::new("/nonexistent/gateway.toml"));
    assert!(!ok);
    assert!(out.contains("cannot read"), "{out}");
}

#[test]
fn the_documented_example_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.example.toml");
    let r = esia_gate::config::load(std::path::Path::new(path)).expect("example parses");
    assert_eq!(r.settings.identity_headers.user, "X-Remote-User");
}

fn policy_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .arg("policy")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run esia-gate policy");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn policy_explain_names_the_decision_and_the_stage() {
    let (ok, out) = policy_cli(&[
        "explain",
        "policies/yaroslavl-2019.toml",
        "--date",
        "2019-01-02",
        "--role",
        "parent",
        "--session",
        "password",
        "--trust",
        "any",
        "--path",
        "/grades",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("decision: hide"), "{out}");
    assert!(out.contains("esia-only-grades"), "{out}");
    let (ok, out) = policy_cli(&[
        "explain",
        "policies/yaroslavl-2019.toml",
        "--date",
        "2018-12-15",
        "--role",
        "parent",
        "--session",
        "password",
        "--trust",
        "any",
        "--path",
        "/grades",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("decision: show"), "{out}");
}

#[test]
fn policy_timeline_prints_dates_by_roles_and_fails_on_a_broken_file() {
    let (ok, out) = policy_cli(&["timeline", "policies/irkutsk-2018.toml"]);
    assert!(ok, "{out}");
    assert!(out.contains("2018-12-01"), "{out}");
    assert!(out.contains("student_under_14"), "{out}");
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ntimezone = \"Europe/Moscow\"\n[[stages]]\nfrom = 2019-13-01\n",
    )
    .expect("write");
    let (ok, out) = policy_cli(&["timeline", &bad.display().to_string()]);
    assert!(!ok, "{out}");
    assert!(out.contains("bad.toml:"), "file:line:col expected: {out}");
}

#[test]
fn an_unresolvable_diary_name_is_a_check_error_naming_it() {
    let (_dir, path, text) = prepared();
    let bad = text.replace(
        &format!("url = \"http://127.0.0.1:{}\"", Ports::DEMO.diary),
        "url = \"http://no-such-diary.invalid:8000\"",
    );
    assert_ne!(bad, text, "the diary's url is in the demo configuration");
    std::fs::write(&path, bad).expect("write");
    let (ok, out) = check(&path);
    assert!(!ok, "{out}");
    assert!(
        out.contains("upstream.url") && out.contains("no-such-diary.invalid"),
        "{out}"
    );
}

#[test]
fn a_help_phone_or_address_that_does_not_work_is_a_check_error_naming_it() {
    let (_dir, path, text) = prepared();
    assert!(text.contains("[help]"), "the demo names its help contacts");
    let bad = text.replace(
        "phones = [\"8 800 000-00-00\"]",
        "phones = [\"8 800 OOO-00-00\"]",
    );
    assert_ne!(bad, text);
    std::fs::write(&path, &bad).expect("write");
    let (ok, out) = check(&path);
    assert!(!ok, "{out}");
    assert!(out.contains("help.phones"), "{out}");
    let bad = text.replace(
        "url = \"https://diary.example/help\"",
        "url = \"diary.example/help\"",
    );
    std::fs::write(&path, &bad).expect("write");
    let (ok, out) = check(&path);
    assert!(!ok, "{out}");
    assert!(out.contains("help.url"), "{out}");
}

/// `esia-gate pages`: regional IT reads every page, with the
/// configuration's help contacts and each policy's texts, without logging
/// in as anyone.
#[test]
fn pages_writes_every_page_with_the_regions_words_and_an_index() {
    let (dir, config, _) = prepared();
    let out_dir = dir.path().join("preview");
    let out = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .args(["pages", "--config"])
        .arg(&config)
        .args([
            "--policy",
            "policies/voronezh-2017.toml",
            "--policy",
            "policies/arkhangelsk-2024.toml",
            "--policy",
            "policies/dnevnik-poo.toml",
            "--out",
        ])
        .arg(&out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run esia-gate pages");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("index.html"), "{text}");
    let read = |name: &str| {
        std::fs::read_to_string(out_dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let index = read("index.html");
    let mut pages = 0;
    for entry in std::fs::read_dir(&out_dir).expect("preview dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let html = read(&name);
        // Every page: Russian, for a phone, with the demo's help contacts.
        assert!(html.contains("lang=\"ru\""), "{name}");
        assert!(html.contains("width=device-width"), "{name}");
        assert!(
            html.contains("Служба поддержки электронного дневника"),
            "{name}"
        );
        assert!(html.contains("mailto:support@diary.example"), "{name}");
        assert!(html.contains("tel:88001007010"), "{name}: Госуслуги's line");
        if name != "index.html" {
            assert!(index.contains(&format!("href=\"{name}\"")), "{name}");
            pages += 1;
        }
    }
    assert!(pages >= 40, "{pages} pages");
    let voronezh = read("voronezh-2017-confirm-confirmed.html");
    assert!(voronezh.contains("29 сентября 2017"), "{voronezh}");
    assert!(!voronezh.contains("2024"), "{voronezh}");
    let arkhangelsk = read("arkhangelsk-2024-confirm-confirmed.html");
    assert!(arkhangelsk.contains("1 июля 2024"), "{arkhangelsk}");
    let poo = read("dnevnik-poo-confirm-standard.html");
    assert!(poo.contains("Нужна стандартная учётная запись"), "{poo}");
    // Without --policy the configuration's own policy is shown (none in
    // the demo: the common pages only); a broken policy file is an error.
    let (ok, out) = {
        let o = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
            .args(["pages", "--policy", "/nonexistent/policy.toml", "--out"])
            .arg(dir.path().join("none"))
            .output()
            .expect("run");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    assert!(!ok);
    assert!(out.contains("/nonexistent/policy.toml"), "{out}");
}

fn links_cli(args: &[&str], config: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_esia-gate"))
        .arg("links")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run esia-gate links");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn one_persons_records_are_exported_and_forgotten_by_oid() {
    let (dir, path, _) = prepared();
    let records = [
        r#"{"type":"link","oid":"1000001","login":"ivanova.m","kind":"own","source":"snils","created_at":1}"#,
        r#"{"type":"link","oid":"1000001","login":"ivanov.p","kind":"child","source":"snils","created_at":1}"#,
        r#"{"type":"link","oid":"1000002","login":"petrov.a","kind":"own","source":"snils","created_at":1}"#,
        r#"{"type":"login","login":"ivanova.m","method":"esia","at":1700000000}"#,
        r#"{"type":"login","login":"ivanova.m","method":"password","at":1700000100}"#,
        r#"{"type":"login","login":"petrov.a","method":"esia","at":1700000200}"#,
        r#"{"type":"match_failure","at":1700000300,"reason":"fio_differs","oid":"1000001","logins":[]}"#,
    ];
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, records.join("\n")).expect("seed");
    let (ok, _, err) = links_cli(&["import", "--in", file.to_str().expect("path")], &path);
    assert!(ok, "{err}");

    let (ok, out, err) = links_cli(&["export", "--oid", "1000001"], &path);
    assert!(ok, "{err}");
    let mine: Vec<&str> = out.lines().collect();
    assert_eq!(mine.len(), 5, "2 links, 2 logins, 1 failure: {out}");
    assert!(!out.contains("petrov.a"), "{out}");

    let (ok, out, err) = links_cli(&["forget", "--oid", "1000001"], &path);
    assert!(ok, "{err}");
    // 2 links, 2 history rows, 1 last-login row, 1 failure.
    assert!(err.contains("removed 6 records of one person"), "{err}");
    assert!(
        !format!("{out}{err}").contains("1000001") && !err.contains("ivanova"),
        "counts only, no personal data: {out}{err}"
    );
    let (ok, out, err) = links_cli(&["export"], &path);
    assert!(ok, "{err}");
    assert!(
        !out.contains("1000001") && !out.contains("ivanova.m"),
        "{out}"
    );
    assert_eq!(
        out.lines().count(),
        2,
        "the other person's link and login: {out}"
    );
}

#[test]
fn links_migrate_moves_a_version_1_redis_layout_once() {
    let redis = esia_gate_dev::redis::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let (_dir, path, text) = prepared();
    std::fs::write(
        &path,
        format!(
            "{text}\n[store]\nbackend = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("config");
    let k = |p: &str| format!("esia-gate:v1:{{durable}}:{p}");
    let run = |args: &[&str]| {
        let r = esia_gate_dev::redis::command(redis.port(), args).expect("redis");
        assert!(!r.starts_with('-'), "{args:?}: {r}");
    };
    let link =
        r#"{"oid":"1000001","login":"ivanova.m","kind":"own","source":"snils","created_at":1}"#;
    run(&["HSET", &k("links:1000001"), "own:ivanova.m", link]);
    run(&["HSET", &k("owners"), "ivanova.m", "1000001"]);
    run(&["SADD", &k("oids"), "1000001"]);
    let login = r#"{"login":"ivanova.m","method":"esia","at":1700000000}"#;
    run(&["RPUSH", &k("history"), login]);
    run(&["HSET", &k("last:esia"), "ivanova.m", "1700000000"]);

    let (ok, _, err) = links_cli(&["migrate"], &path);
    assert!(ok, "{err}");
    assert!(
        err.contains("1 links, 1 last logins, 1 login-history rows, 0 failed matches; layout 2"),
        "{err}"
    );
    let (ok, _, err) = links_cli(&["migrate"], &path);
    assert!(ok, "{err}");
    assert!(err.contains("0 links") && err.contains("layout 2"), "{err}");
    let (ok, out, err) = links_cli(&["export"], &path);
    assert!(ok, "{err}");
    assert!(
        out.contains("\"type\":\"link\"") && out.contains("\"type\":\"login\""),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
}
