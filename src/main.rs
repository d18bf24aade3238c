//! The `esia-gate` command: run the gateway, check a configuration, or
//! start the demo (ESIA emulator, sample diary and gateway on loopback).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use esia_gate::{app, config, demo};

#[derive(Parser)]
#[command(
    name = "esia-gate",
    version,
    about = "ESIA (Госуслуги) login gateway for a school diary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the gateway.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Take over the listeners of a running instance (Pingora upgrade).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a configuration without starting; non-zero exit on any error.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Emulator, sample diary and gateway on loopback, for a first look.
    Demo {
        /// Where keys, fixtures and configuration are written.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
    },
    /// The development stack alone (used by the tests).
    #[command(hide = true)]
    Dev {
        #[command(subcommand)]
        what: DevCommand,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// The ESIA emulator.
    Emulator {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The sample diary.
    Diary {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    // The signer and the emulator need OpenSSL's GOST engine.
    let engine = esia_gate::esia::gost::init_engine();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => {
            init_logs("warn", "text");
            match config::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(|r| {
                    engine.map_err(anyhow::Error::from)?;
                    app::build_gateway(r, app::system_clock())
                }) {
                Ok(_) => {
                    println!("{}: OK", config.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e:#}", config.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run { config, upgrade } => {
            let r = match config::load(&config) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            init_logs(&r.settings.log.level, &r.settings.log.format);
            if let Err(e) = engine {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            let opt = pingora::server::configuration::Opt {
                upgrade,
                ..Default::default()
            };
            match app::build_gateway(r.clone(), app::system_clock())
                .and_then(|g| app::run(r, g, Some(opt)))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("esia-gate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { dir } => {
            init_logs("info", "text");
            if let Err(e) = engine {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            match demo::run(&dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("esia-gate demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Dev { what } => {
            init_logs("info", "text");
            if let Err(e) = engine {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            let result = match what {
                DevCommand::Emulator { config } => demo::run_emulator(&config),
                DevCommand::Diary { config } => demo::run_diary(&config),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("esia-gate dev: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logs(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
