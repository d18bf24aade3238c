//! The `policy` commands as an operator runs them: explaining requests on
//! the shipped policies, the timeline, invalid files and bad arguments.

use super::*;

fn policy_path(name: &str) -> String {
    format!("{}/policies/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

fn cli(args: &[&str]) -> Result<String, String> {
    run_cli(args.iter().map(|s| s.to_string()))
}

#[test]
fn explain_says_what_an_unattributed_diary_cookie_gets() {
    let out = cli(&[
        "explain",
        &policy_path("irkutsk-2018"),
        "--date",
        "2018-12-02",
        "--session",
        "unattributed",
        "--path",
        "/Grades.",
    ])
    .unwrap();
    assert!(out.contains("decision: relogin\n"), "{out}");
    assert!(out.contains("route class grades_html"), "{out}");
    assert!(out.contains("unattributed diary cookie"), "{out}");
    assert!(
        out.contains("sent to the diary's login page /login"),
        "{out}"
    );
}

#[test]
fn explain_says_hide_and_names_the_stage() {
    let out = cli(&[
        "explain",
        &policy_path("yaroslavl-2019"),
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
    ])
    .unwrap();
    assert!(out.contains("decision: hide\n"), "{out}");
    assert!(
        out.contains("stage:    esia-only-grades (from 2019-01-01)"),
        "{out}"
    );
    assert!(out.contains("route class grades_html"), "{out}");
}

#[test]
fn explain_a_new_users_login_and_a_student_by_birth_date() {
    let out = cli(&[
        "explain",
        &policy_path("yaroslavl-2019"),
        "--date",
        "2019-01-02",
        "--role",
        "parent",
        "--session",
        "anonymous",
        "--path",
        "/login",
        "--method",
        "post",
        "--new-user",
    ])
    .unwrap();
    assert!(out.contains("decision: deny_password_login"), "{out}");
    let out = cli(&[
        "explain",
        &policy_path("irkutsk-2018"),
        "--date",
        "2018-12-02",
        "--role",
        "student",
        "--birth-date",
        "2005-05-05",
        "--session",
        "password",
        "--path",
        "/grades",
    ])
    .unwrap();
    assert!(out.contains("who:      student_under_14"), "{out}");
    assert!(out.contains("decision: show"), "{out}");
    let out = cli(&[
        "explain",
        &policy_path("arkhangelsk-2024"),
        "--date",
        "2024-07-01",
        "--role",
        "student_under_14",
        "--session",
        "esia",
        "--trust",
        "any",
        "--path",
        "/grades",
    ])
    .unwrap();
    assert!(out.contains("decision: confirm_account"), "{out}");
}

#[test]
fn timeline_is_a_table_of_dates_and_roles() {
    let out = cli(&["timeline", &policy_path("irkutsk-2018")]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.starts_with("date"))
        .unwrap_or_else(|| panic!("{out}"));
    for role in PolicyRole::ALL {
        assert!(header.contains(role.as_str()), "{out}");
    }
    let dec = lines
        .iter()
        .find(|l| l.starts_with("2018-12-01"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(dec.contains("esia-only: pw:denied"), "{out}");
    assert!(dec.contains("under-14-keep-passwords: pw:allowed"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("2018-10-04")), "{out}");
}

#[test]
fn an_invalid_file_is_an_error_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ntimezone = \"Europe/Moscow\"\nfrobnicate = true\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    let e = cli(&["timeline", &bad]).unwrap_err();
    assert!(
        e.contains("bad.toml:3:1: unknown field `frobnicate`"),
        "{e}"
    );
    let e = cli(&["check", &bad]).unwrap_err();
    assert!(e.contains(":3:1:"), "{e}");
    let e = cli(&[
        "explain",
        &bad,
        "--date",
        "2019-01-01",
        "--session",
        "password",
        "--path",
        "/",
    ])
    .unwrap_err();
    assert!(e.contains(":3:1:"), "{e}");
    let e = cli(&["timeline", "/nonexistent/policy.toml"]).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    assert_eq!(main_policy(["check".to_string(), bad]), ExitCode::FAILURE);
}

#[test]
fn bad_arguments_are_errors_and_help_is_not() {
    let path = policy_path("voronezh-2017");
    assert!(
        cli(&[
            "explain",
            &path,
            "--date",
            "2017-13-01",
            "--session",
            "password",
            "--path",
            "/"
        ])
        .is_err()
    );
    assert!(
        cli(&[
            "explain",
            &path,
            "--date",
            "2017-10-01",
            "--session",
            "web",
            "--path",
            "/"
        ])
        .is_err()
    );
    let e = cli(&[
        "explain",
        &path,
        "--date",
        "2017-10-01",
        "--role",
        "teacher",
        "--session",
        "password",
        "--path",
        "/",
    ])
    .unwrap_err();
    assert!(e.contains("unknown role `teacher`"), "{e}");
    assert!(cli(&["--help"]).unwrap().contains("timeline"));
}

#[test]
fn every_shipped_policy_checks() {
    for name in [
        "voronezh-2017",
        "yaroslavl-2019",
        "irkutsk-2018",
        "arkhangelsk-2024",
    ] {
        let out = cli(&["check", &policy_path(name)]).unwrap();
        assert!(out.contains(&format!("OK ({name}")), "{out}");
    }
}

#[test]
fn explain_tells_the_three_levels_apart() {
    let ask = |trust: &str| {
        cli(&[
            "explain",
            &policy_path("dnevnik-poo"),
            "--date",
            "2018-01-02",
            "--role",
            "parent",
            "--session",
            "esia",
            "--trust",
            trust,
            "--path",
            "/grades",
        ])
        .unwrap()
    };
    let simplified = ask("simplified");
    assert!(
        simplified.contains("decision: confirm_account"),
        "{simplified}"
    );
    assert!(simplified.contains("simplified account"), "{simplified}");
    assert!(simplified.contains("[confirm.standard]"), "{simplified}");
    assert_eq!(ask("any"), simplified, "`any` reads as the least level");
    let standard = ask("standard");
    assert!(standard.contains("decision: show"), "{standard}");
    assert!(ask("confirmed").contains("decision: show"));
}
