//! `esia-gate policy …`: answers for operators. `explain` says what happens
//! to one request on one date and which stage decided it; `timeline` prints
//! the stages as dates × roles; `check` validates a file. Every command
//! exits non-zero on an invalid file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::eval::{Action, Decision, Input, SessionKind, evaluate};
use super::load::load;
use super::model::{PasswordLogin, Policy, PolicyRole, Stage, Visibility};

/// The `policy` subcommands (embed in a clap `Subcommand` enum with
/// `#[command(subcommand)]`, then call [`run`]).
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// What the policy does with one request on one date, and which stage decides.
    Explain(ExplainArgs),
    /// The stages as a table: start dates × roles.
    Timeline {
        /// The policy file.
        file: PathBuf,
    },
    /// Check a policy file; exit 0 only when it is valid.
    Check {
        /// The policy file.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The policy file.
    pub file: PathBuf,
    /// The local date in the region (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub date: NaiveDate,
    /// staff, parent, student_14_plus, student_under_14, student (age from
    /// --birth-date) or unknown.
    #[arg(long, default_value = "unknown")]
    pub role: String,
    /// A student's birth date (YYYY-MM-DD), with --role student.
    #[arg(long, value_parser = parse_date)]
    pub birth_date: Option<NaiveDate>,
    /// The kind of session.
    #[arg(long, value_enum)]
    pub session: SessionArg,
    /// The ESIA account's level (for --session esia).
    #[arg(long, value_enum, default_value_t = TrustArg::Any)]
    pub trust: TrustArg,
    /// The request path, with its query string when the diary routes by it
    /// (`/Modules.php?modname=Grades/StudentGrades.php`).
    #[arg(long)]
    pub path: String,
    /// The request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The account has never logged in (matters for `existing_users`).
    #[arg(long)]
    pub new_user: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionArg {
    Esia,
    Password,
    /// A diary cookie the gateway did not see log in (or no longer knows).
    Unattributed,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustArg {
    /// Not confirmed (simplified or standard).
    Any,
    Confirmed,
}

#[derive(Debug, Parser)]
#[command(
    name = "esia-gate policy",
    about = "Check and explain a regional policy file"
)]
struct PolicyCli {
    #[command(subcommand)]
    command: PolicyCommand,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| format!("`{s}` is not a date (YYYY-MM-DD): {e}"))
}

/// Entry point for `esia-gate policy ARGS…`: `args` are the words after
/// `policy` (`explain FILE --date …`, `timeline FILE`, `check FILE`).
/// Prints the answer on stdout, errors on stderr; non-zero exit on any error.
pub fn main_policy(args: impl IntoIterator<Item = String>) -> ExitCode {
    match run_cli(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(text) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            ExitCode::FAILURE
        }
    }
}

/// Like [`main_policy`] without printing: `Ok` is the text for stdout
/// (including `--help`), `Err` the text for stderr.
pub fn run_cli(args: impl IntoIterator<Item = String>) -> Result<String, String> {
    let argv = std::iter::once("esia-gate policy".to_string()).chain(args);
    match PolicyCli::try_parse_from(argv) {
        Ok(cli) => run(&cli.command),
        Err(e) if e.use_stderr() => Err(e.render().to_string()),
        Err(e) => Ok(e.render().to_string()),
    }
}

/// Run a parsed `policy` subcommand.
pub fn run(cmd: &PolicyCommand) -> Result<String, String> {
    match cmd {
        PolicyCommand::Explain(a) => {
            let policy = load(&a.file).map_err(|e| e.to_string())?;
            let role = parse_role(&a.role, a.birth_date, a.date)?;
            let session = match a.session {
                SessionArg::Esia => SessionKind::Esia {
                    trusted: a.trust == TrustArg::Confirmed,
                },
                SessionArg::Password => SessionKind::Password,
                SessionArg::Unattributed => SessionKind::Unattributed,
                SessionArg::Anonymous => SessionKind::Anonymous,
            };
            Ok(explain(
                &policy,
                a.date,
                role,
                session,
                &a.method,
                &a.path,
                !a.new_user,
            ))
        }
        PolicyCommand::Timeline { file } => {
            let policy = load(file).map_err(|e| e.to_string())?;
            Ok(timeline(&policy))
        }
        PolicyCommand::Check { file } => {
            let policy = load(file).map_err(|e| e.to_string())?;
            Ok(format!(
                "{}: OK ({}, {} routes, {} stages)\n",
                file.display(),
                policy.name,
                policy.routes.len(),
                policy.stages.len()
            ))
        }
    }
}

fn parse_role(
    role: &str,
    birth_date: Option<NaiveDate>,
    on: NaiveDate,
) -> Result<Option<PolicyRole>, String> {
    let role = role.trim().to_ascii_lowercase();
    if birth_date.is_some() && role != "student" {
        return Err("--birth-date goes with --role student".to_string());
    }
    match role.as_str() {
        "unknown" | "none" => Ok(None),
        other => PolicyRole::from(other, birth_date, on).map(Some).ok_or_else(|| {
            format!(
                "unknown role `{other}`: expected staff, parent, student_14_plus, student_under_14, student or unknown"
            )
        }),
    }
}

/// What the policy does with one request, in words: the decision, the stage
/// that made it and why, what the user gets, and a shadow stage's decision
/// when one is in force.
pub fn explain(
    policy: &Policy,
    date: NaiveDate,
    role: Option<PolicyRole>,
    session: SessionKind,
    method: &str,
    path: &str,
    existing_user: bool,
) -> String {
    let route = policy.classify(&super::routes::RouteRequest::get(method, path));
    let input = Input {
        date,
        route: route.clone(),
        session,
        role,
        existing_user,
    };
    let out = evaluate(policy, &input);
    let d = &out.enforced;
    let mut s = String::new();
    let _ = writeln!(s, "policy:   {} ({})", policy.name, policy.timezone);
    let _ = writeln!(
        s,
        "request:  {} {} -> route class {}",
        method.to_ascii_uppercase(),
        path,
        route
    );
    let session_text = match session {
        SessionKind::Esia { trusted: true } => "ESIA session, confirmed account",
        SessionKind::Esia { trusted: false } => "ESIA session, account not confirmed",
        SessionKind::Password => "password session",
        SessionKind::Unattributed => {
            "unattributed diary cookie (the gateway did not see its login)"
        }
        SessionKind::Anonymous => "anonymous",
    };
    let _ = writeln!(
        s,
        "who:      {}, {}{}",
        role.map_or("role unknown", PolicyRole::as_str),
        session_text,
        if existing_user { "" } else { ", new user" }
    );
    let _ = writeln!(s, "date:     {date} (local date in {})", policy.timezone);
    let _ = writeln!(s, "decision: {}", d.action.name());
    let _ = writeln!(s, "stage:    {}", stage_text(policy, d));
    let _ = writeln!(s, "why:      {}", d.reason);
    let _ = writeln!(s, "answer:   {}", answer_text(d));
    let _ = writeln!(s, "banner:   {}", d.banner.as_deref().unwrap_or("none"));
    let _ = writeln!(
        s,
        "button:   {}",
        if d.inject_esia_button {
            "«Войти через госуслуги» inserted into the page"
        } else {
            "none"
        }
    );
    if let Some(shadow) = &out.shadow {
        let _ = writeln!(
            s,
            "shadow:   stage {} (enforce = false) decides {}: {}; counted and logged, not enforced",
            stage_text(policy, shadow),
            shadow.action.name(),
            shadow.reason
        );
    }
    s
}

fn stage_text(policy: &Policy, d: &Decision) -> String {
    match &d.stage {
        None => "none (before the first stage for this role)".to_string(),
        Some(name) => match policy.stages.iter().find(|s| s.name == *name) {
            Some(st) => format!("{name} (from {})", st.from.format("%Y-%m-%d")),
            None => name.to_string(),
        },
    }
}

fn answer_text(d: &Decision) -> String {
    match &d.action {
        Action::Show => "passed to the diary".to_string(),
        Action::Hide { page } => format!("closed page «{}», not passed to the diary", page.title),
        Action::Rewrite {
            status,
            content_type,
            body,
        } => format!(
            "configured answer: {status} {content_type}, {} bytes; not passed to the diary",
            body.len()
        ),
        Action::Login => "sent to ESIA login (a redirect for pages, 401 for API calls)".to_string(),
        Action::Relogin { href } => format!(
            "sent to the diary's login page {href} with the unknown diary cookie cleared (a redirect for pages, 401 for API calls)"
        ),
        Action::DenyPasswordLogin => {
            "the login form is not passed to the diary: a page says to log in through ESIA"
                .to_string()
        }
        Action::ConfirmAccount => {
            "a page explains how to confirm the ESIA account; not passed to the diary".to_string()
        }
    }
}

/// A stage in a table cell: `pw:existing grades:hide/rewrite trust:any`,
/// plus `anon:esia`, `+banner`, other classes and `(shadow)` when they apply.
pub fn stage_summary(stage: &Stage) -> String {
    let pw = match stage.password_login {
        PasswordLogin::Allowed => "allowed",
        PasswordLogin::ExistingUsers => "existing",
        PasswordLogin::Denied => "denied",
    };
    let grades = if stage.grades_html == stage.grades_api {
        stage.grades_html.as_str().to_string()
    } else {
        format!(
            "{}/{}",
            stage.grades_html.as_str(),
            stage.grades_api.as_str()
        )
    };
    let mut s = String::new();
    if !stage.enforce {
        s.push_str("(shadow) ");
    }
    let _ = write!(s, "pw:{pw}");
    // With password login denied, password sessions go to ESIA: what they
    // would see on grade routes does not matter.
    if stage.password_login != PasswordLogin::Denied {
        let _ = write!(s, " grades:{grades}");
        for (class, v) in &stage.classes {
            if *v != Visibility::Show {
                let _ = write!(s, " {class}:{}", v.as_str());
            }
        }
    }
    let _ = write!(s, " trust:{}", stage.trust.as_str());
    if stage.anonymous_to_esia {
        s.push_str(" anon:esia");
    }
    if stage.banner.is_some() {
        s.push_str(" +banner");
    }
    s
}

/// The stages as a table: one row per start date (`YYYY-MM-DD`), one column
/// per role, each cell the stage in force for that role from that date.
pub fn timeline(policy: &Policy) -> String {
    let mut dates: Vec<NaiveDate> = policy.stages.iter().map(|s| s.from).collect();
    dates.dedup();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["date".to_string(), "starting".to_string()];
    header.extend(PolicyRole::ALL.iter().map(|r| r.as_str().to_string()));
    rows.push(header);
    for date in &dates {
        let starting: Vec<&str> = policy
            .stages
            .iter()
            .filter(|s| s.from == *date)
            .map(|s| &*s.name)
            .collect();
        let mut row = vec![date.format("%Y-%m-%d").to_string(), starting.join(", ")];
        for role in PolicyRole::ALL {
            row.push(match policy.stage_for(Some(role), *date, |_| true) {
                Some(stage) => format!("{}: {}", stage.name, stage_summary(stage)),
                None => "-".to_string(),
            });
        }
        rows.push(row);
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{} ({})\n", policy.name, policy.timezone);
    if let Some(desc) = &policy.description {
        let _ = writeln!(out, "{desc}");
    }
    out.push('\n');
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[c].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(
        "\n`-`: no stage yet, everything allowed. pw: password login (allowed, existing = \
         accounts that logged in before, denied); grades: what a password session gets on \
         grade pages/API; trust: least ESIA account level; anon:esia: anonymous visitors go \
         straight to ESIA.\n",
    );
    out
}

#[cfg(test)]
mod tests {
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
}
