//! Assembling the gateway from its settings and running it under Pingora:
//! the public proxy service and the admin listener in one server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::config::Resolved;
use crate::esia::signer::OpensslGostSigner;
use crate::esia::token::TrustedKeys;
use crate::esia::{EsiaClient, EsiaSettings};
use crate::identity::DirectorySource;
use crate::proxy::assertion::AssertionSigner;
use crate::proxy::{Clock, Gateway};

/// Everything that can fail at start fails here, with the key or file named.
pub fn build_gateway(r: Resolved, clock: Clock) -> anyhow::Result<Gateway> {
    crate::config::check_files(&r)?;
    let s = &r.settings;
    let signer =
        OpensslGostSigner::from_files(&r.path(&s.esia.certificate), &r.path(&s.esia.private_key))
            .context("esia.certificate / esia.private_key")?;
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
    let esia = Arc::new(
        EsiaClient::new(
            EsiaSettings {
                base: r.esia_base.clone(),
                client_id: s.esia.client_id.clone(),
                scope: s.esia.scope.clone(),
                scope_org: s.esia.scope_org.clone(),
                redirect_uri: r.redirect_uri.clone(),
                issuer: r.issuer.clone(),
                timeout: Duration::from_secs(s.esia.timeout_seconds),
                leeway_seconds: s.esia.leeway_seconds,
            },
            Arc::new(signer),
            keys,
        )
        .map_err(|e| anyhow::anyhow!("ESIA client: {e}"))?,
    );
    // The first load happens now (no directory, no start); a thread of its
    // own keeps the directory fresh while the gateway holds it.
    let (directory, _refresher) =
        DirectorySource::from_settings(&r).and_then(DirectorySource::start)?;
    let assertion = AssertionSigner::new(
        s.identity_headers
            .assertion_key
            .as_ref()
            .map(|p| r.path(p))
            .as_deref(),
        r.public_url.as_str(),
        s.identity_headers.assertion_ttl_seconds,
    )
    .map_err(|e| anyhow::anyhow!("identity_headers.assertion_key: {e}"))?;
    let store = crate::store::open_blocking(&s.store, &r.base_dir).context("store")?;
    Ok(Gateway::new(r, esia, store, directory, assertion, clock))
}

pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}

/// Run the gateway until a signal stops it. SIGINT stops at once, SIGTERM
/// after a short grace period (not Pingora's default of five minutes).
pub fn run(r: Resolved, gateway: Gateway, opt: Option<Opt>) -> anyhow::Result<()> {
    let conf = ServerConf {
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(3),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let admin_app = AdminApp {
        esia: gateway.esia().clone(),
        store: gateway.store().clone(),
        upstream_addr: gateway.upstream_addr().to_string(),
    };
    let mut public = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        gateway,
        "esia-gate public",
    );
    public.add_tcp(&r.settings.listen.public.to_string());
    let mut admin = Service::new("esia-gate admin".to_string(), admin_app);
    admin.add_tcp(&r.settings.listen.admin.to_string());
    server.add_service(public);
    server.add_service(admin);
    tracing::info!(
        public = %r.settings.listen.public,
        admin = %r.settings.listen.admin,
        upstream = %r.upstream_url,
        "esia-gate listening"
    );
    server.run(pingora::server::RunArgs::default());
    Ok(())
}
