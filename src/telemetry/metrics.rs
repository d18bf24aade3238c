//! Prometheus metrics, named by the conventions: `esia_gate_` prefix,
//! `_total` counters, base units, bounded label values (never a login, oid
//! or path).

use std::sync::{Mutex, OnceLock};

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: TrackedRegistry,
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
    /// Policy decisions by action, route class and mode (`enforce`, `shadow`).
    pub policy_decisions: IntCounterVec,
    /// Submissions of the diary's own login form under a policy, by result:
    /// `succeeded`/`failed` by the diary's success rule, or why it was
    /// refused (`content_type`, `repeated_field`, `too_large`, `unreadable`).
    pub login_forms: IntCounterVec,
    /// Diary requests with a diary cookie the gateway could not attribute,
    /// by reason (`unknown`, `ambiguous`, `store_error`).
    pub unattributed: IntCounterVec,
    /// Policy file loads by result (`ok`, `error`).
    pub policy_reloads: IntCounterVec,
    /// ESIA trusted certificate reloads by result (`ok`, `error`).
    pub trust_reloads: IntCounterVec,
    /// Configuration reloads (SIGHUP) by result (`ok`, `error`).
    pub config_reloads: IntCounterVec,
    /// The policy in force: name and hash, value 1 (an info metric).
    pub policy_info: IntGaugeVec,
    /// When the policy in force was loaded (Unix seconds).
    pub policy_loaded: IntGauge,
    /// Failed store calls by backend (`embedded`, `redis`) and operation.
    pub store_errors: IntCounterVec,
    /// Login-history rows and match failures removed for being older than
    /// `store.retention_days`, by backend.
    pub store_pruned: IntCounterVec,
    pub active_sessions: IntGauge,
    pub build_info: IntGaugeVec,
    /// Directory loads by source (`csv`, `postgres`) and result (`ok`, `error`).
    pub directory_reloads: IntCounterVec,
    /// Accounts in the directory in use.
    pub directory_accounts: IntGauge,
    /// The diary's time to answer a proxied request (request sent to
    /// response header received).
    pub upstream_duration: Histogram,
    /// The gateway's own time before a request leaves for the diary
    /// (session look-up, policy, headers).
    pub proxy_overhead: Histogram,
    /// Logins into diary accounts by method (`esia`, `password`) and the
    /// account's role (`staff`, `parent`, `student`, `unknown`).
    pub account_logins: IntCounterVec,
    /// Directory accounts by role and by how they have ever logged in
    /// (`esia`, `password_only`, `never`): the adoption curve. Computed at
    /// scrape time from the login history, at most once a minute.
    pub adoption_accounts: IntGaugeVec,
    /// Whether a dependency answers (`upstream`, `esia`, `store`), checked
    /// at every scrape and readiness probe.
    pub dependency_up: IntGaugeVec,
    /// Audit lines that could not be written.
    pub audit_write_errors: IntCounter,
    /// Failed look-ups of the diary's name by the background refresh (the
    /// last address stays in use).
    pub upstream_dns_failures: IntCounter,
    /// When this process started (Unix seconds).
    pub start_time: IntGauge,
    /// Connections open on the public listener.
    pub connections_open: IntGauge,
    /// The cap on them (`connections.max_total`, or derived).
    pub connections_limit: IntGauge,
    /// Public connections closed at once, by the cap reached.
    pub connections_refused: IntCounterVec,
    /// Public connections the gateway closed, by why (`header_timeout`).
    pub connections_closed: IntCounterVec,
}

/// The registry, remembering every metric name registered, so that tests
/// can check that dashboards and alerts name only what the gateway exports
/// (a labelled metric nobody has touched yet is absent from a scrape).
struct TrackedRegistry {
    inner: Registry,
    names: Mutex<Vec<String>>,
}

impl TrackedRegistry {
    fn new() -> Self {
        Self {
            inner: Registry::new(),
            names: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, c: Box<dyn Collector>) -> prometheus::Result<()> {
        let names: Vec<String> = c.desc().iter().map(|d| d.fq_name.clone()).collect();
        self.inner.register(c)?;
        if let Ok(mut all) = self.names.lock() {
            all.extend(names);
        }
        Ok(())
    }

    fn gather(&self) -> Vec<MetricFamily> {
        self.inner.gather()
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let registry = TrackedRegistry::new();
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
        let store_pruned = counter(
            "esia_gate_store_pruned_total",
            "Login-history rows and match failures removed for being older than store.retention_days, by backend.",
            &["backend"],
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
        let policy_decisions = counter(
            "esia_gate_policy_decisions_total",
            "Policy decisions by action, route class, mode (enforce or shadow) and role.",
            &["action", "route", "mode", "role"],
        );
        let login_forms = counter(
            "esia_gate_login_forms_total",
            "Submissions of the diary's login form under a policy, by result.",
            &["result"],
        );
        let unattributed = counter(
            "esia_gate_unattributed_requests_total",
            "Diary requests with a diary session cookie the gateway could not attribute, by reason.",
            &["reason"],
        );
        let policy_reloads = counter(
            "esia_gate_policy_reloads_total",
            "Policy file loads by result.",
            &["result"],
        );
        let trust_reloads = counter(
            "esia_gate_trust_reloads_total",
            "Reloads of ESIA's trusted token certificates by result.",
            &["result"],
        );
        let config_reloads = counter(
            "esia_gate_config_reloads_total",
            "Configuration reloads (SIGHUP) by result.",
            &["result"],
        );
        let policy_info = IntGaugeVec::new(
            Opts::new(
                "esia_gate_policy_info",
                "The policy in force (name, SHA-256 of the file); always 1.",
            ),
            &["name", "hash"],
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(policy_info.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let policy_loaded = IntGauge::new(
            "esia_gate_policy_loaded_timestamp_seconds",
            "When the policy in force was loaded, in Unix seconds.",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(policy_loaded.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let upstream_duration = Histogram::with_opts(
            HistogramOpts::new(
                "esia_gate_upstream_response_duration_seconds",
                "Time the diary took to answer a proxied request (to its response header).",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(upstream_duration.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let proxy_overhead = Histogram::with_opts(
            HistogramOpts::new(
                "esia_gate_proxy_overhead_seconds",
                "Time the gateway spent on a request before sending it to the diary.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(proxy_overhead.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let account_logins = counter(
            "esia_gate_account_logins_total",
            "Logins into diary accounts by method (esia, password) and the account's role.",
            &["method", "role"],
        );
        let adoption_accounts = IntGaugeVec::new(
            Opts::new(
                "esia_gate_adoption_accounts",
                "Directory accounts by role and how they have ever logged in (esia, password_only, never).",
            ),
            &["role", "state"],
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(adoption_accounts.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let dependency_up = IntGaugeVec::new(
            Opts::new(
                "esia_gate_dependency_up",
                "Whether a dependency (upstream, esia, store, durable_store) answered the last check: 1 or 0.",
            ),
            &["dependency"],
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(dependency_up.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let audit_write_errors = IntCounter::new(
            "esia_gate_audit_write_errors_total",
            "Audit lines that could not be written to the audit log.",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(audit_write_errors.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let upstream_dns_failures = IntCounter::new(
            "esia_gate_upstream_dns_failures_total",
            "Failed background look-ups of the diary's host name; the last address stays in use.",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(upstream_dns_failures.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        let start_time = IntGauge::new(
            "esia_gate_start_time_seconds",
            "When this gateway process started, in Unix seconds.",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(start_time.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        start_time.set(chrono::Utc::now().timestamp());
        // Memory, CPU time, descriptors and threads of this process, read
        // from /proc at every scrape (the `process_*` names every exporter
        // uses, so the usual dashboards work).
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .unwrap_or_else(|e| panic!("metric process_*: {e}"));
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
            registry
                .register(Box::new(g.clone()))
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            g
        };
        let connections_open = gauge(
            "esia_gate_connections_open",
            "Connections open on the public listener.",
        );
        let connections_limit = gauge(
            "esia_gate_connections_limit",
            "The cap on open public connections in force (connections.max_total or derived).",
        );
        let connections_refused = counter(
            "esia_gate_connections_refused_total",
            "Public connections closed at once, by the cap reached (per_client_cap, per_proxy_cap, global_cap).",
            &["reason"],
        );
        let connections_closed = counter(
            "esia_gate_connections_closed_total",
            "Public connections closed by the gateway, by why (header_timeout).",
            &["reason"],
        );
        Self {
            registry,
            links,
            policy_decisions,
            login_forms,
            unattributed,
            policy_reloads,
            trust_reloads,
            config_reloads,
            policy_info,
            policy_loaded,
            requests,
            request_duration,
            logins,
            matches,
            esia_errors,
            esia_duration,
            upstream_errors,
            store_errors,
            store_pruned,
            active_sessions,
            build_info,
            directory_reloads,
            directory_accounts,
            upstream_duration,
            proxy_overhead,
            account_logins,
            adoption_accounts,
            dependency_up,
            audit_write_errors,
            upstream_dns_failures,
            start_time,
            connections_open,
            connections_limit,
            connections_refused,
            connections_closed,
        }
    }

    /// The policy now in force: the info series of the old one goes, the
    /// new one's is 1, and its load time goes into its own gauge.
    pub fn set_policy(&self, name: &str, hash: &str, loaded_at: i64) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[name, hash]).set(1);
        self.policy_loaded.set(loaded_at);
    }

    /// Every metric name the gateway exports (histograms without their
    /// `_bucket`, `_sum` and `_count` series), touched or not.
    pub fn names(&self) -> Vec<String> {
        let mut names = self
            .registry
            .names
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        // Encoding to a Vec cannot fail for well-formed registered metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}
