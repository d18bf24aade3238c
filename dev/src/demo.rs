//! `esia-gate demo`: throwaway keys, test persons, the ESIA emulator, the
//! sample diary and the gateway, all on loopback. The same preparation is
//! used by the end-to-end tests, on ports they choose.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{diary, emulator, fixtures, keys};

/// The client secret the demo's broker expects (written to
/// `keys/broker-secret` for a `mode = "broker"` configuration).
pub const DEMO_BROKER_SECRET: &str = "demo-broker-secret-not-for-production";

/// Where each part of the stack listens.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub gateway: u16,
    pub admin: u16,
    pub diary: u16,
    pub emulator: u16,
}

impl Ports {
    pub const DEMO: Ports = Ports {
        gateway: 8080,
        // Not 9090: Debian's prometheus package (installed by scripts/test for
        // promtool) starts a Prometheus server there on systemd machines.
        admin: 9190,
        diary: 8000,
        emulator: 8001,
    };
}

/// A prepared stack: configuration files written, keys and fixtures ready.
pub struct Prepared {
    pub dir: PathBuf,
    pub gateway_config: PathBuf,
    pub emulator: emulator::EmulatorConfig,
    pub diary: diary::DiaryConfig,
    pub public_url: String,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Write keys (kept when present), fixtures and configurations into `dir`.
pub fn prepare(dir: &Path, ports: Ports) -> anyhow::Result<Prepared> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let keys = keys::ensure_dev_keys(&dir.join("keys"))?;
    std::fs::write(
        dir.join("keys/broker-secret"),
        format!("{DEMO_BROKER_SECRET}\n"),
    )
    .context("cannot write the demo broker secret")?;
    let data = dir.join("data");
    fixtures::write_demo_fixtures(&data)?;
    let public_url = format!("http://127.0.0.1:{}", ports.gateway);
    let esia_url = format!("http://127.0.0.1:{}", ports.emulator);
    let issuer = "http://esia-portal1.test.gosuslugi.ru/".to_string();
    let redirect_uri = format!("{public_url}/esia-gate/callback");
    let gateway_config = dir.join("gateway.toml");
    let text = format!(
        r#"# Written by `esia-gate demo`; see config/gateway.example.toml for every key.
[listen]
public = "127.0.0.1:{gw}"
admin = "127.0.0.1:{admin}"

[upstream]
url = "http://127.0.0.1:{diary}"
session_cookie = "DIARYSESSID"
logout_path = "/logout"

[gateway]
public_url = "{public_url}"

[esia]
mode = "v2"
base_url = "{esia_url}"
client_id = "DIARY"
scope = "openid fullname snils birthdate kid_fullname kid_birthdate kid_snils"
certificate = "{cert}"
private_key = "{key}"
trusted_certificates = ["{esia_cert}"]
issuer = "{issuer}"
timeout_seconds = 3

[directory]
csv = "{csv}"

[diary_login]
url = "/login"
login_field = "login"
password_field = "password"
success = "redirect:/grades"

[children]
# The sample diary reads X-Child-User (it shows the chosen child's
# grades), so the demo asks a parent with several children at login.
choose_at_login = true

[identity_headers]
# One key for every instance (required with Redis); the diary reads its
# public half at /esia-gate/.well-known/jwks.json.
assertion_key = "keys/assertion-key.pem"

[log]
level = "info"
format = "text"

# Who helps: shown at the foot of every page of the gateway (demo values;
# .example addresses lead nowhere).
[help]
organisation = "Служба поддержки электронного дневника (демо)"
phones = ["8 800 000-00-00"]
email = "support@diary.example"
hours = "пн–пт 9:00–18:00"
url = "https://diary.example/help"
"#,
        gw = ports.gateway,
        admin = ports.admin,
        diary = ports.diary,
        cert = keys.client_cert.display(),
        key = keys.client_key.display(),
        esia_cert = keys.esia_cert.display(),
        csv = data.join("accounts.csv").display(),
    );
    std::fs::write(&gateway_config, text)
        .with_context(|| format!("cannot write {}", gateway_config.display()))?;
    let emulator = emulator::EmulatorConfig {
        listen: addr(ports.emulator),
        public_url: esia_url,
        issuer,
        clients: vec![emulator::RegisteredClient {
            client_id: "DIARY".into(),
            certificate: keys.client_cert.clone(),
            redirect_uris: vec![redirect_uri],
        }],
        token_key: keys.esia_token_key.clone(),
        persons: data.join("persons.json"),
        code_ttl_seconds: 60,
        timestamp_tolerance_seconds: 300,
        // The same system, registered at the emulator's broker too, so
        // `mode = "broker"` can be tried against it.
        broker_clients: vec![emulator::BrokerClient {
            client_id: "DIARY".into(),
            client_secret: DEMO_BROKER_SECRET.into(),
            redirect_uris: vec![format!("{public_url}/esia-gate/callback")],
        }],
    };
    let diary = diary::DiaryConfig {
        listen: addr(ports.diary),
        users: data.join("diary-users.csv"),
        accounts: Some(data.join("accounts.csv")),
        mode: diary::DiaryMode::Normal,
        login_token: false,
        relative_redirect: false,
    };
    Ok(Prepared {
        dir,
        gateway_config,
        emulator,
        diary,
        public_url,
    })
}

fn bind(a: SocketAddr, what: &str) -> anyhow::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(a).with_context(|| {
        format!("cannot listen on {a} for the {what}: is something else running there?")
    })?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub fn run(
    dir: &Path,
    policy: Option<&Path>,
    date: Option<&str>,
    diary_mode: diary::DiaryMode,
) -> anyhow::Result<()> {
    let mut p = prepare(dir, Ports::DEMO)?;
    p.diary.mode = diary_mode;
    if let Some(file) = policy {
        let file = file
            .canonicalize()
            .with_context(|| format!("cannot find the policy {}", file.display()))?;
        let mut text = std::fs::read_to_string(&p.gateway_config)?;
        text.push_str(&format!("\n[policy]\nfile = \"{}\"\n", file.display()));
        if let Some(d) = date {
            text.push_str(&format!("rehearse_date = \"{d}\"\n"));
        }
        std::fs::write(&p.gateway_config, text)?;
    }
    let r = esia_gate::config::load(&p.gateway_config)?;
    // Bind everything first, so a busy port is reported before anything runs.
    let emu_l = bind(p.emulator.listen, "ESIA emulator")?;
    let diary_l = bind(p.diary.listen, "sample diary")?;
    for (a, what) in [
        (r.settings.listen.public, "gateway"),
        (r.settings.listen.admin, "admin listener"),
    ] {
        drop(bind(a, what)?);
    }
    let gateway = esia_gate::app::build_gateway(r.clone(), esia_gate::app::system_clock())?;
    let emu_cfg = p.emulator.clone();
    let diary_cfg = p.diary.clone();
    std::thread::Builder::new()
        .name("dev-stack".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the dev stack runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let (emu_l, diary_l) = match (
                    tokio::net::TcpListener::from_std(emu_l),
                    tokio::net::TcpListener::from_std(diary_l),
                ) {
                    (Ok(a), Ok(b)) => (a, b),
                    _ => {
                        tracing::error!("cannot use the dev stack listeners");
                        return;
                    }
                };
                let (a, b) = tokio::join!(
                    emulator::serve(emu_cfg, emu_l),
                    diary::serve(diary_cfg, diary_l)
                );
                if let Err(e) = a.and(b) {
                    tracing::error!(error = %e, "dev stack stopped");
                }
            });
        })?;
    println!(
        "\nesia-gate demo is running.\n\n  Open the diary through the gateway: {}/grades\n  ESIA emulator:  {}\n  Sample diary (direct, password login, {} mode): http://127.0.0.1:{}/login\n  Metrics and health: http://{}/metrics  /healthz  /readyz\n\nTest persons (choose one on the emulator's login page):\n",
        p.public_url,
        p.emulator.public_url,
        p.diary.mode,
        Ports::DEMO.diary,
        r.settings.listen.admin
    );
    for person in fixtures::demo_persons() {
        let kind = if person.snils.is_none() {
            "no SNILS in ESIA"
        } else if person.trusted {
            "confirmed account"
        } else {
            "standard account"
        };
        println!(
            "  - {} {} {} (oid {}, {kind})",
            person.last_name, person.first_name, person.middle_name, person.oid
        );
    }
    if let Some(pol) = r.settings.policy.as_ref() {
        let when = pol
            .rehearse_date
            .map(|d| {
                format!(
                    ", as if it were {d} (move the date: curl -X PUT 'http://{}/rehearse-date?date=YYYY-MM-DD')",
                    r.settings.listen.admin
                )
            })
            .unwrap_or_default();
        println!("\nPolicy: {}{when}", pol.file.display());
    }
    println!(
        "\nDiary passwords for direct login: `demo`. Files: {}\nPress Ctrl-C to stop.\n",
        p.dir.display()
    );
    esia_gate::app::run(r, gateway, None)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn run_emulator(config: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let cfg: emulator::EmulatorConfig =
        toml::from_str(&text).with_context(|| format!("{}", config.display()))?;
    runtime()?.block_on(emulator::run(cfg))
}

pub fn run_diary(config: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let cfg: diary::DiaryConfig =
        toml::from_str(&text).with_context(|| format!("{}", config.display()))?;
    runtime()?.block_on(diary::run(cfg))
}
