//! `[connections]`: how many connections the public listener keeps open, per
//! client and in all, and how long a connection may take to send a request
//! header or sit idle between requests. One client holding thousands of
//! idle or trickling connections must not take the descriptors and memory
//! every other user (and the admin listener) needs.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    /// Open public connections from one client address (an IPv6 client by
    /// its /64); over it a new connection is closed at once. 0: no cap.
    pub max_per_client: u32,
    /// Open public connections from one address of
    /// `gateway.trusted_proxies` (a balancer or TLS terminator carries
    /// many people). 0: no cap of its own, only `max_total`.
    pub max_per_proxy: u32,
    /// Open public connections in all. Absent: derived from the process's
    /// file descriptor limit, leaving descriptors for the diary, the store
    /// and the admin listener, and at most 50,000 (memory).
    pub max_total: Option<u32>,
    /// Seconds a connection has to deliver a whole request header: from
    /// accept for the first request, from its first byte for later ones.
    pub header_timeout_seconds: u64,
    /// Seconds an idle connection is kept open between requests. 0: no
    /// keep-alive (one request per connection).
    pub keepalive_timeout_seconds: u64,
}

pub const DEFAULT_MAX_PER_CLIENT: u32 = 256;
const MAX_HEADER_TIMEOUT: u64 = 300;
const MAX_KEEPALIVE_TIMEOUT: u64 = 3600;

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max_per_client: DEFAULT_MAX_PER_CLIENT,
            max_per_proxy: 0,
            max_total: None,
            header_timeout_seconds: 10,
            keepalive_timeout_seconds: 60,
        }
    }
}

/// Checks that need nothing but the section: the key at fault and why.
pub fn validate(c: &ConnectionSettings) -> Result<(), (&'static str, String)> {
    if c.header_timeout_seconds == 0 || c.header_timeout_seconds > MAX_HEADER_TIMEOUT {
        return Err((
            "connections.header_timeout_seconds",
            format!(
                "must be between 1 and {MAX_HEADER_TIMEOUT}, got {}: without a deadline a client \
                 trickling a header holds its connection for ever",
                c.header_timeout_seconds
            ),
        ));
    }
    if c.keepalive_timeout_seconds > MAX_KEEPALIVE_TIMEOUT {
        return Err((
            "connections.keepalive_timeout_seconds",
            format!(
                "must be between 0 (no keep-alive) and {MAX_KEEPALIVE_TIMEOUT}, got {}",
                c.keepalive_timeout_seconds
            ),
        ));
    }
    if c.max_total == Some(0) {
        return Err((
            "connections.max_total",
            "must be at least 1 (leave it out to derive it from the file descriptor limit)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(validate(&ConnectionSettings::default()), Ok(()));
    }

    #[test]
    fn a_header_without_deadline_is_refused() {
        for t in [0, MAX_HEADER_TIMEOUT + 1] {
            let c = ConnectionSettings {
                header_timeout_seconds: t,
                ..ConnectionSettings::default()
            };
            let (key, _) = validate(&c).expect_err("out of range");
            assert_eq!(key, "connections.header_timeout_seconds");
        }
    }

    #[test]
    fn keepalive_may_be_off_but_not_endless() {
        let off = ConnectionSettings {
            keepalive_timeout_seconds: 0,
            ..ConnectionSettings::default()
        };
        assert_eq!(validate(&off), Ok(()));
        let long = ConnectionSettings {
            keepalive_timeout_seconds: MAX_KEEPALIVE_TIMEOUT + 1,
            ..ConnectionSettings::default()
        };
        let (key, _) = validate(&long).expect_err("too long");
        assert_eq!(key, "connections.keepalive_timeout_seconds");
    }

    #[test]
    fn a_total_of_zero_is_refused() {
        let c = ConnectionSettings {
            max_total: Some(0),
            ..ConnectionSettings::default()
        };
        let (key, _) = validate(&c).expect_err("zero");
        assert_eq!(key, "connections.max_total");
    }
}
