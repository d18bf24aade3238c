//! Who may open one more connection to the public listener. Connections are
//! counted while they are open — per client and in all — and an
//! [`Admission`] gives its place back when dropped, whichever way the
//! connection ended.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus::IntGauge;

use crate::proxy::client_ip::Net;

/// Why a connection was closed at once (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client already holds `connections.max_per_client`.
    PerClient,
    /// A trusted proxy already holds `connections.max_per_proxy`.
    PerProxy,
    /// The listener already holds `connections.max_total`.
    Total,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::PerClient => "per_client_cap",
            Self::PerProxy => "per_proxy_cap",
            Self::Total => "global_cap",
        }
    }
}

/// The caps in force; 0 turns a per-address cap off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_client: u32,
    pub per_proxy: u32,
    pub total: usize,
}

/// Whether one more connection may open, given what is open now.
pub fn decide(
    caps: &Caps,
    open_total: usize,
    open_from_peer: u32,
    from_proxy: bool,
) -> Result<(), Refusal> {
    if open_total >= caps.total {
        return Err(Refusal::Total);
    }
    let (cap, refusal) = if from_proxy {
        (caps.per_proxy, Refusal::PerProxy)
    } else {
        (caps.per_client, Refusal::PerClient)
    };
    if cap != 0 && open_from_peer >= cap {
        return Err(refusal);
    }
    Ok(())
}

/// An IPv4 client written as IPv6 (`::ffff:a.b.c.d`, a dual-stack
/// listener) is that IPv4 client.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What a client is counted by: its IPv4 address, or its IPv6 /64 — one
/// subscriber line gets a whole /64, and counting each of its addresses
/// would give one person billions of caps.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_peer: HashMap<IpAddr, u32>,
}

/// The open connections of the public listener, and the caps on them.
#[derive(Debug)]
pub struct Admissions {
    caps: Caps,
    proxies: Vec<Net>,
    open: Mutex<Open>,
    /// Follows `open.total`, for the metrics.
    gauge: IntGauge,
}

/// A place among the open connections, given back when dropped.
#[derive(Debug)]
pub struct Admission {
    owner: Arc<Admissions>,
    key: Option<IpAddr>,
}

impl Admissions {
    pub fn new(caps: Caps, proxies: Vec<Net>, gauge: IntGauge) -> Arc<Self> {
        Arc::new(Self {
            caps,
            proxies,
            open: Mutex::new(Open::default()),
            gauge,
        })
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// The counts stay right even if a holder of the lock panicked: each
    /// change is a single step.
    fn open(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a place for a connection from `peer` (`None`: not an IP
    /// peer, counted in the total only).
    pub fn admit(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
    ) -> Result<Admission, (Refusal, Option<IpAddr>)> {
        let peer = peer.map(canonical);
        let from_proxy = peer.is_some_and(|ip| self.proxies.iter().any(|n| n.contains(ip)));
        // A proxy is counted by its own address, a client by its key.
        let key = peer.map(|ip| if from_proxy { ip } else { client_key(ip) });
        let mut open = self.open();
        let from_peer = key.and_then(|k| open.by_peer.get(&k).copied()).unwrap_or(0);
        decide(&self.caps, open.total, from_peer, from_proxy).map_err(|r| (r, key))?;
        open.total += 1;
        if let Some(k) = key {
            *open.by_peer.entry(k).or_insert(0) += 1;
        }
        self.gauge.inc();
        Ok(Admission {
            owner: Arc::clone(self),
            key,
        })
    }

    /// Connections open now, in all.
    pub fn open_total(&self) -> usize {
        self.open().total
    }

    /// Connections open now from `ip`'s client (or proxy) key.
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let ip = canonical(ip);
        let from_proxy = self.proxies.iter().any(|n| n.contains(ip));
        let key = if from_proxy { ip } else { client_key(ip) };
        self.open().by_peer.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.owner.open();
        open.total = open.total.saturating_sub(1);
        self.owner.gauge.dec();
        if let Some(k) = self.key
            && let Some(n) = open.by_peer.get_mut(&k)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // The map holds only peers with open connections.
                open.by_peer.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        per_client: 2,
        per_proxy: 5,
        total: 10,
    };

    fn gauge() -> IntGauge {
        IntGauge::new("open", "open connections").expect("a gauge")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn a_client_at_its_cap_is_refused_another_is_not() {
        assert_eq!(decide(&CAPS, 3, 1, false), Ok(()));
        assert_eq!(decide(&CAPS, 3, 2, false), Err(Refusal::PerClient));
        assert_eq!(decide(&CAPS, 3, 0, false), Ok(()));
    }

    #[test]
    fn a_trusted_proxy_has_its_own_cap() {
        assert_eq!(decide(&CAPS, 3, 2, true), Ok(()));
        assert_eq!(decide(&CAPS, 6, 5, true), Err(Refusal::PerProxy));
        let uncapped = Caps {
            per_proxy: 0,
            ..CAPS
        };
        assert_eq!(decide(&uncapped, 9, 9, true), Ok(()));
    }

    #[test]
    fn the_total_cap_holds_for_everyone() {
        assert_eq!(decide(&CAPS, 10, 0, false), Err(Refusal::Total));
        assert_eq!(decide(&CAPS, 10, 0, true), Err(Refusal::Total));
        let off = Caps {
            per_client: 0,
            ..CAPS
        };
        assert_eq!(decide(&off, 9, 1000, false), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn places_are_given_back_when_connections_end() {
        let a = Admissions::new(CAPS, Vec::new(), gauge());
        let one = a.admit(Some(ip("192.0.2.1"))).expect("first");
        let two = a.admit(Some(ip("::ffff:192.0.2.1"))).expect("second");
        let (why, key) = a.admit(Some(ip("192.0.2.1"))).expect_err("third");
        assert_eq!((why, key), (Refusal::PerClient, Some(ip("192.0.2.1"))));
        assert!(a.admit(Some(ip("192.0.2.2"))).is_ok(), "another client");
        assert_eq!(
            a.open_total(),
            2,
            "the other client's place is given back at once"
        );
        drop(one);
        assert_eq!(a.open_from(ip("192.0.2.1")), 1);
        let three = a.admit(Some(ip("192.0.2.1"))).expect("a place again");
        assert_eq!(a.gauge.get(), 2);
        drop((two, three));
        assert_eq!(a.open_total(), 0);
        assert_eq!(a.gauge.get(), 0);
        assert!(a.open().by_peer.is_empty(), "no peer left behind");
    }

    #[test]
    fn an_ipv6_line_shares_one_cap() {
        let a = Admissions::new(CAPS, Vec::new(), gauge());
        let _x = a.admit(Some(ip("2001:db8::1"))).expect("first");
        let _y = a.admit(Some(ip("2001:db8::2"))).expect("second");
        assert!(a.admit(Some(ip("2001:db8::3"))).is_err());
        assert!(a.admit(Some(ip("2001:db8:0:1::3"))).is_ok(), "another /64");
    }

    #[test]
    fn trusted_proxies_are_counted_apart_from_clients() {
        let proxies = vec![Net::parse("10.0.0.0/24").expect("net")];
        let a = Admissions::new(CAPS, proxies, gauge());
        let held: Vec<_> = (0..5)
            .map(|_| a.admit(Some(ip("10.0.0.5"))).expect("a proxy's place"))
            .collect();
        let (why, _) = a.admit(Some(ip("10.0.0.5"))).expect_err("proxy cap");
        assert_eq!(why, Refusal::PerProxy);
        assert!(
            a.admit(Some(ip("10.0.0.6"))).is_ok(),
            "another balancer node"
        );
        drop(held);
    }

    #[test]
    fn a_peer_without_an_address_counts_in_the_total() {
        let a = Admissions::new(Caps { total: 1, ..CAPS }, Vec::new(), gauge());
        let held = a.admit(None).expect("first");
        let (why, key) = a.admit(Some(ip("192.0.2.1"))).expect_err("full");
        assert_eq!((why, key), (Refusal::Total, Some(ip("192.0.2.1"))));
        drop(held);
        assert_eq!(a.open_total(), 0);
    }
}
