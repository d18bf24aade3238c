//! Reports that read the store a part at a time: the adoption report asks
//! the store only for the last logins of the accounts its filter covers
//! (a one-school report reads that school, never the region), in parts of
//! [`PART`] accounts, and its accounts table as CSV is sent a part at a
//! time (chunked), so that memory holds one part and the totals whatever
//! the size of the region. The adoption gauge counts the same way.
//!
//! The admin listener serves requests itself (`HttpServerApp`) rather than
//! through Pingora's whole-body `ServeHttp`, so that such a file can be
//! written while it is read from the store.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

use super::AdminApp;
use super::reports::{AdoptionBuilder, AdoptionCounts, Clock, Filter, Report};
use super::tables::{csv_rows, csv_start};
use crate::identity::{Account, Directory, Role};
use crate::store::{LastLogins, StoreError};

/// Accounts whose last logins are asked of the store at once.
pub(super) const PART: usize = 2000;

/// What the listener sends: a whole answer, or a file written a part at a
/// time.
pub(super) enum Answer {
    Whole(Response<Vec<u8>>),
    AdoptionCsv(AdoptionCsv),
}

/// The adoption report's accounts table as CSV.
pub(super) struct AdoptionCsv {
    pub dir: Arc<Directory>,
    pub filter: Filter,
    pub group: Vec<&'static str>,
    pub clock: Clock,
    /// The file name offered to the browser.
    pub file: String,
}

impl AdminApp {
    /// The last logins of `accounts`, one store call per [`PART`].
    pub(super) async fn last_logins_of_accounts(
        &self,
        accounts: &[&Account],
    ) -> Result<Vec<LastLogins>, StoreError> {
        let mut out = Vec::new();
        for part in accounts.chunks(PART) {
            let logins: Vec<_> = part.iter().map(|a| a.login.clone()).collect();
            out.extend(self.store.last_logins_of(&logins).await?);
        }
        Ok(out)
    }

    /// The adoption report with every row (a page, JSON), or (`rows`
    /// false: the totals file) with its totals only, from the last logins
    /// of the covered accounts only.
    pub(super) async fn adoption_report(
        &self,
        dir: &Directory,
        filter: &Filter,
        group: &[&'static str],
        clock: Clock,
        rows: bool,
    ) -> Result<Report, StoreError> {
        let mut b = AdoptionBuilder::new(dir, filter, group, clock);
        let covered = b.covered();
        let mut out = Vec::new();
        for part in covered.chunks(PART) {
            let last = self.last_logins_of_accounts(part).await?;
            let by_login = by_login(&last);
            for a in part {
                let l = by_login.get(a.login.0.as_str()).copied();
                if rows {
                    out.extend(b.add(a, l));
                } else {
                    b.count(a, l);
                }
            }
        }
        Ok(b.finish(out))
    }

    /// Counts for the adoption gauge, the directory a part at a time.
    pub(super) async fn adoption_counts(
        &self,
        dir: &Directory,
    ) -> Result<Vec<(Role, &'static str, i64)>, StoreError> {
        let mut counts = AdoptionCounts::default();
        for part in dir.accounts().chunks(PART) {
            let logins: Vec<_> = part.iter().map(|a| a.login.clone()).collect();
            let last = self.store.last_logins_of(&logins).await?;
            counts.add(part, &last);
        }
        Ok(counts.finish())
    }

    /// Send the adoption accounts table: the first part is read before the
    /// answer starts (a store that does not answer is a 503, not a broken
    /// file); a failure later cuts the transfer short, which a browser or
    /// `curl` reports as an incomplete download. Returns whether the
    /// connection may be reused.
    async fn send_adoption_csv(&self, s: AdoptionCsv, http: &mut ServerSession) -> bool {
        let mut b = AdoptionBuilder::new(&s.dir, &s.filter, &s.group, s.clock);
        let covered = b.covered();
        let columns = AdoptionBuilder::columns();
        let mut parts = covered.chunks(PART);
        let mut next = match parts.next() {
            Some(p) => Some((p, self.last_logins_of_accounts(p).await)),
            None => None,
        };
        if let Some((_, Err(e))) = &next {
            tracing::error!(report = "adoption", error = %e, "a report could not be read from the store");
            let body = b"the store does not answer; try again later\n".to_vec();
            let r = Response::builder()
                .status(503)
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Content-Length", body.len())
                .header("Cache-Control", "no-store")
                .body(body)
                .unwrap_or_else(|_| Response::new(Vec::new()));
            return send_whole(http, r).await;
        }
        let head = Response::builder()
            .status(200)
            .header("Content-Type", "text/csv; charset=utf-8")
            .header(
                "Content-Disposition",
                format!("attachment; filename=\"{}\"", s.file),
            )
            .header("Cache-Control", "no-store")
            .header("X-Content-Type-Options", "nosniff")
            .header("Transfer-Encoding", "chunked")
            .body(())
            .map(|r| r.into_parts().0);
        let Ok(head) = head else {
            return false;
        };
        let h: ResponseHeader = head.into();
        if http.write_response_header(Box::new(h)).await.is_err() {
            return false;
        }
        let mut chunk = csv_start(&columns);
        while let Some((part, last)) = next.take() {
            let last = match last {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(report = "adoption", error = %e, "the store stopped answering while a report was sent; the file is cut short");
                    return false;
                }
            };
            let by_login = by_login(&last);
            let rows: Vec<_> = part
                .iter()
                .filter_map(|a| b.add(a, by_login.get(a.login.0.as_str()).copied()))
                .collect();
            chunk.extend(csv_rows(&columns, &rows));
            if http
                .write_response_body(Bytes::from(std::mem::take(&mut chunk)), false)
                .await
                .is_err()
            {
                return false;
            }
            next = match parts.next() {
                Some(p) => Some((p, self.last_logins_of_accounts(p).await)),
                None => None,
            };
        }
        if !chunk.is_empty() {
            let _ = http.write_response_body(Bytes::from(chunk), false).await;
        }
        http.finish_body().await.is_ok()
    }
}

fn by_login(last: &[LastLogins]) -> HashMap<&str, &LastLogins> {
    last.iter().map(|l| (l.login.0.as_str(), l)).collect()
}

async fn send_whole(http: &mut ServerSession, r: Response<Vec<u8>>) -> bool {
    let (parts, body) = r.into_parts();
    let header: ResponseHeader = parts.into();
    if http.write_response_header(Box::new(header)).await.is_err() {
        return false;
    }
    if !body.is_empty() && http.write_response_body(body.into(), true).await.is_err() {
        return false;
    }
    true
}

#[async_trait::async_trait]
impl HttpServerApp for AdminApp {
    /// Pingora's loop for one request (as its `ServeHttp` runs it), with
    /// room for answers written a part at a time.
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match http.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "admin listener: no request read");
                return None;
            }
        }
        http.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
        let reusable = match self.answer(&mut http).await {
            Answer::Whole(r) => send_whole(&mut http, r).await,
            Answer::AdoptionCsv(s) => self.send_adoption_csv(s, &mut http).await,
        };
        if !reusable {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&http);
        match http.finish().await {
            Ok(c) => c.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(e) => {
                tracing::debug!(error = %e, "admin listener: cannot finish a request");
                None
            }
        }
    }
}
