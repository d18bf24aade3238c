//! Retention and one person's records on the Redis store: pruning old login
//! history and match failures in bounded batches, forgetting one person,
//! and the last logins of a few accounts.

use std::collections::HashMap;

use super::calls::{Inner, failure_member, from_json};
use crate::identity::LegacyLogin;
use crate::store::{AccountLink, LastLogins, LinkKind, LoginRecord, StoreError};

impl Inner {
    pub(super) async fn last_logins_of(
        &self,
        logins: &[LegacyLogin],
    ) -> Result<Vec<LastLogins>, StoreError> {
        let mut out = Vec::new();
        for chunk in logins.chunks(500) {
            let mut p = redis::pipe();
            p.cmd("HMGET").arg(self.durable("last:esia"));
            for l in chunk {
                p.arg(&l.0);
            }
            p.cmd("HMGET").arg(self.durable("last:password"));
            for l in chunk {
                p.arg(&l.0);
            }
            let (esia, password): (Vec<Option<i64>>, Vec<Option<i64>>) =
                self.pipe("last_logins_of", &p).await?;
            for ((l, e), pw) in chunk.iter().zip(esia).zip(password) {
                if e.is_some() || pw.is_some() {
                    out.push(LastLogins {
                        login: l.clone(),
                        last_esia: e,
                        last_password: pw,
                    });
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn prune_before(
        &self,
        before: i64,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        // History: a list in order of arrival, removed from its head while
        // the head is old.
        let key = self.durable("history");
        while removed < batch {
            let mut c = redis::cmd("LINDEX");
            c.arg(&key).arg(0);
            let head: Option<String> = self.query("prune_before", &c).await?;
            let Some(head) = head else { break };
            if from_json::<LoginRecord>(&head)?.at >= before {
                break;
            }
            let mut c = redis::cmd("LREM");
            c.arg(&key).arg(1).arg(&head);
            let n: usize = self.query("prune_before", &c).await?;
            removed += n.max(1);
        }
        let left = batch.saturating_sub(removed);
        if left > 0 {
            let fkey = self.durable("failures");
            let mut c = redis::cmd("ZRANGE");
            c.arg(&fkey)
                .arg("-inf")
                .arg(format!("({before}"))
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(left);
            let old: Vec<String> = self.query("prune_before", &c).await?;
            if !old.is_empty() {
                let mut c = redis::cmd("ZREM");
                c.arg(&fkey).arg(&old);
                let n: usize = self.query("prune_before", &c).await?;
                removed += n;
            }
        }
        Ok(removed)
    }

    pub(super) async fn forget_person(&self, oid: &str) -> Result<usize, StoreError> {
        let mut n = 0usize;
        let mut c = redis::cmd("HVALS");
        c.arg(self.links_key(oid));
        let links: Vec<String> = self.query("forget_person", &c).await?;
        let mut own = Vec::new();
        for l in &links {
            let link: AccountLink = from_json(l)?;
            if link.kind == LinkKind::Own {
                own.push(link.login.0.clone());
            }
            let removed = self.remove_link_raw(oid, &link.login.0, link.kind).await?;
            n += usize::from(removed);
        }
        if !own.is_empty() {
            let key = self.durable("history");
            let mut c = redis::cmd("LRANGE");
            c.arg(&key).arg(0).arg(-1);
            let rows: Vec<String> = self.query("forget_person", &c).await?;
            let mut counts: HashMap<String, usize> = HashMap::new();
            for r in rows {
                let rec: LoginRecord = from_json(&r)?;
                if own.contains(&rec.login.0) {
                    *counts.entry(r).or_default() += 1;
                }
            }
            for row in counts.keys() {
                let mut c = redis::cmd("LREM");
                c.arg(&key).arg(0).arg(row);
                let k: usize = self.query("forget_person", &c).await?;
                n += k;
            }
            for m in ["esia", "password"] {
                let mut c = redis::cmd("HDEL");
                c.arg(self.durable(&format!("last:{m}"))).arg(&own);
                let _: usize = self.query("forget_person", &c).await?;
            }
            // One last-login row per account, whichever methods it had.
            n += own.len();
        }
        let fkey = self.durable("failures");
        let mut c = redis::cmd("ZRANGE");
        c.arg(&fkey).arg(0).arg(-1);
        let rows: Vec<String> = self.query("forget_person", &c).await?;
        let mut doomed = Vec::new();
        for r in rows {
            if failure_member(&r)?.oid.0 == oid {
                doomed.push(r);
            }
        }
        if !doomed.is_empty() {
            let mut c = redis::cmd("ZREM");
            c.arg(&fkey).arg(&doomed);
            let k: usize = self.query("forget_person", &c).await?;
            n += k;
        }
        Ok(n)
    }
}
