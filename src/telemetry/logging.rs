//! How logging starts and what may reach the operational log. `RUST_LOG`
//! (or `[log] level`) chooses the level, but only for the gateway's own
//! lines: every other crate is capped at `info`, whatever `RUST_LOG` says.
//! Below `info` the crates under the gateway print what it must never log
//! (read in their 0.9.1 / current sources):
//!
//! - `pingora_core` at `debug` prints the diary's response headers (its
//!   `Set-Cookie`), at `trace` the request headers it reads and writes (the
//!   gateway's and the diary's cookies, the signed assertion sent upstream)
//!   and body sizes; `pingora_proxy` at `debug` whole requests. Its `info`
//!   is start-up and shutdown; its `warn` and `error` name the request by
//!   `ProxyHttp::request_summary`, which the gateway keeps to the method and
//!   the path (no query, where ESIA's `code` and `state` are).
//! - `cookie_store` (reqwest's cookie jar) at `debug` prints each
//!   `Set-Cookie` it stores; `reqwest`, `hyper`, `hyper_util` and `h2` at
//!   `debug`/`trace` print URLs, frames and headers.
//! - `tokio_postgres` at `debug` prints every query; `redis`, `rustls`,
//!   `tokio_rustls`, `axum`, `tower`, `tower_http`, `html5ever` at `debug`
//!   and `trace` print connection, handshake, request and page details.
//!
//! Rather than a list that misses the next dependency, the cap is the
//! default for every target that is not the gateway's: a crate added
//! tomorrow cannot dump headers either. The caps are a [`Targets`] filter,
//! not a closure, so the subscriber's max-level hint stays exact: `init`
//! hands it to the `log` crate as its max level, and at `RUST_LOG=info` a
//! `log::debug!` on Pingora's hot path costs one comparison instead of a
//! trip through `tracing-log` and every filter.

use std::path::Path;

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

use super::audit;

/// The gateway's own targets (library and binary alike).
const OWN: &str = "esia_gate";

/// The most any other crate may log: `info` is start-up, shutdown,
/// reconnection and failure lines, never headers or bodies.
pub const OTHERS_AT_MOST: LevelFilter = LevelFilter::INFO;

/// The caps under `RUST_LOG`: the gateway's own lines at any level, audit
/// events never (they have their own log), everything else at most
/// [`OTHERS_AT_MOST`].
pub fn caps() -> Targets {
    Targets::new()
        .with_default(OTHERS_AT_MOST)
        .with_target(OWN, LevelFilter::TRACE)
        .with_target(audit::TARGET, LevelFilter::OFF)
}

/// The operational log's filter: the chosen level, within [`caps`].
pub fn operational<S>(level: EnvFilter) -> impl Filter<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    level.and(caps())
}

/// `RUST_LOG` when set and valid, else `fallback` (the configuration's
/// level, already checked at load).
pub fn level_from_env(fallback: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(fallback))
}

/// Two layers: operational lines to `writer` (JSON or text, `level`
/// within [`caps`]) and the audit log ([`audit::filter`]) to its file or
/// stdout.
pub fn subscriber<W>(
    level: EnvFilter,
    format: &str,
    audit_file: Option<&Path>,
    writer: W,
    ansi: bool,
) -> Result<impl Subscriber + Send + Sync + 'static, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let fmt = if format == "json" {
        fmt.json().with_filter(operational(level)).boxed()
    } else {
        fmt.with_filter(operational(level)).boxed()
    };
    let audit = audit::AuditLayer::new(audit_file)
        .map_err(|e| e.to_string())?
        .with_filter(audit::filter());
    Ok(Registry::default().with(fmt).with(audit))
}

/// Start logging for this process: operational lines to stderr, `level`
/// from `RUST_LOG` or `fallback`. Also routes the `log` crate (Pingora
/// logs through it) into `tracing`, with the subscriber's max level.
pub fn init(fallback: &str, format: &str, audit_file: Option<&Path>) -> Result<(), String> {
    use std::io::IsTerminal as _;
    subscriber(
        level_from_env(fallback),
        format,
        audit_file,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    )?
    .try_init()
    .map_err(|e| format!("cannot start logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer keeping what the operational layer wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
        }
    }

    fn audit_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        (dir, path)
    }

    #[test]
    fn at_trace_pingora_and_the_clients_still_print_nothing_below_info() {
        let (_dir, audit) = audit_file();
        let out = Captured::default();
        let s = subscriber(
            EnvFilter::new("trace"),
            "text",
            Some(&audit),
            out.clone(),
            false,
        )
        .expect("subscriber");
        tracing::subscriber::with_default(s, || {
            // What `log` records from these crates look like once in tracing.
            tracing::trace!(target: "pingora_core::protocols::http::v1::client",
                "Writing request header: cookie: SECRET-1");
            tracing::debug!(target: "pingora_core::protocols::http::v1::client",
                "Response header: set-cookie: SECRET-2");
            tracing::debug!(target: "pingora_proxy::proxy_custom", "Request to custom: SECRET-3");
            tracing::debug!(target: "cookie_store::cookie_store", "inserting Set-Cookie SECRET-4");
            tracing::trace!(target: "h2::codec::framed_write", "send frame SECRET-5");
            tracing::debug!(target: "tokio_postgres::prepare", "preparing query SECRET-6");
            tracing::trace!(target: "some_future_crate", "dump SECRET-7");
            tracing::info!(target: "pingora_core::server", "Server starting");
            tracing::trace!(target: "esia_gate::proxy", "own trace line");
            tracing::info!(target: "audit", event = "x", "audit only");
        });
        let text = out.text();
        for n in 1..=7 {
            assert!(!text.contains(&format!("SECRET-{n}")), "{text}");
        }
        assert!(text.contains("Server starting"), "{text}");
        assert!(text.contains("own trace line"), "{text}");
        assert!(!text.contains("audit only"), "{text}");
        let audit_text = std::fs::read_to_string(&audit).expect("audit");
        assert!(audit_text.contains("\"event\":\"x\""), "{audit_text}");
        assert!(!audit_text.contains("Server starting"), "{audit_text}");
    }

    #[test]
    fn the_max_level_hint_follows_the_chosen_level() {
        let hint = |level: &str| {
            let (_dir, audit) = audit_file();
            subscriber(
                EnvFilter::new(level),
                "json",
                Some(&audit),
                Captured::default(),
                false,
            )
            .expect("subscriber")
            .max_level_hint()
        };
        // Audit events are `info`, so nothing below keeps the hint lower.
        assert_eq!(hint("warn"), Some(LevelFilter::INFO));
        assert_eq!(hint("info"), Some(LevelFilter::INFO));
        assert_eq!(hint("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(hint("trace"), Some(LevelFilter::TRACE));
        assert_eq!(
            <Targets as Filter<Registry>>::max_level_hint(&audit::filter()),
            Some(LevelFilter::INFO)
        );
    }
}
