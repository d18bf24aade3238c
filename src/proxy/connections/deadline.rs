//! A deadline for a whole request header. Pingora's read timeouts are per
//! read, so a client sending one header line every few seconds (slowloris)
//! holds its connection for ever. Here the connection's reads are watched:
//! the header phase starts at accept (the first request) or at the first
//! byte of a later request, ends at the empty line closing the header, and
//! the task serving the connection drops it when the phase outlives
//! `connections.header_timeout_seconds`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    Stream, TimingDigest, UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Finds the empty line that ends a request header, across reads: a line
/// feed, optionally a carriage return, and a line feed, after some text
/// (empty lines before a request line are not its end).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EndOfHeader {
    text: bool,
    line_feed: bool,
}

impl EndOfHeader {
    /// Feed the next bytes read; true once the header has ended.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            match b {
                b'\n' if self.line_feed && self.text => return true,
                b'\n' => self.line_feed = true,
                b'\r' => {}
                _ => {
                    self.text = true;
                    self.line_feed = false;
                }
            }
        }
        false
    }
}

#[derive(Debug)]
enum Phase {
    /// Reading a request header, which must end by `deadline`.
    Header { deadline: Instant, end: EndOfHeader },
    /// The header has ended: the body, the answer, or an upgraded
    /// connection; Pingora's own timeouts apply.
    Request,
    /// Between two requests on a kept-alive connection: the keep-alive
    /// timeout applies until the next request's first byte.
    Idle,
}

/// One connection's header deadline, shared by its reads ([`Watched`])
/// and the task serving it.
#[derive(Debug)]
pub struct HeaderWatch {
    timeout: Duration,
    phase: Mutex<Phase>,
    changed: Notify,
}

impl HeaderWatch {
    /// A connection accepted at `accepted`: its first header is due by
    /// `accepted + timeout`.
    pub fn new(timeout: Duration, accepted: Instant) -> Arc<Self> {
        Arc::new(Self {
            timeout,
            phase: Mutex::new(Phase::Header {
                deadline: accepted + timeout,
                end: EndOfHeader::default(),
            }),
            changed: Notify::new(),
        })
    }

    /// The phase is a plain value: a panic elsewhere cannot leave it half
    /// changed.
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes were read from the client.
    fn saw(&self, bytes: &[u8], now: Instant) {
        let mut phase = self.phase();
        let mut changed = false;
        if matches!(*phase, Phase::Idle) {
            *phase = Phase::Header {
                deadline: now + self.timeout,
                end: EndOfHeader::default(),
            };
            changed = true;
        }
        if let Phase::Header { end, .. } = &mut *phase
            && end.feed(bytes)
        {
            *phase = Phase::Request;
            changed = true;
        }
        drop(phase);
        if changed {
            self.changed.notify_one();
        }
    }

    /// The answer is out and the connection is kept for another request.
    pub fn next_request(&self) {
        *self.phase() = Phase::Idle;
        self.changed.notify_one();
    }

    fn deadline(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Header { deadline, .. } => Some(deadline),
            Phase::Request | Phase::Idle => None,
        }
    }

    /// Resolves when a header phase outlives its deadline.
    pub async fn expired(&self) {
        loop {
            match self.deadline() {
                Some(d) if Instant::now() >= d => return,
                Some(d) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(d) => {}
                        () = self.changed.notified() => {}
                    }
                }
                // `notify_one` keeps a wake-up for a waiter not yet waiting.
                None => self.changed.notified().await,
            }
        }
    }
}

/// A connection whose reads feed a [`HeaderWatch`]; everything else is
/// the connection's own.
#[derive(Debug)]
pub struct Watched {
    inner: Stream,
    watch: Arc<HeaderWatch>,
}

impl Watched {
    pub fn new(inner: Stream, watch: Arc<HeaderWatch>) -> Self {
        Self { inner, watch }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                self.watch.saw(new, Instant::now());
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Watched {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Watched {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Watched {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Watched {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Watched {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for Watched {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for Watched {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(chunks: &[&[u8]]) -> bool {
        let mut e = EndOfHeader::default();
        chunks.iter().any(|c| e.feed(c))
    }

    #[test]
    fn a_header_ends_at_its_empty_line_across_reads() {
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: x\r", b"\n\r", b"\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\nHost: x\n\n"]), "bare line feeds");
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: x\r\n\n"]));
    }

    #[test]
    fn a_trickled_header_has_not_ended() {
        assert!(!ends(&[
            b"GET / HTTP/1.1\r\n",
            b"X-a: 1\r\n",
            b"X-b: 2\r\n"
        ]));
        assert!(
            !ends(&[b"\r\n\r\n", b"\r\n", b"GET / HTTP/1.1\r\n"]),
            "empty lines before the request line"
        );
    }

    #[test]
    fn the_deadline_runs_from_accept_then_from_each_requests_first_byte() {
        let t0 = Instant::now();
        let w = HeaderWatch::new(Duration::from_secs(10), t0);
        assert_eq!(w.deadline(), Some(t0 + Duration::from_secs(10)));
        w.saw(b"GET / HTTP/1.1\r\n", t0 + Duration::from_secs(1));
        assert_eq!(
            w.deadline(),
            Some(t0 + Duration::from_secs(10)),
            "no reset by a line"
        );
        w.saw(b"\r\n", t0 + Duration::from_secs(2));
        assert_eq!(w.deadline(), None, "the header is in");
        w.saw(b"body bytes\r\n\r\n", t0 + Duration::from_secs(3));
        assert_eq!(w.deadline(), None, "a body is not a header");
        w.next_request();
        assert_eq!(w.deadline(), None, "idle: the keep-alive timeout's turn");
        let later = t0 + Duration::from_secs(100);
        w.saw(b"G", later);
        assert_eq!(w.deadline(), Some(later + Duration::from_secs(10)));
    }

    #[tokio::test]
    async fn expiry_follows_the_phase() {
        let w = HeaderWatch::new(Duration::from_millis(300), Instant::now());
        w.saw(b"GET / HTTP/1.1\r\n\r\n", Instant::now());
        let waiting = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired().await })
        };
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            !waiting.is_finished(),
            "no deadline while a request is served"
        );
        w.next_request();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!waiting.is_finished(), "no deadline while idle");
        w.saw(b"GET", Instant::now());
        let expired = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(expired.is_ok(), "a trickled header expires");
    }
}
