//! Moving version 1 records into the version 2 layout: once, online,
//! idempotent, one node at a time.
//!
//! - One node at a time: a lock key (`migrate-lock`, `SET NX` with a 30 s
//!   lifetime, renewed after every step). Two gateways starting at once:
//!   one moves, the other serves at once (reading version 1 keys too while
//!   they hold records) and finds nothing left to move on its next try. A
//!   migrating node that dies leaves the lock to expire; the next try of
//!   any node goes on where it stopped.
//! - Idempotent: every record is written to version 2 first and removed
//!   from version 1 after, so a crash in between leaves it in both and the
//!   next run writes it again without doubling it — links and last logins
//!   are idempotent by nature, history rows take the member id `v1-<n>`
//!   from their position `n` in the version 1 list (a counter kept next to
//!   it, advanced only by the script that drops the moved rows, and only
//!   if nobody else moved rows meanwhile), failures keep their member.
//! - Online: gateways serve throughout; until version 1 keys are empty they
//!   read both layouts (`v1`).
//! - An own link whose account another person owns in version 2 (taken on
//!   an old and a new node during a rolling upgrade) is not moved: it stays
//!   in version 1 and is counted as a conflict for the operator to settle
//!   (`links forget` or unlinking one of the two).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Inner;
use super::RedisStore;
use super::calls::from_json;
use super::durable::member;
use super::keys::{Kind, day_of};
use super::scripts::{RAISE_LAST, V1_DROP_LAST};
use crate::store::{LoginRecord, MatchFailure, StoreError, random_id};

const LOCK_MS: u64 = 30_000;
/// Records moved per step (a pipeline each way).
const STEP: usize = 500;

/// What one migration run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Migration {
    pub links: usize,
    /// Own links left in version 1: another person owns the account in
    /// version 2.
    pub conflicts: usize,
    pub last_logins: usize,
    pub history: usize,
    pub failures: usize,
    /// Another node was migrating and did not finish within the wait:
    /// nothing was done here.
    pub busy: bool,
    /// No version 1 key is left: the layout is marked `2`.
    pub done: bool,
}

impl RedisStore {
    /// Move every version 1 record into version 2 keys (see the module
    /// documentation). When another node holds the lock, wait up to `wait`
    /// for it, then report `busy`.
    pub async fn migrate_v1(&self, wait: Duration) -> Result<Migration, StoreError> {
        self.run_for(
            "migrate",
            None,
            move |i| async move { i.migrate(wait).await },
        )
        .await
    }

    /// The layout marker: `2` once no version 1 key is left, `1` while
    /// some are (asked of Redis now).
    pub async fn layout(&self) -> Result<u8, StoreError> {
        self.run("layout", |i| async move {
            Ok(if i.v1_check().await? { 1 } else { 2 })
        })
        .await
    }
}

impl Inner {
    async fn migrate(&self, wait: Duration) -> Result<Migration, StoreError> {
        if !self.v1_check().await? {
            return Ok(Migration {
                done: true,
                ..Migration::default()
            });
        }
        let token = random_id();
        let deadline = Instant::now() + wait;
        loop {
            let mut c = redis::cmd("SET");
            c.arg(self.lock_key())
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_MS);
            let got: Option<String> = self.query("migrate", &c).await?;
            if got.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                return Ok(Migration {
                    busy: true,
                    ..Migration::default()
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let result = self.migrate_locked(&token).await;
        let keys = [self.lock_key()];
        let _: Result<i64, _> = self
            .script("migrate", &self.scripts.drop_lock, &keys, &[token])
            .await;
        let m = result?;
        tracing::info!(
            links = m.links,
            conflicts = m.conflicts,
            last_logins = m.last_logins,
            history = m.history,
            failures = m.failures,
            done = m.done,
            "redis store: version 1 records moved to the version 2 layout"
        );
        Ok(m)
    }

    async fn keep_lock(&self, token: &str) -> Result<(), StoreError> {
        let keys = [self.lock_key()];
        let args = [token.to_string(), LOCK_MS.to_string()];
        let kept: i64 = self
            .script("migrate", &self.scripts.keep_lock, &keys, &args)
            .await?;
        if kept == 1 {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "redis migrate: the lock expired (a step took over 30 s); run it again".into(),
            ))
        }
    }

    async fn migrate_locked(&self, token: &str) -> Result<Migration, StoreError> {
        let mut m = Migration::default();
        self.move_links(token, &mut m).await?;
        self.move_last_logins(token, &mut m).await?;
        self.move_history(token, &mut m).await?;
        self.move_failures(token, &mut m).await?;
        m.done = !self.v1_check().await?;
        Ok(m)
    }

    async fn move_links(&self, token: &str, m: &mut Migration) -> Result<(), StoreError> {
        let mut cursor = 0u64;
        loop {
            let mut c = redis::cmd("SSCAN");
            c.arg(self.v1("oids")).arg(cursor).arg("COUNT").arg(100);
            let (next, oids): (u64, Vec<String>) = self.query("migrate", &c).await?;
            for oid in &oids {
                for link in self.v1_links_of(oid).await? {
                    match self.put_link(&link).await {
                        Ok(()) => {
                            self.v1_remove_link(oid, &link.login.0, link.kind).await?;
                            m.links += 1;
                        }
                        Err(StoreError::AlreadyLinked) => m.conflicts += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            self.keep_lock(token).await?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn move_last_logins(&self, token: &str, m: &mut Migration) -> Result<(), StoreError> {
        for method in ["esia", "password"] {
            let hash = self.v1(&format!("last:{method}"));
            // Passes over the hash until one finds nothing (a field that
            // changed under us stays for the next pass).
            loop {
                let mut cursor = 0u64;
                let mut moved = 0usize;
                loop {
                    let mut c = redis::cmd("HSCAN");
                    c.arg(&hash).arg(cursor).arg("COUNT").arg(STEP);
                    let (next, flat): (u64, Vec<String>) = self.query("migrate", &c).await?;
                    let pairs: Vec<(&String, &String)> = flat
                        .chunks(2)
                        .filter_map(|p| Some((p.first()?, p.get(1)?)))
                        .collect();
                    moved += self.move_last_step(method, &hash, &pairs).await?;
                    self.keep_lock(token).await?;
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                m.last_logins += moved;
                if moved == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One step of last logins: the later of both layouts into version 2
    /// (with the account in the login index), then out of version 1 if
    /// unchanged meanwhile. Returns how many left version 1.
    async fn move_last_step(
        &self,
        method: &str,
        hash: &str,
        pairs: &[(&String, &String)],
    ) -> Result<usize, StoreError> {
        if pairs.is_empty() {
            return Ok(0);
        }
        let mut writes = Vec::new();
        for (login, at) in pairs {
            let last = self.account(login, "last");
            let mut c = redis::cmd("EVAL");
            c.arg(RAISE_LAST).arg(1).arg(&last).arg(method).arg(*at);
            writes.push((last, c));
            let index = self.logins_index(login);
            let mut c = redis::cmd("SADD");
            c.arg(&index).arg(*login);
            writes.push((index, c));
        }
        let _: Vec<redis::Value> = self.many("migrate", writes).await?;
        let drops = pairs
            .iter()
            .map(|(login, at)| {
                let mut c = redis::cmd("EVAL");
                c.arg(V1_DROP_LAST).arg(1).arg(hash).arg(*login).arg(*at);
                (hash.to_string(), c)
            })
            .collect();
        let dropped: Vec<i64> = self.many("migrate", drops).await?;
        Ok(dropped.iter().filter(|d| **d == 1).count())
    }

    async fn move_history(&self, token: &str, m: &mut Migration) -> Result<(), StoreError> {
        let (list, moved) = (self.v1("history"), self.v1("history:moved"));
        loop {
            let mut c = redis::cmd("GET");
            c.arg(&moved);
            let offset: u64 = self.query::<Option<u64>>("migrate", &c).await?.unwrap_or(0);
            let mut c = redis::cmd("LRANGE");
            c.arg(&list).arg(0).arg(STEP - 1);
            let rows: Vec<String> = self.query("migrate", &c).await?;
            if rows.is_empty() {
                return Ok(());
            }
            let records: Vec<LoginRecord> = rows
                .iter()
                .map(|r| from_json(r))
                .collect::<Result<_, _>>()?;
            let days: BTreeSet<i64> = records.iter().map(|r| day_of(r.at)).collect();
            for day in days {
                self.note_day_always(Kind::History, day).await?;
            }
            let mut writes = Vec::new();
            for (n, (r, json)) in (offset..).zip(records.iter().zip(&rows)) {
                let login = r.login.0.as_str();
                for k in [
                    self.day_set_of(Kind::History, day_of(r.at), login),
                    self.logins_index(login),
                ] {
                    let mut c = redis::cmd("SADD");
                    c.arg(&k).arg(login);
                    writes.push((k, c));
                }
                let hist = self.account(login, "hist");
                let mut c = redis::cmd("ZADD");
                c.arg(&hist).arg(r.at).arg(member(&format!("v1-{n}"), json));
                writes.push((hist, c));
            }
            let _: Vec<redis::Value> = self.many("migrate", writes).await?;
            let keys = [list.clone(), moved.clone()];
            let args = [offset.to_string(), rows.len().to_string()];
            let trimmed: i64 = self
                .script("migrate", &self.scripts.v1_trim_history, &keys, &args)
                .await?;
            if trimmed != 1 {
                return Err(StoreError::Unavailable(
                    "redis migrate: another node moved history rows at the same time; run it again"
                        .into(),
                ));
            }
            m.history += rows.len();
            self.keep_lock(token).await?;
        }
    }

    async fn move_failures(&self, token: &str, m: &mut Migration) -> Result<(), StoreError> {
        let set = self.v1("failures");
        loop {
            let mut c = redis::cmd("ZRANGE");
            c.arg(&set).arg(0).arg(STEP - 1);
            let members: Vec<String> = self.query("migrate", &c).await?;
            if members.is_empty() {
                return Ok(());
            }
            let failures: Vec<MatchFailure> = members
                .iter()
                .map(|x| super::calls::failure_member(x))
                .collect::<Result<_, _>>()?;
            let days: BTreeSet<i64> = failures.iter().map(|f| day_of(f.at)).collect();
            for day in days {
                self.note_day_always(Kind::Failures, day).await?;
            }
            let mut writes = Vec::new();
            for (f, raw) in failures.iter().zip(&members) {
                let oid = f.oid.0.as_str();
                for k in [
                    self.day_set_of(Kind::Failures, day_of(f.at), oid),
                    self.oids_index(oid),
                ] {
                    let mut c = redis::cmd("SADD");
                    c.arg(&k).arg(oid);
                    writes.push((k, c));
                }
                let fail = self.person(oid, "fail");
                let mut c = redis::cmd("ZADD");
                c.arg(&fail).arg(f.at).arg(raw);
                writes.push((fail, c));
            }
            let _: Vec<redis::Value> = self.many("migrate", writes).await?;
            let mut c = redis::cmd("ZREM");
            c.arg(&set).arg(&members);
            let _: usize = self.query("migrate", &c).await?;
            m.failures += members.len();
            self.keep_lock(token).await?;
        }
    }
}
