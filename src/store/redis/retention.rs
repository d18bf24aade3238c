//! Retention and one person's records in the version 2 layout: pruning by
//! the day sets, forgetting one person through their own keys (and taking
//! them out of the day sets and indexes, which name them too).
//!
//! Pruning takes the days wholly before the limit from `{days}:<kind>`,
//! oldest first; for each of their day sets it takes a handful of subjects
//! (SRANDMEMBER), removes their records older than the limit
//! (ZREMRANGEBYSCORE, which also takes their older records of other days),
//! and only then takes them out of the day set (SREM): a crash in between
//! leaves them to the next run. A day whose sets are empty leaves
//! `{days}:<kind>`. Records of the UTC day that contains the limit stay
//! until the limit has passed that day (a later run).

use super::Inner;
use super::keys::{DAY, Kind, day_of};
use crate::store::StoreError;

/// Subjects taken from a day set per step.
const STEP: usize = 100;

impl Inner {
    pub(super) async fn prune_before(
        &self,
        before: i64,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        for kind in [Kind::History, Kind::Failures] {
            removed += self.prune_kind(kind, before, batch - removed).await?;
            if removed >= batch {
                return Ok(removed);
            }
        }
        if self.v1_present().await? {
            removed += self.v1_prune(before, batch - removed).await?;
        }
        Ok(removed)
    }

    async fn prune_kind(&self, kind: Kind, before: i64, batch: usize) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        // Days d with (d + 1) * DAY <= before: wholly before the limit.
        let last = before.div_euclid(DAY) - 1;
        let mut c = redis::cmd("ZRANGE");
        c.arg(self.days(kind)).arg("-inf").arg(last).arg("BYSCORE");
        let days: Vec<i64> = self.query("prune_before", &c).await?;
        for day in days {
            for s in 0..kind.shards() {
                let set = self.day_set(kind, day, s);
                loop {
                    if removed >= batch {
                        return Ok(removed);
                    }
                    let mut c = redis::cmd("SRANDMEMBER");
                    c.arg(&set).arg(STEP.min(batch - removed).max(1));
                    let subjects: Vec<String> = self.query("prune_before", &c).await?;
                    if subjects.is_empty() {
                        break;
                    }
                    let writes = subjects
                        .iter()
                        .map(|subject| {
                            let k = self.records_of(kind, subject);
                            let mut c = redis::cmd("ZREMRANGEBYSCORE");
                            c.arg(&k).arg("-inf").arg(format!("({before}"));
                            (k, c)
                        })
                        .collect();
                    let counts: Vec<usize> = self.many("prune_before", writes).await?;
                    removed += counts.iter().sum::<usize>();
                    let mut c = redis::cmd("SREM");
                    c.arg(&set).arg(&subjects);
                    let _: usize = self.query("prune_before", &c).await?;
                }
            }
            let mut c = redis::cmd("ZREM");
            c.arg(self.days(kind)).arg(day);
            let _: usize = self.query("prune_before", &c).await?;
        }
        Ok(removed)
    }

    /// See [`Store::forget_person`](crate::store::Store::forget_person).
    pub(super) async fn forget_person(&self, oid: &str) -> Result<usize, StoreError> {
        let mut n = 0usize;
        let links = self.person(oid, "links");
        let mut c = redis::cmd("HKEYS");
        c.arg(&links);
        let fields: Vec<String> = self.query("forget_person", &c).await?;
        let mut own: Vec<String> = Vec::new();
        for field in &fields {
            let Some((kind, login)) = field.split_once(':') else {
                continue;
            };
            if kind == "own" {
                // Only an account this person owns is theirs to forget.
                let keys = [self.account(login, "owner")];
                let released: i64 = self
                    .script(
                        "forget_person",
                        &self.scripts.release_owner,
                        &keys,
                        &[oid.to_string()],
                    )
                    .await?;
                if released == 1 {
                    own.push(login.to_string());
                }
            }
            let mut c = redis::cmd("HDEL");
            c.arg(&links).arg(field);
            let k: usize = self.query("forget_person", &c).await?;
            if kind != "own" || own.last().is_some_and(|l| l == login) {
                n += k;
            }
        }
        for login in &own {
            self.leave_day_sets(Kind::History, login).await?;
            let keys = [self.account(login, "hist"), self.account(login, "last")];
            let k: usize = self
                .script("forget_person", &self.scripts.forget_account, &keys, &[])
                .await?;
            n += k;
            let mut c = redis::cmd("SREM");
            c.arg(self.logins_index(login)).arg(login);
            let _: usize = self.query("forget_person", &c).await?;
        }
        self.leave_day_sets(Kind::Failures, oid).await?;
        let fail = self.person(oid, "fail");
        let mut p = redis::pipe();
        p.cmd("ZCARD").arg(&fail).cmd("DEL").arg(&fail).ignore();
        let (k,): (usize,) = self.pipe("forget_person", &p).await?;
        n += k;
        let mut c = redis::cmd("SREM");
        c.arg(self.oids_index(oid)).arg(oid);
        let _: usize = self.query("forget_person", &c).await?;
        if self.v1_present().await? {
            n += self.v1_forget(oid).await?;
        }
        Ok(n)
    }

    /// Take `subject` out of the day sets of the days it has records on
    /// (read from those records, so before they go: a forget cut short is
    /// run again with the records still there).
    async fn leave_day_sets(&self, kind: Kind, subject: &str) -> Result<(), StoreError> {
        let mut c = redis::cmd("ZRANGE");
        c.arg(self.records_of(kind, subject))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let rows: Vec<(String, f64)> = self.query("forget_person", &c).await?;
        let days: std::collections::BTreeSet<i64> = rows
            .iter()
            .map(|(_, at)| day_of(at.floor() as i64))
            .collect();
        let writes = days
            .into_iter()
            .map(|d| {
                let k = self.day_set_of(kind, d, subject);
                let mut c = redis::cmd("SREM");
                c.arg(&k).arg(subject);
                (k, c)
            })
            .collect();
        let _: Vec<redis::Value> = self.many("forget_person", writes).await?;
        Ok(())
    }
}
