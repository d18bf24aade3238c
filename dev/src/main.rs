//! `esia-gate-dev`: the development stack's own command. `demo` starts the
//! ESIA emulator, the sample diary and the gateway on loopback; `emulator`
//! and `diary` start one of them alone.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use esia_gate_dev::{demo, diary::DiaryMode};

#[derive(Parser)]
#[command(
    name = "esia-gate-dev",
    version,
    about = "esia-gate's development stack: ESIA emulator, sample diary, demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Emulator, sample diary and gateway on loopback, for a first look.
    Demo {
        /// Where keys, fixtures and configuration are written.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
        /// A regional policy to enforce (e.g. policies/yaroslavl-2019.toml).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// With --policy: pretend it is this date (YYYY-MM-DD), to see a cut-over.
        #[arg(long, requires = "policy")]
        date: Option<String>,
        /// How the sample diary reads requests: normal, iis (like ASP.NET on
        /// IIS) or php (like a PHP diary).
        #[arg(long, default_value = "normal")]
        diary_mode: DiaryMode,
    },
    /// The ESIA emulator alone.
    Emulator {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The sample diary alone.
    Diary {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    // The emulator checks GOST signatures; the demo's gateway signs with them.
    let engine = esia_gate::esia::gost::init_engine();
    let cli = Cli::parse();
    let _ = esia_gate::telemetry::logging::init("info", "text", None);
    if let Err(e) = engine {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Demo {
            dir,
            policy,
            date,
            diary_mode,
        } => demo::run(&dir, policy.as_deref(), date.as_deref(), diary_mode),
        Command::Emulator { config } => demo::run_emulator(&config),
        Command::Diary { config } => demo::run_diary(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("esia-gate-dev: {e:#}");
            ExitCode::FAILURE
        }
    }
}
