//! The public listener's connections: how many may be open (per client, per
//! trusted proxy, in all), how long a request header may take, how long an
//! idle connection is kept. [`PublicApp`] wraps the Pingora proxy app: it
//! takes a place for each accepted connection or closes it at once, and
//! serves the connection's requests itself, so that it knows when one
//! request ends and the next header begins. The admin listener is a
//! service of its own and never counted here.

pub mod admission;
pub mod deadline;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::protocols::Stream;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use tokio::time::Instant;

use self::admission::{Admissions, Caps, Refusal};
use self::deadline::{HeaderWatch, Watched};
use crate::config::connections::ConnectionSettings;
use crate::proxy::client_ip::Net;
use crate::telemetry::metrics;

/// Descriptors kept out of the public listener's reach: the admin
/// listener, the store, ESIA and directory clients, log files, the
/// runtime's own.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The limits in force, from the settings and the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub caps: Caps,
    pub header_timeout: Duration,
    /// Seconds an idle connection is kept; `None`: no keep-alive.
    pub keepalive: Option<u64>,
}

/// The most public connections a derived total allows: an idle connection
/// costs some 40 KiB (measured), so this bounds them to about 2 GiB
/// however many addresses an attacker has. More needs `max_total`.
pub const AUTO_MAX_TOTAL_CEILING: u64 = 50_000;

/// The total cap when none is configured: half of what is left of the
/// descriptors once the reserve is taken, since each proxied request holds
/// a second descriptor towards the diary; at most the ceiling.
pub fn auto_max_total(nofile: u64) -> u64 {
    (nofile.saturating_sub(RESERVED_DESCRIPTORS) / 2).clamp(16, AUTO_MAX_TOTAL_CEILING)
}

/// Seconds an idle connection is kept between requests; `None`: no
/// keep-alive.
pub fn keepalive(c: &ConnectionSettings) -> Option<u64> {
    (c.keepalive_timeout_seconds > 0).then_some(c.keepalive_timeout_seconds)
}

/// After a request header is read, Pingora keeps an HTTP/1.1 connection
/// for as long as the client's `Keep-Alive` header asks, or for ever: the
/// gateway's own timeout replaces that. A connection Pingora will close
/// (`Connection: close`, HTTP/1.0 without keep-alive) stays closing.
pub fn apply_keepalive(session: &mut ServerSession, keepalive: Option<u64>) {
    if session.get_keepalive().is_some() {
        session.set_keepalive(keepalive);
    }
}

impl Limits {
    /// `nofile`: the descriptor limit the gateway runs with. A configured
    /// total that would leave less than the reserve is lowered, with a
    /// warning to log (or to note in `esia-gate check`).
    pub fn resolve(c: &ConnectionSettings, nofile: u64) -> (Self, Option<String>) {
        let room = nofile.saturating_sub(RESERVED_DESCRIPTORS).max(16);
        let (total, warning) = match c.max_total.map(u64::from) {
            None => (auto_max_total(nofile), None),
            Some(t) if t > room => (
                room,
                Some(format!(
                    "connections.max_total = {t} leaves fewer than {RESERVED_DESCRIPTORS} of the \
                     {nofile} file descriptors for the diary, the store and the admin listener; \
                     {room} is used instead (raise LimitNOFILE / ulimit -n, or lower max_total)"
                )),
            ),
            Some(t) => (t, None),
        };
        let limits = Self {
            caps: Caps {
                per_client: c.max_per_client,
                per_proxy: c.max_per_proxy,
                total: usize::try_from(total).unwrap_or(usize::MAX),
            },
            header_timeout: Duration::from_secs(c.header_timeout_seconds),
            keepalive: keepalive(c),
        };
        (limits, warning)
    }
}

/// The soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limits() -> std::io::Result<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((l.rlim_cur, l.rlim_max))
}

/// Raise the soft descriptor limit to the hard one (as nginx's
/// `worker_rlimit_nofile`): the soft limit is often 1024, far below what a
/// busy public listener needs. Returns the limit now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let (soft, hard) = nofile_limits()?;
    if soft >= hard {
        return Ok(soft);
    }
    let l = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(hard)
}

/// Lets one log line through per period, counting the ones held back, so
/// that a flood of refused connections cannot flood the log.
#[derive(Debug)]
pub struct LogGate {
    period: Duration,
    start: Instant,
    /// Milliseconds after `start` before which nothing passes.
    next: AtomicU64,
    held: AtomicU64,
}

impl LogGate {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            start: Instant::now(),
            next: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when a line may go out.
    pub fn pass(&self, now: Instant) -> Option<u64> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let at = ms(now.saturating_duration_since(self.start));
        let next = self.next.load(Ordering::Relaxed);
        if at >= next
            && self
                .next
                .compare_exchange(
                    next,
                    at.saturating_add(ms(self.period)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

const LOG_PERIOD: Duration = Duration::from_secs(10);

/// The Pingora app of the public listener: the proxy, behind the limits.
pub struct PublicApp<A> {
    inner: Arc<A>,
    admissions: Arc<Admissions>,
    limits: Limits,
    refused_log: LogGate,
    timeout_log: LogGate,
}

impl<A> PublicApp<A> {
    pub fn new(inner: A, limits: Limits, trusted_proxies: Vec<Net>) -> Self {
        let m = metrics::get();
        m.connections_limit
            .set(i64::try_from(limits.caps.total).unwrap_or(i64::MAX));
        Self {
            inner: Arc::new(inner),
            admissions: Admissions::new(limits.caps, trusted_proxies, m.connections_open.clone()),
            limits,
            refused_log: LogGate::new(LOG_PERIOD),
            timeout_log: LogGate::new(LOG_PERIOD),
        }
    }

    fn refused(&self, why: Refusal, key: Option<IpAddr>) {
        metrics::get()
            .connections_refused
            .with_label_values(&[why.label()])
            .inc();
        if let Some(held) = self.refused_log.pass(Instant::now()) {
            let client = key.map_or_else(|| "unknown".to_string(), |k| k.to_string());
            let caps = self.limits.caps;
            tracing::warn!(
                reason = why.label(),
                client,
                per_client = caps.per_client,
                per_proxy = caps.per_proxy,
                total = caps.total,
                open = self.admissions.open_total(),
                refused_before_unlogged = held,
                "public connection closed at once: a connection cap is reached"
            );
        }
    }

    fn header_timed_out(&self, peer: Option<IpAddr>) {
        metrics::get()
            .connections_closed
            .with_label_values(&["header_timeout"])
            .inc();
        if let Some(held) = self.timeout_log.pass(Instant::now()) {
            let client = peer.map_or_else(|| "unknown".to_string(), |k| k.to_string());
            tracing::info!(
                client,
                header_timeout_seconds = self.limits.header_timeout.as_secs(),
                closed_before_unlogged = held,
                "public connection closed: no whole request header in time"
            );
        }
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> PublicApp<A> {
    /// Pingora's own HTTP/1 loop (`impl ServerApp for HttpServerApp`),
    /// with the configured keep-alive and a mark between requests. The
    /// public listener is plain TCP without h2c: TLS ends in front of it.
    async fn serve(&self, stream: Stream, watch: &HeaderWatch, shutdown: &ShutdownWatch) {
        let mut session = ServerSession::new_http1(stream);
        session.set_keepalive(if *shutdown.borrow() {
            None
        } else {
            self.limits.keepalive
        });
        session.set_keepalive_reuses_remaining(
            self.inner
                .server_options()
                .and_then(|o| o.keepalive_request_limit),
        );
        let mut result = self.inner.process_new_http(session, shutdown).await;
        while let Some((stream, settings)) = result.map(ReusedHttpStream::consume) {
            watch.next_request();
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            result = self.inner.process_new_http(session, shutdown).await;
        }
    }
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    digest.peer_addr()?.as_inet().map(|a| a.ip())
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for PublicApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let accepted = Instant::now();
        let peer = peer_ip(&stream);
        let _place = match self.admissions.admit(peer) {
            Ok(place) => place,
            Err((why, key)) => {
                // Dropping the stream closes the connection.
                self.refused(why, key);
                return None;
            }
        };
        let watch = HeaderWatch::new(self.limits.header_timeout, accepted);
        let stream: Stream = Box::new(Watched::new(stream, Arc::clone(&watch)));
        tokio::select! {
            biased;
            () = self.serve(stream, &watch, shutdown) => {}
            // Only while a header is being read: nothing is in flight.
            () = watch.expired() => self.header_timed_out(peer),
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_leaves_descriptors_for_the_rest() {
        assert_eq!(auto_max_total(1024), 384);
        assert_eq!(auto_max_total(65_536), 32_640);
        assert_eq!(auto_max_total(100), 16, "never nothing");
        assert_eq!(auto_max_total(1_048_576), AUTO_MAX_TOTAL_CEILING);
        let (l, warning) = Limits::resolve(&ConnectionSettings::default(), 1024);
        assert_eq!(l.caps.total, 384);
        assert_eq!(l.caps.per_client, 256);
        assert_eq!(l.keepalive, Some(60));
        assert_eq!(l.header_timeout, Duration::from_secs(10));
        assert!(warning.is_none());
    }

    #[test]
    fn a_total_above_the_descriptor_limit_is_lowered_with_a_warning() {
        let c = ConnectionSettings {
            max_total: Some(5000),
            ..ConnectionSettings::default()
        };
        let (l, warning) = Limits::resolve(&c, 1024);
        assert_eq!(l.caps.total, 768);
        assert!(
            warning.is_some_and(|w| w.contains("connections.max_total")),
            "the key is named"
        );
        let (l, warning) = Limits::resolve(&c, 65_536);
        assert_eq!((l.caps.total, warning), (5000, None));
    }

    #[test]
    fn keepalive_zero_turns_it_off() {
        let c = ConnectionSettings {
            keepalive_timeout_seconds: 0,
            ..ConnectionSettings::default()
        };
        assert_eq!(Limits::resolve(&c, 1024).0.keepalive, None);
    }

    #[test]
    fn one_log_line_per_period_with_the_count_held_back() {
        let g = LogGate::new(Duration::from_secs(10));
        let t = g.start;
        assert_eq!(g.pass(t), Some(0));
        assert_eq!(g.pass(t + Duration::from_secs(1)), None);
        assert_eq!(g.pass(t + Duration::from_secs(9)), None);
        assert_eq!(g.pass(t + Duration::from_secs(10)), Some(2));
        assert_eq!(g.pass(t + Duration::from_secs(11)), None);
    }

    #[test]
    fn the_descriptor_limit_is_readable() {
        let (soft, hard) = nofile_limits().expect("getrlimit");
        assert!(soft <= hard && soft > 0);
    }
}
