//! Where the diary is. Its address is resolved once at start (an
//! unresolvable name is a configuration error `check` reports) and then
//! refreshed by a thread of its own, so no request ever waits on DNS: the
//! hot path reads the current address without a lock. A DNS failure later
//! keeps the last good address, is logged and counted. IP literals (IPv4
//! and `[IPv6]`) need no DNS at all.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use url::{Host, Url};

use pingora::protocols::tls::CaType;
use pingora::utils::tls::{WrappedX509, parse_x509};

use crate::config::tls::Trust;
use crate::telemetry::metrics;

/// How names are looked up (the system's resolver; tests give their own).
pub type Resolve = Arc<dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync>;

pub fn system_resolver() -> Resolve {
    Arc::new(|host, port| Ok((host, port).to_socket_addrs()?.collect()))
}

/// The diary's address, kept current.
pub struct Upstream {
    current: ArcSwap<SocketAddr>,
    /// The name to resolve again, `None` for an IP literal.
    name: Option<String>,
    port: u16,
    pub tls: bool,
    /// The TLS server name (and the name the diary is known by).
    pub sni: String,
    /// The certificates an https diary is checked against (`None`: plain
    /// http, or Pingora's own roots).
    pub ca: Option<Arc<CaType>>,
    resolve: Resolve,
}

impl Upstream {
    /// Resolve `url`'s host now; the error says what to fix.
    pub fn resolve(url: &Url, resolve: Resolve) -> Result<Self, String> {
        let tls = url.scheme() == "https";
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("`{url}` has no port"))?;
        let (name, first, sni) = match url.host() {
            Some(Host::Ipv4(ip)) => (None, SocketAddr::from((ip, port)), ip.to_string()),
            Some(Host::Ipv6(ip)) => (None, SocketAddr::from((ip, port)), ip.to_string()),
            Some(Host::Domain(d)) => {
                let addrs = resolve(d, port).map_err(|e| format!("cannot resolve `{d}`: {e}"))?;
                let first = pick(&addrs).ok_or_else(|| format!("`{d}` has no address"))?;
                (Some(d.to_string()), first, d.to_string())
            }
            None => return Err(format!("`{url}` has no host")),
        };
        Ok(Self {
            current: ArcSwap::from_pointee(first),
            name,
            port,
            tls,
            sni,
            ca: None,
            resolve,
        })
    }

    /// Check an https diary's certificate against `trust` (its CA file and
    /// roots) rather than Pingora's default (the system's store).
    pub fn trusting(mut self, trust: &Trust) -> Result<Self, String> {
        if !self.tls {
            return Ok(self);
        }
        let mut ca = Vec::new();
        for der in trust.certificates()? {
            // Pingora's certificate wrapper would panic on a certificate
            // its parser cannot read: those are left out (a system store
            // may hold an odd one).
            if x509_parser::parse_x509_certificate(der.as_ref()).is_ok() {
                ca.push(WrappedX509::new(der.to_vec(), parse_x509));
            }
        }
        if ca.is_empty() {
            return Err("no usable CA certificate for the diary".into());
        }
        self.ca = Some(Arc::from(ca.into_boxed_slice()));
        Ok(self)
    }

    /// The address to connect to now (no DNS, no lock).
    pub fn addr(&self) -> SocketAddr {
        **self.current.load()
    }

    /// Look the name up again; a failure keeps the last address.
    pub fn refresh(&self) {
        let Some(name) = &self.name else { return };
        match (self.resolve)(name, self.port) {
            Ok(addrs) => match pick(&addrs) {
                Some(a) if a != self.addr() => {
                    tracing::info!(upstream = %name, address = %a, "the diary's address changed");
                    self.current.store(Arc::new(a));
                }
                Some(_) => {}
                None => self.failed(name, "no address"),
            },
            Err(e) => self.failed(name, &e.to_string()),
        }
    }

    fn failed(&self, name: &str, why: &str) {
        metrics::get().upstream_dns_failures.inc();
        tracing::warn!(upstream = %name, error = why, address = %self.addr(),
            "cannot resolve the diary's name; the last address stays in use");
    }

    /// Refresh every `every` on a thread of its own (a name only).
    pub fn keep_fresh(self: &Arc<Self>, every: Duration) -> std::io::Result<()> {
        if self.name.is_none() || every.is_zero() {
            return Ok(());
        }
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("esia-gate-upstream-dns".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    // Ends once the gateway no longer holds the upstream.
                    let Some(up) = me.upgrade() else { return };
                    up.refresh();
                }
            })
            .map(|_| ())
    }
}

/// The first address, IPv4 before IPv6 when a name has both (a diary
/// listening on IPv4 only is the common case).
fn pick(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn ip_literals_need_no_dns() {
        let never: Resolve = Arc::new(|_, _| panic!("no DNS for a literal"));
        let v4 = Upstream::resolve(&url("http://127.0.0.1:8000"), never.clone()).expect("v4");
        assert_eq!(v4.addr(), "127.0.0.1:8000".parse().expect("addr"));
        let v6 = Upstream::resolve(&url("https://[::1]:8443/"), never).expect("v6");
        assert_eq!(v6.addr(), "[::1]:8443".parse().expect("addr"));
        assert!(v6.tls);
        assert_eq!(v6.sni, "::1");
    }

    #[test]
    fn a_name_resolves_at_start_and_a_failure_later_keeps_the_last_address() {
        let down = Arc::new(AtomicBool::new(false));
        let d = down.clone();
        let resolve: Resolve = Arc::new(move |host, port| {
            assert_eq!(host, "diary.school.local");
            if d.load(Ordering::Relaxed) {
                Err(std::io::Error::other(
                    "temporary failure in name resolution",
                ))
            } else {
                Ok(vec![
                    SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
                    SocketAddr::from(([10, 0, 0, 7], port)),
                ])
            }
        });
        let up = Upstream::resolve(&url("http://diary.school.local"), resolve).expect("up");
        assert_eq!(up.addr(), "10.0.0.7:80".parse().expect("addr"));
        assert_eq!(up.sni, "diary.school.local");
        let before = metrics::get().upstream_dns_failures.get();
        down.store(true, Ordering::Relaxed);
        up.refresh();
        assert_eq!(up.addr(), "10.0.0.7:80".parse().expect("addr"));
        assert!(metrics::get().upstream_dns_failures.get() > before);
    }

    #[test]
    fn an_unresolvable_name_at_start_is_an_error_that_names_it() {
        let nx: Resolve = Arc::new(|_, _| Err(std::io::Error::other("no such host")));
        let e = Upstream::resolve(&url("http://no-such-diary.invalid:8000"), nx)
            .err()
            .expect("error");
        assert!(e.contains("no-such-diary.invalid"), "{e}");
    }
}
