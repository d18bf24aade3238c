//! telemetry: what the gateway tells its operators — Prometheus metrics,
//! the operational log and the audit log. A leaf: it imports nothing of the
//! application, so every layer may count and log.

pub mod audit;
pub mod logging;
pub mod metrics;
