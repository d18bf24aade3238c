//! Loopback ports for the servers tests and benchmarks start.
//!
//! Asking the kernel for port 0 and releasing it races with every outgoing
//! connection: those take their local port from the same ephemeral range
//! (32768-60999 on Linux), and a busy test run opens thousands. Ports here
//! come from below that range, are checked free by binding, and are never
//! handed out twice in one process. Redis Cluster also listens on the port
//! plus 10000 (its bus): those ports are never handed out here.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// 10000-19999: below the ephemeral range even with the 10000 that Redis
/// Cluster adds for its bus port, which this never hands out itself.
const FIRST: u32 = 10_000;
const SPAN: u32 = 10_000;

/// A loopback port free right now, below the ephemeral range.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Processes started side by side begin at different places.
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start + n) % SPAN;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let a = free_port().expect("port");
        let b = free_port().expect("port");
        assert_ne!(a, b);
        for p in [a, b] {
            assert!((10_000..20_000).contains(&p), "{p}");
            TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }
}
