//! Prometheus metrics, named by the conventions: `esia_gate_` prefix,
//! `_total` counters, base units, bounded label values (never a login, oid
//! or path).

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Requests by route class (`gate`, `diary`) and status code.
    pub requests: IntCounterVec,
    /// Whole request time at the gateway, by route class.
    pub request_duration: HistogramVec,
    /// Login attempts by outcome (`success`, `consent_refused`, ...).
    pub logins: IntCounterVec,
    /// Match outcomes (`one`, `several`, `nothing`, ...).
    pub matches: IntCounterVec,
    /// ESIA call failures by endpoint, kind and ESIA error code.
    pub esia_errors: IntCounterVec,
    /// ESIA call latency by endpoint.
    pub esia_duration: HistogramVec,
    /// Requests the diary did not answer.
    pub upstream_errors: IntCounterVec,
    /// Manual linking and children: action (`check`, `link`, `unlink`,
    /// `child`) and result.
    pub links: IntCounterVec,
    /// Failed store calls by backend (`embedded`, `redis`) and operation.
    pub store_errors: IntCounterVec,
    pub active_sessions: IntGauge,
    pub build_info: IntGaugeVec,
    /// Directory loads by source (`csv`, `postgres`) and result (`ok`, `error`).
    pub directory_reloads: IntCounterVec,
    /// Accounts in the directory in use.
    pub directory_accounts: IntGauge,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            registry
                .register(Box::new(c.clone()))
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            registry
                .register(Box::new(h.clone()))
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            h
        };
        let fast = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let slow = vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        let requests = counter(
            "esia_gate_requests_total",
            "Requests answered, by route class and HTTP status.",
            &["route", "status"],
        );
        let request_duration = histogram(
            "esia_gate_request_duration_seconds",
            "Time from request to the end of the response, by route class.",
            &["route"],
            fast,
        );
        let logins = counter(
            "esia_gate_logins_total",
            "ESIA login attempts by outcome.",
            &["outcome"],
        );
        let matches = counter(
            "esia_gate_match_outcomes_total",
            "Directory match outcomes after an ESIA login.",
            &["outcome"],
        );
        let esia_errors = counter(
            "esia_gate_esia_errors_total",
            "Failed ESIA calls by endpoint, kind of failure and ESIA error code.",
            &["endpoint", "kind", "code"],
        );
        let esia_duration = histogram(
            "esia_gate_esia_request_duration_seconds",
            "ESIA back-channel call latency by endpoint.",
            &["endpoint"],
            slow,
        );
        let upstream_errors = counter(
            "esia_gate_upstream_errors_total",
            "Requests the diary could not answer, by kind.",
            &["kind"],
        );
        let store_errors = counter(
            "esia_gate_store_errors_total",
            "Failed store calls, by backend and operation.",
            &["backend", "op"],
        );
        let active_sessions = IntGauge::new(
            "esia_gate_active_sessions",
            "Gateway sessions alive now (this node).",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(active_sessions.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let build_info = IntGaugeVec::new(
            Opts::new("esia_gate_build_info", "Build of the running gateway."),
            &["version"],
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(build_info.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let directory_reloads = counter(
            "esia_gate_directory_reloads_total",
            "Directory loads by source (csv, postgres) and result (ok, error).",
            &["source", "result"],
        );
        let directory_accounts = IntGauge::new(
            "esia_gate_directory_accounts",
            "Accounts in the directory in use.",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(directory_accounts.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let links = counter(
            "esia_gate_links_total",
            "Manual linking, unlinking and child attachments by action and result.",
            &["action", "result"],
        );
        Self {
            registry,
            links,
            requests,
            request_duration,
            logins,
            matches,
            esia_errors,
            esia_duration,
            upstream_errors,
            store_errors,
            active_sessions,
            build_info,
            directory_reloads,
            directory_accounts,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        // Encoding to a Vec cannot fail for well-formed registered metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}
