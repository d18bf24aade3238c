//! Which regional policy is in force, and its live reload: a valid file
//! takes effect for the next request (swapped through `arc-swap`, no lock
//! on the hot path); an invalid one keeps the old policy, says why in the
//! log and counts a metric.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::Policy;
use crate::telemetry::metrics;

/// The policy in force, with what operators need to know about it.
pub struct ActivePolicy {
    pub policy: Policy,
    /// Hex SHA-256 of the file's bytes.
    pub hash: String,
    /// Unix seconds.
    pub loaded_at: i64,
}

pub type PolicySlot = Arc<ArcSwapOption<ActivePolicy>>;

/// Read and check the file; the error names file, line and column.
pub fn load_active(path: &Path) -> Result<ActivePolicy, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes.clone()).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    let policy = super::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    Ok(ActivePolicy {
        policy,
        hash: hex::encode(openssl::sha::sha256(&bytes)),
        loaded_at: chrono::Utc::now().timestamp(),
    })
}

/// Swap in the file's policy if it is valid; keep the old one otherwise.
pub fn reload(slot: &PolicySlot, path: &Path, why: &str) -> bool {
    let m = metrics::get();
    match load_active(path) {
        Ok(p) => {
            let same = slot.load().as_ref().is_some_and(|old| old.hash == p.hash);
            if !same {
                tracing::info!(policy = %p.policy.name, hash = %p.hash, why, "policy loaded");
                m.set_policy(&p.policy.name, &p.hash, p.loaded_at);
                slot.store(Some(Arc::new(p)));
                m.policy_reloads.with_label_values(&["ok"]).inc();
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, why, "policy file rejected; the previous policy stays in force");
            m.policy_reloads.with_label_values(&["error"]).inc();
            false
        }
    }
}
