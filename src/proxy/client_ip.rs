//! The browser's address, for rate limits and logs. Behind a load balancer
//! the peer is the balancer: only a peer the operator trusts may name the
//! client in `X-Forwarded-For`, and only the hops after the last untrusted
//! one count — anything further left is whatever the client wrote.

use std::net::IpAddr;

pub use crate::config::net::Net;

/// The client: the peer itself unless it is trusted, else the rightmost
/// `X-Forwarded-For` hop that is not a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Net]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(xff) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // A hop we cannot read: stop at the last one we could.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = [Net::parse("10.0.0.0/8").expect("net")];
        assert_eq!(
            client_ip(ip("203.0.113.7"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn behind_a_trusted_balancer_the_last_untrusted_hop_is_the_client() {
        let trusted = [Net::parse("10.0.0.0/8").expect("net")];
        // The client forged the first hop; the balancer appended the real one.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.9"), &trusted),
            ip("198.51.100.9")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        assert!(Net::parse("::1").expect("v6").contains(ip("::1")));
        assert!(
            Net::parse("192.168.0.0/16")
                .expect("v4")
                .contains(ip("192.168.4.1"))
        );
        assert!(
            !Net::parse("192.168.0.0/16")
                .expect("v4")
                .contains(ip("192.169.0.1"))
        );
        assert!(
            Net::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(Net::parse("10.0.0.0/33").is_err());
        assert!(Net::parse("example").is_err());
    }
}
