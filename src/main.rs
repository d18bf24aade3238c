//! The `esia-gate` command: run the gateway, check a configuration, or
//! start the demo (ESIA emulator, sample diary and gateway on loopback).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use esia_gate::telemetry::logging;
use esia_gate::{app, config};

/// Every proxied request allocates and frees many small buffers (Pingora's
/// headers and bodies, ours); mimalloc spends less CPU on them than glibc's
/// malloc (measured in benches/proxy_overhead).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// The configuration file.
        #[arg(long, short, env = "ESIA_GATE_CONFIG")]
        config: PathBuf,
        /// Take over the listeners of a running instance (Pingora upgrade).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a configuration without starting; non-zero exit on any error.
    Check {
        /// The configuration file.
        #[arg(long, short, env = "ESIA_GATE_CONFIG")]
        config: PathBuf,
    },
    /// The demo lives in the development binary: says how to start it.
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
    /// Explain or print a regional policy file (non-zero exit when invalid).
    Policy {
        #[command(subcommand)]
        what: esia_gate::policy::explain::PolicyCommand,
    },
    /// Write every page of the gateway as HTML files (with an index.html), to review
    /// the texts, the region's words and the help contacts without logging in.
    Pages {
        /// The configuration: its [help] contacts, and its policy when --policy is not given.
        #[arg(long, short, env = "ESIA_GATE_CONFIG")]
        config: Option<PathBuf>,
        /// A policy file whose texts to show (repeat for several).
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Where to write the pages (created if missing).
        #[arg(long, default_value = "pages-preview")]
        out: PathBuf,
    },
    /// Durable records (links, login history, match failures): export, import,
    /// one person's records, the Redis key layout.
    Links {
        #[command(subcommand)]
        what: LinksCommand,
    },
}

#[derive(Subcommand)]
enum LinksCommand {
    /// Write every durable record of the configured store to stdout (or --out).
    Export {
        /// The configuration file.
        #[arg(long, short, env = "ESIA_GATE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only this person's records (their links, their own accounts' login
        /// history and their failed matches).
        #[arg(long)]
        oid: Option<String>,
    },
    /// Add the records of a file (or stdin) to the configured store.
    Import {
        /// The configuration file.
        #[arg(long, short, env = "ESIA_GATE_CONFIG")]
        config: PathBuf,
        #[arg(long = "in")]
        input: Option<PathBuf>,
    },
    /// Remove every durable record of one person (links, their own accounts'
    /// login history and last logins, their failed matches); prints counts only.
    Forget {
        #[arg(long, short)]
        config: PathBuf,
        /// The person's ESIA oid.
        #[arg(long)]
        oid: String,
    },
    /// Move records of the Redis key layout version 1 to version 2 (also done
    /// by the gateway at start); safe to run any number of times.
    Migrate {
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
            // Without an audit file nothing here can fail.
            let _ = init_logs("warn", "text", None);
            match config::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(|r| {
                    engine.map_err(anyhow::Error::from)?;
                    let from_env = r.from_env.clone();
                    Ok((app::check_gateway(r, app::system_clock())?, from_env))
                }) {
                Ok((notes, from_env)) => {
                    println!("{}: OK", config.display());
                    // Which settings the environment gave: names, never values.
                    for key in from_env {
                        println!("environment: {key} from {}", config::env::var_name(key));
                    }
                    for n in notes {
                        println!("note: {n}");
                    }
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
            let audit_file = r.settings.log.audit_file.as_ref().map(|p| r.path(p));
            if let Err(e) = init_logs(
                &r.settings.log.level,
                &r.settings.log.format,
                audit_file.as_deref(),
            ) {
                eprintln!("esia-gate: {e}");
                return ExitCode::FAILURE;
            }
            if let Err(e) = engine {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            for key in &r.from_env {
                tracing::info!(
                    key,
                    variable = %config::env::var_name(key),
                    "setting taken from the environment"
                );
            }
            let opt = pingora::server::configuration::Opt {
                upgrade,
                ..Default::default()
            };
            match app::build_gateway(r.clone(), app::system_clock())
                .and_then(|g| app::run_config(&config, r, g, Some(opt)))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("esia-gate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { .. } => {
            // The production binary carries no ESIA emulator.
            eprintln!(
                "esia-gate: the demo (ESIA emulator, sample diary and gateway) is in the \
                 development binary: run scripts/demo, or esia-gate-dev demo"
            );
            ExitCode::FAILURE
        }
        Command::Policy { what } => match esia_gate::policy::explain::run(&what) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Pages {
            config,
            policy,
            out,
        } => match pages(config.as_deref(), &policy, &out) {
            Ok(n) => {
                println!("{n} pages written to {}", out.join("index.html").display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("esia-gate pages: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Links { what } => match links(what) {
            Ok(msg) => {
                eprintln!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("esia-gate links: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Operational lines to stderr, audit lines to their file or stdout (see
/// `telemetry::logging`).
fn init_logs(level: &str, format: &str, audit_file: Option<&Path>) -> Result<(), String> {
    logging::init(level, format, audit_file)
}

/// `pages`: the configuration's help contacts and the policies' texts on
/// every page, written into `out`.
fn pages(config: Option<&Path>, policy: &[PathBuf], out: &Path) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    let resolved = config.map(config::load).transpose()?;
    let help = resolved
        .as_ref()
        .map(|r| r.settings.help.clone())
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = policy.to_vec();
    if files.is_empty()
        && let Some(r) = &resolved
        && let Some(p) = &r.settings.policy
    {
        files.push(r.path(&p.file));
    }
    let policies = files
        .iter()
        .map(|f| esia_gate::policy::load(f))
        .collect::<Result<Vec<_>, _>>()?;
    let written = esia_gate::pages::preview::write_all(out, &help, &policies)
        .with_context(|| format!("cannot write into {}", out.display()))?;
    Ok(written.len())
}

/// `links export|import` against the store the configuration names.
fn links(what: LinksCommand) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let config = match &what {
        LinksCommand::Export { config, .. }
        | LinksCommand::Import { config, .. }
        | LinksCommand::Forget { config, .. }
        | LinksCommand::Migrate { config } => config,
    };
    let r = config::load(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if let LinksCommand::Migrate { .. } = what {
            return migrate(&r).await;
        }
        // With durable records in PostgreSQL only PostgreSQL is opened: the
        // commands run beside running gateways.
        let store = esia_gate::store::open_for(
            &r.settings.store,
            &r.base_dir,
            esia_gate::store::Purpose::Durable,
        )
        .await
        .context("store")?;
        match what {
            LinksCommand::Export { out, oid, .. } => {
                let oid = oid.map(esia_gate::identity::EsiaOid);
                let export = async |w: &mut (dyn tokio::io::AsyncWrite + Unpin + Send)| match &oid {
                    Some(o) => {
                        esia_gate::store::migrate::export_person_jsonl(store.as_ref(), o, w).await
                    }
                    None => esia_gate::store::migrate::export_jsonl(store.as_ref(), w).await,
                };
                let n = match out {
                    Some(path) => {
                        let mut f = tokio::fs::File::create(&path)
                            .await
                            .with_context(|| format!("cannot create {}", path.display()))?;
                        let n = export(&mut f).await?;
                        f.sync_all().await?;
                        n
                    }
                    None => export(&mut tokio::io::stdout()).await?,
                };
                Ok(format!("exported {n} records"))
            }
            LinksCommand::Forget { oid, .. } => {
                let n = store
                    .forget_person(&esia_gate::identity::EsiaOid(oid))
                    .await?;
                Ok(format!("removed {n} records of one person"))
            }
            LinksCommand::Migrate { .. } => Ok(String::new()),
            LinksCommand::Import { input, .. } => {
                let n = match input {
                    Some(path) => {
                        let f = tokio::fs::File::open(&path)
                            .await
                            .with_context(|| format!("cannot open {}", path.display()))?;
                        esia_gate::store::migrate::import_jsonl(
                            store.as_ref(),
                            tokio::io::BufReader::new(f),
                        )
                        .await?
                    }
                    None => {
                        esia_gate::store::migrate::import_jsonl(
                            store.as_ref(),
                            tokio::io::BufReader::new(tokio::io::stdin()),
                        )
                        .await?
                    }
                };
                Ok(format!("imported {n} records"))
            }
        }
    })
}

/// `links migrate`: the Redis key layout version 1 → 2 (waits for a gateway
/// that is migrating now). The embedded store upgrades its file when opened.
async fn migrate(r: &config::Resolved) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use esia_gate::config::store::{DurableBackend, StoreBackend};
    let s = &r.settings.store;
    if s.durable == DurableBackend::Postgres {
        // Opening applies the schema's migrations (under a lock).
        esia_gate::store::open_for(s, &r.base_dir, esia_gate::store::Purpose::Durable)
            .await
            .context("store")?;
        let notes = esia_gate::store::check_notes(s, &r.base_dir)
            .await
            .context("store")?;
        return Ok(format!(
            "durable records are in PostgreSQL: {}; Redis keeps none to migrate (move records \
             kept there before with links export and links import)",
            notes.join("; ").trim_start_matches("store: ")
        ));
    }
    if s.backend != StoreBackend::Redis {
        esia_gate::store::open(s, &r.base_dir)
            .await
            .context("store")?;
        return Ok(
            "the embedded store has no key layout to migrate; its file is at the current \
                   schema version (upgraded when opened)"
                .into(),
        );
    }
    let store = esia_gate::store::RedisStore::open(s, &r.base_dir)
        .await
        .context("store")?;
    let m = store
        .migrate_v1(std::time::Duration::from_secs(600))
        .await
        .context("migrate")?;
    anyhow::ensure!(
        !m.busy,
        "another node has been migrating for 10 minutes and is not done: run this again later"
    );
    let mut msg = format!(
        "moved to the version 2 layout: {} links, {} last logins, {} login-history rows, {} \
         failed matches; layout {}",
        m.links,
        m.last_logins,
        m.history,
        m.failures,
        if m.done {
            "2 (no version 1 key left)"
        } else {
            "1 (version 1 keys left)"
        }
    );
    if m.conflicts > 0 {
        msg.push_str(&format!(
            "\n{} own links stay in version 1: another person owns the account in version 2 \
             (see docs/store.md, migration)",
            m.conflicts
        ));
    }
    Ok(msg)
}
