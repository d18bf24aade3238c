//! What a running gateway reads again, and when (`config::reload` runs
//! the thread and the signals):
//!
//! - **a watched file changed**: the policy file, ESIA's trusted
//!   certificates (the directory watches its own source);
//! - **SIGHUP** (`systemctl reload`): the configuration file is read and
//!   checked as `esia-gate check` would, then everything that can change
//!   while the gateway runs is built anew from it — the policy (its file,
//!   or another file), ESIA's trusted certificates, the system's key and
//!   certificate or external signer (direct and legacy modes), the
//!   assertion keys, the admin token — and put in force together, and the
//!   directory is loaded at once. If anything is wrong nothing changes:
//!   the running configuration stays, the log says why, and
//!   `esia_gate_config_reloads_total{result="error"}` counts it. Keys that
//!   only a restart applies (listeners, upstream, store, ...) are named in
//!   a warning;
//! - **SIGUSR2**: a graceful upgrade (`super::upgrade`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::{ArcSwap, ArcSwapOption};

use crate::admin::access::AdminToken;
use crate::config::{EsiaMode, Resolved};
use crate::esia::token::TrustedKeys;
use crate::esia::{EsiaClient, EsiaProvider};
use crate::policy::slot::PolicySlot;
use crate::proxy::assertion::AssertionSigner;
use crate::telemetry::metrics;

/// Keys (and whole sections below them) a SIGHUP applies; any other
/// change waits for a restart or a graceful upgrade.
const RELOADABLE: &[&str] = &[
    "policy.file",
    "esia.trusted_certificates",
    "esia.certificate",
    "esia.private_key",
    "esia.signer",
    "identity_headers.assertion_key",
    "identity_headers.assertion_previous_keys",
    "admin.token_file",
];

/// The running gateway's reloadable parts.
pub(super) struct Live {
    /// The configuration file; `None` when the gateway was started from
    /// settings alone (the demo): SIGHUP then reads the same files again.
    pub config: Option<PathBuf>,
    /// The configuration in force.
    pub current: Resolved,
    /// The file as the process started: what a restart would change.
    pub started: Option<toml::Table>,
    pub policy: PolicySlot,
    pub esia: Arc<EsiaClient>,
    pub assertion: Arc<ArcSwap<AssertionSigner>>,
    pub admin_token: Arc<ArcSwapOption<AdminToken>>,
    pub directory_refresh: Arc<tokio::sync::Notify>,
    pub upgrade: super::upgrade::Upgrade,
}

/// Everything a SIGHUP puts in force, built and checked before any of it is.
struct Next {
    resolved: Resolved,
    policy: Option<PathBuf>,
    trusted: Vec<PathBuf>,
    provider: Option<Arc<dyn EsiaProvider>>,
    assertion: Option<AssertionSigner>,
    admin_token: Option<AdminToken>,
    /// Changed keys a SIGHUP does not apply.
    waiting: Vec<String>,
}

/// The file as a TOML table (for comparing), `None` when unreadable.
pub(super) fn table(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

/// Dotted keys whose values differ between `a` and `b`.
fn differences(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                differences(&path, x, y, out)
            }
            (x, y) if x != y => out.push(path),
            _ => {}
        }
    }
}

fn reloadable(key: &str) -> bool {
    RELOADABLE
        .iter()
        .any(|r| key == *r || key.strip_prefix(r).is_some_and(|t| t.starts_with('.')))
}

fn trusted_files(r: &Resolved) -> Vec<PathBuf> {
    r.settings
        .esia
        .trusted_certificates
        .iter()
        .map(|c| r.path(c))
        .collect()
}

impl Live {
    fn policy_file(&self) -> Option<PathBuf> {
        let r = &self.current;
        r.settings.policy.as_ref().map(|p| r.path(&p.file))
    }

    /// Reads and checks the new configuration and builds what it names.
    fn prepare(&self) -> anyhow::Result<Next> {
        let m = metrics::get();
        let (resolved, mut waiting) = match &self.config {
            Some(path) => {
                let r = crate::config::load(path)?;
                crate::config::check_files(&r)?;
                let mut changed = Vec::new();
                if let (Some(before), Some(now)) = (&self.started, table(path)) {
                    differences("", before, &now, &mut changed);
                }
                changed.retain(|k| !reloadable(k));
                (r, changed)
            }
            None => (self.current.clone(), Vec::new()),
        };
        let r = &resolved;
        let s = &r.settings;
        let old = &self.current.settings;

        let policy = match (&old.policy, &s.policy) {
            (Some(_), Some(p)) => {
                let path = r.path(&p.file);
                if let Err(e) = crate::policy::slot::load_active(&path) {
                    m.policy_reloads.with_label_values(&["error"]).inc();
                    tracing::error!(error = %e, why = "SIGHUP", "policy file rejected; the previous policy stays in force");
                    anyhow::bail!("policy.file: {e}");
                }
                Some(path)
            }
            _ => None,
        };

        let trusted = trusted_files(r);
        let pems = trusted
            .iter()
            .map(|p| std::fs::read(p).with_context(|| format!("{}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()
            .and_then(|pems| {
                TrustedKeys::from_certificates(&pems).map_err(anyhow::Error::msg)?;
                Ok(pems)
            });
        if let Err(e) = pems {
            m.trust_reloads.with_label_values(&["error"]).inc();
            tracing::error!(error = %format!("{e:#}"), why = "SIGHUP", "ESIA trusted certificates rejected; the previous ones stay in use");
            return Err(e.context("esia.trusted_certificates"));
        }

        // A broker's secret and endpoints wait for a restart; in the
        // direct and legacy modes the provider is only its key material.
        let provider = match (old.esia.mode, s.esia.mode) {
            (EsiaMode::V2, EsiaMode::V2) | (EsiaMode::Legacy, EsiaMode::Legacy) => {
                Some(super::esia_provider(r, self.esia.shared())?)
            }
            _ => None,
        };

        let ids = &s.identity_headers;
        let assertion = match &ids.assertion_key {
            Some(key) => Some(
                AssertionSigner::new(
                    Some(&r.path(key)),
                    &ids.assertion_previous_keys
                        .iter()
                        .map(|p| r.path(p))
                        .collect::<Vec<_>>(),
                    // Not reloadable: as the gateway started.
                    self.current.public_url.as_str(),
                    old.identity_headers.assertion_ttl_seconds,
                )
                .map_err(|e| anyhow::anyhow!("identity_headers.assertion_key: {e}"))?,
            ),
            None => {
                if old.identity_headers.assertion_key.is_some() {
                    waiting.push("identity_headers.assertion_key (removed)".into());
                }
                None
            }
        };

        let admin_token = admin_token(r)?;
        if admin_token.is_none() && (old.admin.token_file.is_some() || old.admin.token.is_some()) {
            waiting.push("admin.token (removed)".into());
        }

        Ok(Next {
            policy,
            trusted,
            provider,
            assertion,
            admin_token,
            waiting,
            resolved,
        })
    }

    /// Puts a prepared configuration in force.
    fn commit(&mut self, next: Next) {
        const WHY: &str = "SIGHUP";
        if let Some(path) = &next.policy {
            crate::policy::slot::reload(&self.policy, path, WHY);
        }
        reload_trusted(&self.esia, &next.trusted, WHY);
        if let Some(p) = next.provider {
            self.esia.replace_provider(p);
            tracing::info!(why = WHY, "ESIA client key and certificate loaded");
        }
        if let Some(a) = next.assertion {
            self.assertion.store(Arc::new(a));
            tracing::info!(why = WHY, "assertion keys loaded");
        }
        if let Some(t) = next.admin_token {
            self.admin_token.store(Some(Arc::new(t)));
            tracing::info!(why = WHY, "admin token loaded");
        }
        self.directory_refresh.notify_one();
        if !next.waiting.is_empty() {
            tracing::warn!(
                keys = %next.waiting.join(", "),
                "configuration changes that apply only at a restart or a graceful upgrade (esia-gate-upgrade)"
            );
        }
        self.current = next.resolved;
    }
}

impl crate::config::reload::Watcher for Live {
    fn watched(&self) -> Vec<(&'static str, Vec<PathBuf>)> {
        let mut w = vec![("esia.trusted_certificates", trusted_files(&self.current))];
        if let Some(p) = self.policy_file() {
            w.push(("policy", vec![p]));
        }
        w
    }

    fn changed(&mut self, name: &'static str) {
        const WHY: &str = "file changed";
        match name {
            "policy" => {
                if let Some(p) = self.policy_file() {
                    crate::policy::slot::reload(&self.policy, &p, WHY);
                }
            }
            _ => reload_trusted(&self.esia, &trusted_files(&self.current), WHY),
        }
    }

    fn hangup(&mut self) {
        let m = metrics::get();
        match self.prepare() {
            Ok(next) => {
                self.commit(next);
                m.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!("configuration reloaded (SIGHUP)");
            }
            Err(e) => {
                m.config_reloads.with_label_values(&["error"]).inc();
                tracing::error!(
                    error = %format!("{e:#}"),
                    "configuration refused (SIGHUP); the running configuration stays in force"
                );
            }
        }
    }

    fn upgrade(&mut self) {
        self.upgrade.start(self.config.as_deref());
    }
}

/// Read ESIA's token certificates again (a key rotation); keep the old set
/// when the new one cannot be used.
pub(super) fn reload_trusted(esia: &EsiaClient, files: &[PathBuf], why: &str) {
    let m = metrics::get();
    let pems: Result<Vec<Vec<u8>>, String> = files
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect();
    match pems.and_then(|p| esia.reload_trusted(&p)) {
        Ok(()) => {
            tracing::info!(why, count = files.len(), "ESIA trusted certificates loaded");
            m.trust_reloads.with_label_values(&["ok"]).inc();
        }
        Err(e) => {
            tracing::error!(why, error = %e, "ESIA trusted certificates rejected; the previous ones stay in use");
            m.trust_reloads.with_label_values(&["error"]).inc();
        }
    }
}

/// The admin token: from the environment (`ESIA_GATE_ADMIN__TOKEN`, see
/// [`crate::config`]) or `admin.token_file`; `None` when neither is set.
pub(super) fn admin_token(r: &Resolved) -> anyhow::Result<Option<AdminToken>> {
    let admin = &r.settings.admin;
    Ok(match (&admin.token, &admin.token_file) {
        (Some(t), _) => Some(AdminToken::new(t.expose())),
        (None, Some(p)) => Some(AdminToken::new(
            &crate::config::admin::read_token(&r.path(p))
                .map_err(|e| anyhow::anyhow!("admin.token_file: {e}"))?,
        )),
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(a: &str, b: &str) -> Vec<String> {
        let mut out = Vec::new();
        differences("", &a.parse().expect("a"), &b.parse().expect("b"), &mut out);
        out
    }

    #[test]
    fn changed_keys_are_named_by_their_dotted_path() {
        let a =
            "[listen]\npublic = \"a\"\n[esia]\ncertificate = \"x\"\n[esia.signer]\nurl = \"u\"\n";
        let b = "[listen]\npublic = \"b\"\n[esia]\ncertificate = \"y\"\n[esia.signer]\nurl = \"v\"\n[policy]\nfile = \"p\"\n";
        assert_eq!(
            diff(a, b),
            [
                "esia.certificate",
                "esia.signer.url",
                "listen.public",
                "policy"
            ]
        );
        assert!(diff(a, a).is_empty());
    }

    #[test]
    fn only_the_listed_keys_and_what_is_below_them_reload() {
        for k in [
            "policy.file",
            "esia.signer.url",
            "esia.trusted_certificates",
            "admin.token_file",
        ] {
            assert!(reloadable(k), "{k}");
        }
        for k in [
            "policy",
            "policy.rehearse_date",
            "esia.base_url",
            "listen.public",
            "esia.signer_x",
            "store.url",
        ] {
            assert!(!reloadable(k), "{k}");
        }
    }
}
