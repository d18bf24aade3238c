//! Assembling the gateway from its settings and running it under Pingora:
//! the public proxy service and the admin listener in one server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::listening::Service;

use arc_swap::ArcSwapOption;

use crate::admin::{AdminApp, ReportSettings};
use crate::clock::Clock;
use crate::config::Resolved;
use crate::config::tls::Client;
use crate::config::{EsiaMode, secret};
use crate::esia::broker::{BrokerConfig, BrokerProvider};
use crate::esia::legacy::{LegacyProvider, LegacySigner};
use crate::esia::signer::OpensslGostSigner;
use crate::esia::token::TrustedKeys;
use crate::esia::v2::V2Provider;
use crate::esia::{EsiaClient, EsiaProvider, EsiaSettings, Shared};
use crate::identity::DirectorySource;
use crate::policy::slot::PolicySlot;
use crate::proxy::Gateway;
use crate::proxy::assertion::AssertionSigner;
use crate::proxy::client_ip::Net;
use crate::proxy::connections::{self, Limits, PublicApp};

mod reload;
mod upgrade;

/// Everything that can fail at start fails here, with the key or file named.
pub fn build_gateway(r: Resolved, clock: Clock) -> anyhow::Result<Gateway> {
    let store =
        crate::store::open_blocking(&r.settings.store, &r.base_dir, crate::store::Purpose::Serve)
            .context("store")?;
    build_with_store(r, clock, store)
}

/// What `esia-gate check` does: build everything a start would, and say
/// what deserves a second look. A store file held by the running gateway is
/// not an error here (checking a new file before a reload is the point).
pub fn check_gateway(r: Resolved, clock: Clock) -> anyhow::Result<Vec<String>> {
    let mut notes = crate::config::advice(&r);
    // `run` raises the soft limit to the hard one: judge by that.
    match connections::nofile_limits() {
        Ok((_, hard)) => {
            if let (_, Some(w)) = Limits::resolve(&r.settings.connections, hard) {
                notes.push(w);
            }
        }
        Err(e) => notes.push(format!("cannot read the file descriptor limit: {e}")),
    }
    let store: Arc<dyn crate::store::Store> = match crate::store::open_blocking(
        &r.settings.store,
        &r.base_dir,
        crate::store::Purpose::Check,
    ) {
        Ok(s) => s,
        Err(crate::store::StoreError::InUse(why)) => {
            notes.push(format!(
                "store: {why}; not opened by check, the rest is checked"
            ));
            Arc::new(crate::store::MemoryStore::default())
        }
        Err(e) => return Err(anyhow::Error::from(e).context("store")),
    };
    notes.extend(
        crate::store::check_notes_blocking(&r.settings.store, &r.base_dir).context("store")?,
    );
    build_with_store(r, clock, store)?;
    Ok(notes)
}

fn build_with_store(
    r: Resolved,
    clock: Clock,
    store: Arc<dyn crate::store::Store>,
) -> anyhow::Result<Gateway> {
    crate::config::check_files(&r)?;
    let s = &r.settings;
    let mut pems = Vec::new();
    for c in &s.esia.trusted_certificates {
        let p = r.path(c);
        pems.push(
            std::fs::read(&p)
                .with_context(|| format!("esia.trusted_certificates: {}", p.display()))?,
        );
    }
    let keys = TrustedKeys::from_certificates(&pems)
        .map_err(|e| anyhow::anyhow!("esia.trusted_certificates: {e}"))?;
    let shared = Shared::new(
        EsiaSettings {
            base: r.esia_base.clone(),
            client_id: s.esia.client_id.clone(),
            scope: s.esia.scope.clone(),
            scope_org: s.esia.scope_org.clone(),
            redirect_uri: r.redirect_uri.clone(),
            issuer: r.issuer.clone(),
            timeout: Duration::from_secs(s.esia.timeout_seconds),
            leeway_seconds: s.esia.leeway_seconds,
            trust: r.trust(Client::Esia)?,
        },
        keys,
    )
    .map_err(|e| anyhow::anyhow!("ESIA client: {e}"))?;
    let esia = Arc::new(EsiaClient::new(esia_provider(&r, &shared)?, &shared));
    // The first load happens now (no directory, no start); a thread of its
    // own keeps the directory fresh while the gateway holds it.
    let directory_refresh = Arc::new(tokio::sync::Notify::new());
    let (directory, _refresher) = DirectorySource::from_settings(&r)
        .and_then(|d| d.start_kicked(directory_refresh.clone()))?;
    let assertion = AssertionSigner::new(
        s.identity_headers
            .assertion_key
            .as_ref()
            .map(|p| r.path(p))
            .as_deref(),
        &s.identity_headers
            .assertion_previous_keys
            .iter()
            .map(|p| r.path(p))
            .collect::<Vec<_>>(),
        r.public_url.as_str(),
        s.identity_headers.assertion_ttl_seconds,
    )
    .map_err(|e| anyhow::anyhow!("identity_headers.assertion_key: {e}"))?;
    let policy: PolicySlot = Arc::new(ArcSwapOption::empty());
    if let Some(ps) = &s.policy {
        let path = r.path(&ps.file);
        let active = crate::policy::slot::load_active(&path)
            .map_err(|e| anyhow::anyhow!("policy.file: {e}"))?;
        tracing::info!(policy = %active.policy.name, hash = %active.hash, "policy loaded");
        crate::telemetry::metrics::get().set_policy(
            &active.policy.name,
            &active.hash,
            active.loaded_at,
        );
        policy.store(Some(Arc::new(active)));
    }
    let upstream = Arc::new(
        crate::proxy::upstream::Upstream::resolve(
            &r.upstream_url,
            crate::proxy::upstream::system_resolver(),
        )
        .and_then(|u| u.trusting(&r.trust(Client::Upstream).map_err(|e| e.to_string())?))
        .map_err(|e| anyhow::anyhow!("upstream.url: {e}"))?,
    );
    Ok(Gateway::new(
        r,
        crate::proxy::Parts {
            esia,
            store,
            directory,
            assertion,
            directory_refresh,
            policy,
            clock,
            upstream,
        },
    ))
}

/// The provider `esia.mode` names, with what it signs or authenticates with.
fn esia_provider(r: &Resolved, shared: &Shared) -> anyhow::Result<Arc<dyn EsiaProvider>> {
    let s = &r.settings;
    let certificate = |mode: &str| {
        s.esia
            .certificate
            .as_ref()
            .map(|c| r.path(c))
            .with_context(|| format!("esia.certificate: required in mode \"{mode}\""))
    };
    Ok(match s.esia.mode {
        EsiaMode::Broker => Arc::new(
            BrokerProvider::new(shared.clone(), broker_config(r)?)
                .map_err(|e| anyhow::anyhow!("esia.broker: {e}"))?,
        ),
        EsiaMode::Legacy => {
            let cert = certificate("legacy")?;
            let key = r.path(
                s.esia
                    .private_key
                    .as_ref()
                    .context("esia.private_key: required in mode \"legacy\"")?,
            );
            let signer = LegacySigner::from_files(&cert, &key)
                .context("esia.certificate / esia.private_key")?;
            Arc::new(LegacyProvider::new(shared.clone(), signer))
        }
        EsiaMode::V2 => {
            let cert = certificate("v2")?;
            let signer: Arc<dyn crate::esia::signer::Signer> =
                match (&s.esia.signer, &s.esia.private_key) {
                    (None, Some(key)) => Arc::new(
                        OpensslGostSigner::from_files(&cert, &r.path(key))
                            .context("esia.certificate / esia.private_key")?,
                    ),
                    (None, None) => anyhow::bail!(
                        "esia.private_key: required (or an external signer in [esia.signer])"
                    ),
                    (Some(c), _) => external_signer(r, c, &cert)?,
                };
            Arc::new(V2Provider::new(shared.clone(), signer))
        }
    })
}

/// `[esia.broker]` with its secret read from its file.
fn broker_config(r: &Resolved) -> anyhow::Result<BrokerConfig> {
    let b = r
        .settings
        .esia
        .broker
        .as_ref()
        .context("esia.broker: required in mode \"broker\"")?;
    // The environment's secret wins over the file (config::env).
    let file = b.client_secret_file.as_ref().map(|f| r.path(f));
    let secret = secret::from_env_or_file(b.client_secret.as_ref(), file.as_deref())
        .map_err(|e| anyhow::anyhow!("esia.broker.client_secret_file: {e}"))?
        .context("esia.broker.client_secret_file: required")?;
    Ok(BrokerConfig {
        logout_url: b.logout_url.clone(),
        client_secret: secret,
        claims: b.claims.clone(),
        authorize_params: b
            .authorize_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// `[esia.signer]`: a command or an HTTP signing service.
fn external_signer(
    r: &Resolved,
    c: &crate::config::SignerSettings,
    cert: &std::path::Path,
) -> anyhow::Result<Arc<dyn crate::esia::signer::Signer>> {
    use crate::esia::signer::{CommandSigner, HttpSigner, HttpSignerTarget};
    let timeout = Duration::from_secs(c.timeout_seconds);
    let base64 = c.output == "base64";
    if let Some(url) = &c.url {
        let file = c.token_file.as_ref().map(|f| r.path(f));
        let token = secret::from_env_or_file(c.token.as_ref(), file.as_deref())
            .map_err(|e| anyhow::anyhow!("esia.signer.token_file: {e}"))?;
        let target = HttpSignerTarget {
            url: url.clone(),
            token,
            trust: r.trust(Client::Signer)?,
        };
        return Ok(Arc::new(
            HttpSigner::new(target, base64, c.reverse, timeout, cert)
                .context("esia.signer / esia.certificate")?,
        ));
    }
    let command = c.command.clone().unwrap_or_default();
    Ok(Arc::new(
        CommandSigner::new(command, base64, c.reverse, timeout, cert)
            .context("esia.signer / esia.certificate")?,
    ))
}

pub use crate::clock::system_clock;

/// Run the gateway until a signal stops it. SIGINT stops at once, SIGTERM
/// after a short grace period (not Pingora's default of five minutes).
///
/// A graceful upgrade: start the new process with `run --upgrade` (same
/// `listen.upgrade_sock`), then send SIGQUIT to the old one; the listening
/// sockets pass through the upgrade socket, so no connection is refused,
/// and the old process finishes its requests in flight before it exits.
///
/// Without the configuration file's path (see [`run_config`]) SIGHUP reads
/// the same files again (policy, certificates, keys, directory) and
/// SIGUSR2 cannot start a new process.
pub fn run(r: Resolved, gateway: Gateway, opt: Option<Opt>) -> anyhow::Result<()> {
    serve(None, r, gateway, opt)
}

/// [`run`], started from the configuration file `config`: SIGHUP reads it
/// again, SIGUSR2 starts a new process with it (see `app::reload`).
pub fn run_config(
    config: &std::path::Path,
    r: Resolved,
    gateway: Gateway,
    opt: Option<Opt>,
) -> anyhow::Result<()> {
    serve(Some(config), r, gateway, opt)
}

fn serve(
    config: Option<&std::path::Path>,
    r: Resolved,
    gateway: Gateway,
    opt: Option<Opt>,
) -> anyhow::Result<()> {
    let upgrade_sock = r.path(
        r.settings
            .listen
            .upgrade_sock
            .as_deref()
            .unwrap_or(std::path::Path::new(DEFAULT_UPGRADE_SOCK)),
    );
    warn_if_not_writable(&upgrade_sock);
    let conf = ServerConf {
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(3),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        upgrade_sock: upgrade_sock.display().to_string(),
        ..ServerConf::default()
    };
    let admin = &r.settings.admin;
    let token = Arc::new(arc_swap::ArcSwapOption::from(
        reload::admin_token(&r)?.map(Arc::new),
    ));
    let reports = ReportSettings {
        zone: admin
            .time_zone
            .parse()
            .map_err(|_| anyhow::anyhow!("admin.time_zone: `{}`", admin.time_zone))?,
        match_failure_days: admin.match_failure_days,
        adoption_refresh: Duration::from_secs(admin.adoption_refresh_seconds),
    };
    let upgrading = opt.as_ref().is_some_and(|o| o.upgrade);
    let every = r
        .settings
        .policy
        .as_ref()
        .map_or(Duration::from_secs(5), |p| {
            Duration::from_secs(p.check_seconds.max(1))
        });
    let live = reload::Live {
        config: config.map(std::path::Path::to_path_buf),
        started: config.and_then(reload::table),
        current: r.clone(),
        policy: gateway.policy_slot().clone(),
        esia: gateway.esia().clone(),
        assertion: gateway.assertion_slot().clone(),
        admin_token: token.clone(),
        directory_refresh: gateway.directory_refresh().clone(),
        upgrade: upgrade::Upgrade::new(upgrade_sock.clone()),
    };
    crate::config::reload::spawn(live, every).context("reload thread")?;
    gateway
        .upstream()
        .keep_fresh(Duration::from_secs(r.settings.upstream.dns_refresh_seconds))
        .context("the upstream DNS thread")?;
    crate::store::upkeep::start(
        gateway.store().clone(),
        &r.settings.store,
        &r.base_dir,
        gateway.clock().clone(),
    )
    .context("the store upkeep thread")?;
    let limits = public_limits(&r);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let admin_app = AdminApp {
        esia: gateway.esia().clone(),
        store: gateway.store().clone(),
        upstream: {
            let up = gateway.upstream().clone();
            Arc::new(move || up.addr())
        },
        policy: gateway.policy_slot().clone(),
        rehearsal: gateway.rehearsal().cloned(),
        directory: gateway.directory().clone(),
        token,
        reports,
        clock: gateway.clock().clone(),
    };
    let trusted: Vec<Net> = r
        .settings
        .gateway
        .trusted_proxies
        .iter()
        .filter_map(|p| Net::parse(p).ok())
        .collect();
    let proxy = pingora::proxy::http_proxy(&server.configuration, gateway);
    let mut public = Service::new(
        "esia-gate public".to_string(),
        PublicApp::new(proxy, limits.clone(), trusted),
    );
    // Pingora's write buffer (1460 bytes by default) sends a header and a
    // small body in two system calls; 8 KiB holds both for small answers
    // (API answers, redirects, small pages). Only answers of known length
    // are buffered, and flushed at their end: chunked ones still go out
    // chunk by chunk.
    public.add_listener(
        ListenerConfig::tcp(r.settings.listen.public.to_string())
            .l4_buffer(L4BufferSettings::default().write(PUBLIC_WRITE_BUFFER)),
    );
    let mut admin = Service::new("esia-gate admin".to_string(), admin_app);
    admin.add_tcp(&r.settings.listen.admin.to_string());
    server.add_service(public);
    server.add_service(admin);
    tracing::info!(
        public = %r.settings.listen.public,
        admin = %r.settings.listen.admin,
        upstream = %r.upstream_url,
        upgraded = upgrading,
        pid = std::process::id(),
        upgrade_sock = %upgrade_sock.display(),
        max_per_client = limits.caps.per_client,
        max_per_proxy = limits.caps.per_proxy,
        max_total = limits.caps.total,
        header_timeout_seconds = limits.header_timeout.as_secs(),
        keepalive_timeout_seconds = limits.keepalive.unwrap_or(0),
        "esia-gate listening"
    );
    for a in crate::config::advice(&r) {
        tracing::warn!(advice = %a, "configuration worth a second look");
    }
    notify_systemd_when_ready(r.settings.listen.admin);
    watch_for_handover(server.watch_execution_phase());
    server.run(pingora::server::RunArgs::default());
    Ok(())
}

/// Raise the descriptor limit as far as allowed, and fit the public
/// listener's total cap under it so that the admin listener, the store and
/// the diary keep descriptors of their own.
fn public_limits(r: &Resolved) -> Limits {
    let nofile = match connections::raise_nofile_limit() {
        Ok(n) => {
            tracing::info!(open_file_limit = n, "file descriptor limit");
            n
        }
        Err(e) => {
            let soft = connections::nofile_limits().map_or(1024, |(soft, _)| soft);
            tracing::warn!(error = %e, open_file_limit = soft,
                "cannot raise the file descriptor limit; the public connection cap follows the current one");
            soft
        }
    };
    let (limits, warning) = Limits::resolve(&r.settings.connections, nofile);
    if let Some(w) = warning {
        tracing::warn!(advice = %w, "configuration worth a second look");
    }
    limits
}

/// The public listener's write buffer, bytes (see `run`).
const PUBLIC_WRITE_BUFFER: usize = 8 * 1024;

/// The upgrade socket beside the configuration file unless set.
pub const DEFAULT_UPGRADE_SOCK: &str = "esia-gate-upgrade.sock";

/// A graceful upgrade needs the upgrade socket's directory writable; say
/// so at start rather than when the upgrade fails.
fn warn_if_not_writable(sock: &std::path::Path) {
    let dir = sock
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = dir.join(format!(".esia-gate-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => tracing::warn!(
            dir = %dir.display(),
            error = %e,
            "the upgrade socket's directory is not writable: a graceful upgrade (run --upgrade) \
             will fail; set listen.upgrade_sock (e.g. /run/esia-gate/upgrade.sock)"
        ),
    }
}

/// Under systemd (`Type=notify`, `NotifyAccess=all`): once the admin
/// listener accepts connections, tell systemd this process is ready and is
/// the service's main process — after a graceful upgrade it is the new
/// process, not the one systemd started. Nothing happens without
/// `NOTIFY_SOCKET`.
fn notify_systemd_when_ready(admin: std::net::SocketAddr) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let probe = match admin.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            std::net::SocketAddr::from(([127, 0, 0, 1], admin.port()))
        }
        ip if ip.is_unspecified() => {
            std::net::SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], admin.port()))
        }
        _ => admin,
    };
    let spawned = std::thread::Builder::new()
        .name("systemd-notify".into())
        .spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while std::net::TcpStream::connect_timeout(&probe, Duration::from_secs(1)).is_err() {
                if Instant::now() > deadline {
                    tracing::error!("the admin listener did not come up; systemd not notified");
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let message = format!("READY=1\nMAINPID={}\n", std::process::id());
            if let Err(e) = sd_notify(&socket, message.as_bytes()) {
                tracing::warn!(error = %e, "cannot notify systemd");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the systemd notification thread");
    }
}

/// One datagram to systemd's notification socket (a path, or on Linux an
/// abstract name when it starts with `@`).
fn sd_notify(socket: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<usize> {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let addr = match socket.as_bytes().strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(name)?
        }
        #[cfg(not(target_os = "linux"))]
        Some(_) => return Err(std::io::Error::other("abstract sockets need Linux")),
        None => SocketAddr::from_pathname(std::path::Path::new(socket))?,
    };
    UnixDatagram::unbound()?.send_to_addr(message, &addr)
}

/// From the moment the listeners go to a new process, answers say
/// `Connection: close`: browsers then open their next connection — to
/// whichever process accepts it — instead of leaving an idle keep-alive
/// connection the old process will close when it stops.
fn watch_for_handover(
    mut phases: tokio::sync::broadcast::Receiver<pingora::server::ExecutionPhase>,
) {
    use pingora::server::ExecutionPhase;
    let spawned = std::thread::Builder::new()
        .name("esia-gate-phase".into())
        .spawn(move || {
            loop {
                match phases.blocking_recv() {
                    Ok(
                        ExecutionPhase::GracefulUpgradeTransferringFds
                        | ExecutionPhase::GracefulUpgradeCloseTimeout
                        | ExecutionPhase::GracefulTerminate
                        | ExecutionPhase::ShutdownStarted,
                    ) => crate::proxy::set_handing_over(),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch for hand-overs; keep-alive stays on until shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_is_notified_on_a_path_or_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let bound = UnixDatagram::bind(&path).expect("bind");
        sd_notify(path.as_os_str(), b"READY=1\n").expect("send");
        let mut buf = [0u8; 64];
        let n = bound.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\n");
        let name = format!("esia-gate-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let bound = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        sd_notify(std::ffi::OsStr::new(&format!("@{name}")), b"MAINPID=1\n").expect("send");
        let n = bound.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"MAINPID=1\n");
    }
}
