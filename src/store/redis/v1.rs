//! Version 1 of the key layout, read while it still holds records: every
//! durable key under the one tag `{durable}` (`links:<oid>`, `oids`,
//! `owners`, `history`, `last:esia`, `last:password`, `failures`). A node
//! of this version writes only version 2 keys; until the migration has
//! moved everything (or while older nodes still write version 1 keys in a
//! rolling upgrade), its reads add what version 1 keys hold, its unlinks
//! and forgets remove from both, and an own link taken in version 1 still
//! counts. Whether any version 1 key is left is asked of Redis at most
//! every [`RECHECK_MS`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::Inner;
use super::calls::{failure_member, from_json, kind_str, now_ms};
use crate::identity::LegacyLogin;
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, StoreError,
};

pub(super) const RECHECK_MS: u64 = 30_000;

pub(super) struct V1State {
    present: AtomicBool,
    checked_ms: AtomicU64,
}

impl Default for V1State {
    /// Unknown counts as present until asked.
    fn default() -> Self {
        Self {
            present: AtomicBool::new(true),
            checked_ms: AtomicU64::new(0),
        }
    }
}

/// A login's last ESIA and password logins, as version 1 keeps them.
pub(super) type LastPair = (Option<i64>, Option<i64>);

impl Inner {
    /// Whether version 1 keys may hold records (asked of Redis at most every
    /// [`RECHECK_MS`]).
    pub(super) async fn v1_present(&self) -> Result<bool, StoreError> {
        let checked = self.v1.checked_ms.load(Ordering::Relaxed);
        if now_ms().saturating_sub(checked) < RECHECK_MS {
            return Ok(self.v1.present.load(Ordering::Relaxed));
        }
        self.v1_check().await
    }

    /// Ask Redis now; with no version 1 key left, mark the layout `2`.
    pub(super) async fn v1_check(&self) -> Result<bool, StoreError> {
        let mut c = redis::cmd("EXISTS");
        c.arg(self.v1_keys());
        let n: usize = self.query("v1_check", &c).await?;
        let present = n > 0;
        if !present {
            let mut c = redis::cmd("SET");
            c.arg(self.layout_key()).arg("2").arg("NX");
            let _: Option<String> = self.query("v1_check", &c).await?;
        }
        self.v1.present.store(present, Ordering::Relaxed);
        self.v1.checked_ms.store(now_ms(), Ordering::Relaxed);
        Ok(present)
    }

    pub(super) async fn v1_links_of(&self, oid: &str) -> Result<Vec<AccountLink>, StoreError> {
        let mut c = redis::cmd("HVALS");
        c.arg(self.v1_links(oid));
        let v: Vec<String> = self.query("links_of", &c).await?;
        v.iter().map(|s| from_json(s)).collect()
    }

    pub(super) async fn v1_owner_of(&self, login: &str) -> Result<Option<String>, StoreError> {
        let mut c = redis::cmd("HGET");
        c.arg(self.v1("owners")).arg(login);
        self.query("owner_of", &c).await
    }

    pub(super) async fn v1_remove_link(
        &self,
        oid: &str,
        login: &str,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let k = kind_str(kind);
        let keys = [self.v1_links(oid), self.v1("owners"), self.v1("oids")];
        let args = [
            oid.to_string(),
            login.to_string(),
            format!("{k}:{login}"),
            k.to_string(),
        ];
        let n: i64 = self
            .script("remove_link", &self.scripts.v1_remove_link, &keys, &args)
            .await?;
        Ok(n == 1)
    }

    /// Last logins of these accounts in version 1 keys (absent ones left out).
    pub(super) async fn v1_last_logins_of(
        &self,
        logins: &[LegacyLogin],
    ) -> Result<HashMap<String, LastPair>, StoreError> {
        let mut out = HashMap::new();
        for chunk in logins.chunks(500) {
            let mut p = redis::pipe();
            p.cmd("HMGET").arg(self.v1("last:esia"));
            for l in chunk {
                p.arg(&l.0);
            }
            p.cmd("HMGET").arg(self.v1("last:password"));
            for l in chunk {
                p.arg(&l.0);
            }
            let (esia, password): (Vec<Option<i64>>, Vec<Option<i64>>) =
                self.pipe("last_logins_of", &p).await?;
            for ((l, e), pw) in chunk.iter().zip(esia).zip(password) {
                if e.is_some() || pw.is_some() {
                    out.insert(l.0.clone(), (e, pw));
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn v1_last_logins(&self) -> Result<HashMap<String, LastPair>, StoreError> {
        let mut p = redis::pipe();
        p.cmd("HGETALL")
            .arg(self.v1("last:esia"))
            .cmd("HGETALL")
            .arg(self.v1("last:password"));
        let (esia, password): (HashMap<String, i64>, HashMap<String, i64>) =
            self.pipe("last_logins", &p).await?;
        let mut out: HashMap<String, LastPair> = HashMap::new();
        for (l, at) in esia {
            out.entry(l).or_default().0 = Some(at);
        }
        for (l, at) in password {
            out.entry(l).or_default().1 = Some(at);
        }
        Ok(out)
    }

    pub(super) async fn v1_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        let mut c = redis::cmd("ZRANGE");
        c.arg(self.v1("failures"))
            .arg(at)
            .arg("+inf")
            .arg("BYSCORE");
        let v: Vec<String> = self.query("match_failures_since", &c).await?;
        v.iter().map(|m| failure_member(m)).collect()
    }

    /// At most `batch` version 1 history rows and failures older than
    /// `before`: the history list from its head while the head is old (it
    /// is in order of arrival), the failures by time.
    pub(super) async fn v1_prune(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        let key = self.v1("history");
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
            let fkey = self.v1("failures");
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

    /// One person's records in version 1 keys removed; returns how many.
    /// Reads the whole history list and failure set: version 1 has no
    /// index by person, which is why version 2 exists.
    pub(super) async fn v1_forget(&self, oid: &str) -> Result<usize, StoreError> {
        let mut n = 0usize;
        let mut own = Vec::new();
        for link in self.v1_links_of(oid).await? {
            if link.kind == LinkKind::Own {
                own.push(link.login.0.clone());
            }
            n += usize::from(self.v1_remove_link(oid, &link.login.0, link.kind).await?);
        }
        if !own.is_empty() {
            let key = self.v1("history");
            let mut c = redis::cmd("LRANGE");
            c.arg(&key).arg(0).arg(-1);
            let rows: Vec<String> = self.query("forget_person", &c).await?;
            let mut doomed: HashMap<String, ()> = HashMap::new();
            for r in rows {
                if own.contains(&from_json::<LoginRecord>(&r)?.login.0) {
                    doomed.insert(r, ());
                }
            }
            for row in doomed.keys() {
                let mut c = redis::cmd("LREM");
                c.arg(&key).arg(0).arg(row);
                let k: usize = self.query("forget_person", &c).await?;
                n += k;
            }
            let logins: Vec<LegacyLogin> = own.iter().cloned().map(LegacyLogin).collect();
            n += self.v1_last_logins_of(&logins).await?.len();
            for m in ["esia", "password"] {
                let mut c = redis::cmd("HDEL");
                c.arg(self.v1(&format!("last:{m}"))).arg(&own);
                let _: usize = self.query("forget_person", &c).await?;
            }
        }
        let fkey = self.v1("failures");
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

    /// Every record version 1 keys hold.
    pub(super) async fn v1_export(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let mut out = Vec::new();
        let mut c = redis::cmd("SMEMBERS");
        c.arg(self.v1("oids"));
        let mut oids: Vec<String> = self.query("export", &c).await?;
        oids.sort();
        for oid in oids {
            for l in self.v1_links_of(&oid).await? {
                out.push(DurableRecord::Link(l));
            }
        }
        let mut start = 0i64;
        const CHUNK: i64 = 5000;
        loop {
            let mut c = redis::cmd("LRANGE");
            c.arg(self.v1("history")).arg(start).arg(start + CHUNK - 1);
            let rows: Vec<String> = self.query("export", &c).await?;
            let n = i64::try_from(rows.len()).unwrap_or(0);
            for r in rows {
                out.push(DurableRecord::Login(from_json(&r)?));
            }
            if n < CHUNK {
                break;
            }
            start += CHUNK;
        }
        out.extend(
            self.v1_failures_since(i64::MIN)
                .await?
                .into_iter()
                .map(DurableRecord::MatchFailure),
        );
        Ok(out)
    }
}

/// Merge version 1 last logins into `out` (the later of each).
pub(super) fn merge_last(out: &mut HashMap<String, LastLogins>, v1: HashMap<String, LastPair>) {
    let later = |a: Option<i64>, b: Option<i64>| a.max(b);
    for (login, (e, p)) in v1 {
        let x = out.entry(login.clone()).or_insert_with(|| LastLogins {
            login: LegacyLogin(login),
            last_esia: None,
            last_password: None,
        });
        x.last_esia = later(x.last_esia, e);
        x.last_password = later(x.last_password, p);
    }
}
