//! `esia-gate policy …`: answers for operators. `explain` says what happens
//! to one request on one date and which stage decided it; `timeline` prints
//! the stages as dates × roles; `check` validates a file. Every command
//! exits non-zero on an invalid file.
//!
//! Here: the commands and their arguments; the texts are written in
//! `answer` (explain) and `timeline`.

mod answer;
#[cfg(test)]
mod tests;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::eval::SessionKind;
use super::load::load;
use super::model::{PolicyRole, TrustLevel};

pub use answer::explain;
pub use timeline::{stage_summary, timeline};

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
    /// The ESIA account's level (for --session esia): simplified, standard
    /// or confirmed (`any` reads as simplified: the least ESIA gives).
    #[arg(long, value_enum, default_value_t = TrustArg::Simplified)]
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
    /// A simplified account (also `any`: the least any ESIA account has).
    #[value(alias = "any")]
    Simplified,
    /// A standard account: documents and SNILS checked.
    Standard,
    Confirmed,
}

impl TrustArg {
    pub fn level(self) -> TrustLevel {
        match self {
            Self::Simplified => TrustLevel::Simplified,
            Self::Standard => TrustLevel::Standard,
            Self::Confirmed => TrustLevel::Confirmed,
        }
    }
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
                    level: a.trust.level(),
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
