//! Durable records in the version 2 layout (see `keys`): links with their
//! owners, login history with last logins, match failures, and reading
//! them back; version 1 keys are read too while they hold records (`v1`).
//!
//! An own link touches two subjects, the person and the account, which a
//! cluster may keep on two nodes; no script spans both. The account's
//! `owner` key is the truth ("who owns this login"), claimed by one script
//! in the account's slot, so two people racing for one account cannot both
//! win. The person's `links` hash is an index written before the claim and
//! removed after a release: a crash between the two steps leaves an index
//! entry whose account is not owned by this person, which every read
//! ignores (and an unlink or forget removes), never an owner without its
//! index entry.

use std::collections::{HashMap, HashSet};

use redis::cmd;

use super::Inner;
use super::calls::{failure_member, from_json, kind_str, method_str, to_json};
use super::keys::{Kind, day_of};
use super::v1::merge_last;
use crate::identity::LegacyLogin;
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, StoreError,
};

/// Logins or oids per pipeline when many are read at once.
pub(super) const CHUNK: usize = 500;

/// A record's member in its sorted set: a unique id, a space, the JSON.
pub(super) fn member(id: &str, json: &str) -> String {
    format!("{id} {json}")
}

impl Inner {
    pub(super) async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let (oid, login) = (link.oid.0.as_str(), link.login.0.as_str());
        let own = link.kind == LinkKind::Own;
        if own
            && self.v1_present().await?
            && self.v1_owner_of(login).await?.is_some_and(|o| o != oid)
        {
            return Err(StoreError::AlreadyLinked);
        }
        let links = self.person(oid, "links");
        let field = format!("{}:{login}", kind_str(link.kind));
        let index = self.oids_index(oid);
        let writes = vec![
            (
                links.clone(),
                cmd("HSETNX")
                    .arg(&links)
                    .arg(&field)
                    .arg(to_json(link)?)
                    .to_owned(),
            ),
            (index.clone(), cmd("SADD").arg(&index).arg(oid).to_owned()),
        ];
        let _: Vec<redis::Value> = self.many("put_link", writes).await?;
        if !own {
            return Ok(());
        }
        let keys = [self.account(login, "owner")];
        let ok: i64 = self
            .script(
                "put_link",
                &self.scripts.claim_owner,
                &keys,
                &[oid.to_string()],
            )
            .await?;
        if ok == 1 {
            return Ok(());
        }
        // Someone else owns the account: the index entry just written is
        // not a link.
        let mut c = redis::cmd("HDEL");
        c.arg(&links).arg(&field);
        let _: i64 = self.query("put_link", &c).await?;
        Err(StoreError::AlreadyLinked)
    }

    /// Removes one link; returns whether there was one.
    pub(super) async fn remove_link(
        &self,
        oid: &str,
        login: &str,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let mut removed = false;
        if kind == LinkKind::Own {
            let keys = [self.account(login, "owner")];
            let n: i64 = self
                .script(
                    "remove_link",
                    &self.scripts.release_owner,
                    &keys,
                    &[oid.to_string()],
                )
                .await?;
            removed = n == 1;
        }
        let mut c = redis::cmd("HDEL");
        c.arg(self.person(oid, "links"))
            .arg(format!("{}:{login}", kind_str(kind)));
        let n: i64 = self.query("remove_link", &c).await?;
        if kind == LinkKind::Child {
            removed = n == 1;
        }
        if self.v1_present().await? {
            removed |= self.v1_remove_link(oid, login, kind).await?;
        }
        Ok(removed)
    }

    /// The person's links; own ones only while the account's owner is
    /// this person.
    pub(super) async fn links_of(&self, oid: &str) -> Result<Vec<AccountLink>, StoreError> {
        let mut c = redis::cmd("HVALS");
        c.arg(self.person(oid, "links"));
        let rows: Vec<String> = self.query("links_of", &c).await?;
        let mut links: Vec<AccountLink> = rows
            .iter()
            .map(|s| from_json(s))
            .collect::<Result<_, _>>()?;
        let own: Vec<String> = links
            .iter()
            .filter(|l| l.kind == LinkKind::Own)
            .map(|l| l.login.0.clone())
            .collect();
        if !own.is_empty() {
            let reads = own
                .iter()
                .map(|l| {
                    let k = self.account(l, "owner");
                    (k.clone(), cmd("GET").arg(k).to_owned())
                })
                .collect();
            let owners: Vec<Option<String>> = self.many("links_of", reads).await?;
            let held: HashSet<&str> = own
                .iter()
                .zip(&owners)
                .filter(|(_, o)| o.as_deref() == Some(oid))
                .map(|(l, _)| l.as_str())
                .collect();
            links.retain(|l| l.kind == LinkKind::Child || held.contains(l.login.0.as_str()));
        }
        if self.v1_present().await? {
            for l in self.v1_links_of(oid).await? {
                if !links.iter().any(|x| x.login == l.login && x.kind == l.kind) {
                    links.push(l);
                }
            }
        }
        Ok(links)
    }

    pub(super) async fn owner_of(&self, login: &str) -> Result<Option<String>, StoreError> {
        let mut c = redis::cmd("GET");
        c.arg(self.account(login, "owner"));
        let v: Option<String> = self.query("owner_of", &c).await?;
        if v.is_none() && self.v1_present().await? {
            return self.v1_owner_of(login).await;
        }
        Ok(v)
    }

    /// Put `day` into the `{days}` set of `kind` unless this node did
    /// already (remembered for the last 64 days it wrote). Pruning takes a
    /// day out once its sets are empty; a record of that day written by an
    /// import at that very moment is beyond the retention limit anyway, and
    /// goes when its account's next login's day is pruned.
    async fn note_day(&self, kind: Kind, day: i64) -> Result<(), StoreError> {
        let seen = || self.days_seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen().contains(&(kind, day)) {
            return Ok(());
        }
        self.note_day_always(kind, day).await?;
        let mut s = seen();
        if s.len() > 64 {
            s.clear();
        }
        s.insert((kind, day));
        Ok(())
    }

    pub(super) async fn note_day_always(&self, kind: Kind, day: i64) -> Result<(), StoreError> {
        let mut c = redis::cmd("ZADD");
        c.arg(self.days(kind)).arg(day).arg(day);
        let _: i64 = self.query("note_day", &c).await?;
        Ok(())
    }

    /// Record one login under the member id `id` (the same id twice is one
    /// record). The indexes first, then the record: a crash in between
    /// leaves an index entry with nothing to prune, never a record that
    /// pruning cannot find.
    pub(super) async fn record_login(&self, r: &LoginRecord, id: &str) -> Result<(), StoreError> {
        let login = r.login.0.as_str();
        let day = day_of(r.at);
        self.note_day(Kind::History, day).await?;
        let writes = [
            self.day_set_of(Kind::History, day, login),
            self.logins_index(login),
        ]
        .map(|k| (k.clone(), cmd("SADD").arg(k).arg(login).to_owned()));
        let _: Vec<redis::Value> = self.many("record_login_index", writes.into()).await?;
        let keys = [self.account(login, "hist"), self.account(login, "last")];
        let args = [
            member(id, &to_json(r)?),
            r.at.to_string(),
            method_str(r.method).to_string(),
        ];
        let _: i64 = self
            .script("record_login", &self.scripts.record_login, &keys, &args)
            .await?;
        Ok(())
    }

    /// Record one failed match under the member id `id`; indexes first.
    pub(super) async fn record_match_failure(
        &self,
        f: &MatchFailure,
        id: &str,
    ) -> Result<(), StoreError> {
        let oid = f.oid.0.as_str();
        let day = day_of(f.at);
        self.note_day(Kind::Failures, day).await?;
        let writes = [
            self.day_set_of(Kind::Failures, day, oid),
            self.oids_index(oid),
        ]
        .map(|k| (k.clone(), cmd("SADD").arg(k).arg(oid).to_owned()));
        let _: Vec<redis::Value> = self
            .many("record_match_failure_index", writes.into())
            .await?;
        let mut c = redis::cmd("ZADD");
        c.arg(self.person(oid, "fail"))
            .arg(f.at)
            .arg(member(id, &to_json(f)?));
        let _: i64 = self.query("record_match_failure", &c).await?;
        Ok(())
    }

    pub(super) async fn has_logged_in(&self, login: &str) -> Result<bool, StoreError> {
        let mut c = redis::cmd("EXISTS");
        c.arg(self.account(login, "last"));
        let n: i64 = self.query("has_logged_in", &c).await?;
        if n == 0 && self.v1_present().await? {
            let l = [LegacyLogin(login.to_string())];
            return Ok(!self.v1_last_logins_of(&l).await?.is_empty());
        }
        Ok(n > 0)
    }

    /// Last logins of these accounts, a pipeline per [`CHUNK`].
    pub(super) async fn last_logins_of(
        &self,
        logins: &[LegacyLogin],
    ) -> Result<Vec<LastLogins>, StoreError> {
        let mut out: HashMap<String, LastLogins> = self
            .last_logins_of_v2(logins)
            .await?
            .into_iter()
            .map(|l| (l.login.0.clone(), l))
            .collect();
        if self.v1_present().await? {
            merge_last(&mut out, self.v1_last_logins_of(logins).await?);
        }
        Ok(out.into_values().collect())
    }

    /// Every member of one index shard, read in steps (SSCAN).
    pub(super) async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut c = redis::cmd("SSCAN");
            c.arg(key).arg(cursor).arg("COUNT").arg(1000);
            let (next, batch): (u64, Vec<String>) = self.query("scan", &c).await?;
            out.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every account that has logged in, shard by shard.
    pub(super) async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        let mut out = Vec::new();
        for s in 0..super::keys::SHARDS {
            let logins: Vec<LegacyLogin> = self
                .members(&self.logins_shard(s))
                .await?
                .into_iter()
                .map(LegacyLogin)
                .collect();
            let mut v2 = self.last_logins_of_v2(&logins).await?;
            out.append(&mut v2);
        }
        if self.v1_present().await? {
            let mut all: HashMap<String, LastLogins> =
                out.into_iter().map(|l| (l.login.0.clone(), l)).collect();
            merge_last(&mut all, self.v1_last_logins().await?);
            return Ok(all.into_values().collect());
        }
        Ok(out)
    }

    async fn last_logins_of_v2(
        &self,
        logins: &[LegacyLogin],
    ) -> Result<Vec<LastLogins>, StoreError> {
        let mut out = Vec::new();
        for chunk in logins.chunks(CHUNK) {
            let reads = chunk
                .iter()
                .map(|l| {
                    let k = self.account(&l.0, "last");
                    (
                        k.clone(),
                        cmd("HMGET").arg(k).arg("esia").arg("password").to_owned(),
                    )
                })
                .collect();
            let rows: Vec<(Option<i64>, Option<i64>)> = self.many("last_logins", reads).await?;
            for (l, (e, pw)) in chunk.iter().zip(rows) {
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

    /// The records of `kind` of these subjects from `at` on, a pipeline
    /// per [`CHUNK`] (raw members).
    pub(super) async fn records_since(
        &self,
        kind: Kind,
        subjects: &[String],
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in subjects.chunks(CHUNK) {
            let reads = chunk
                .iter()
                .map(|s| {
                    let k = self.records_of(kind, s);
                    (
                        k.clone(),
                        cmd("ZRANGE")
                            .arg(k)
                            .arg(at)
                            .arg("+inf")
                            .arg("BYSCORE")
                            .to_owned(),
                    )
                })
                .collect();
            let rows: Vec<Vec<String>> = self.many("records", reads).await?;
            out.extend(rows.into_iter().flatten());
        }
        Ok(out)
    }

    /// Failures from `at` on: the people in the day sets of those days,
    /// then their failures.
    pub(super) async fn match_failures_since(
        &self,
        at: i64,
    ) -> Result<Vec<MatchFailure>, StoreError> {
        let mut c = redis::cmd("ZRANGE");
        c.arg(self.days(Kind::Failures))
            .arg(day_of(at))
            .arg("+inf")
            .arg("BYSCORE");
        let days: Vec<i64> = self.query("match_failures_since", &c).await?;
        let mut oids: Vec<String> = Vec::new();
        for day in days {
            let reads = (0..Kind::Failures.shards())
                .map(|s| {
                    let k = self.day_set(Kind::Failures, day, s);
                    (k.clone(), cmd("SMEMBERS").arg(k).to_owned())
                })
                .collect();
            let sets: Vec<Vec<String>> = self.many("match_failures_since", reads).await?;
            oids.extend(sets.into_iter().flatten());
        }
        oids.sort();
        oids.dedup();
        let mut out: Vec<MatchFailure> = self
            .records_since(Kind::Failures, &oids, at)
            .await?
            .iter()
            .map(|m| failure_member(m))
            .collect::<Result<_, _>>()?;
        if self.v1_present().await? {
            out.extend(self.v1_failures_since(at).await?);
        }
        out.sort_by_key(|f| f.at);
        Ok(out)
    }

    /// Every durable record: links and failures person by person, history
    /// account by account, then whatever version 1 keys still hold.
    pub(super) async fn export(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let (mut links, mut logins, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..super::keys::SHARDS {
            let oids = self.members(&self.oids_shard(s)).await?;
            for oid in &oids {
                for l in self.links_of_v2_only(oid).await? {
                    links.push(DurableRecord::Link(l));
                }
            }
            for m in self.records_since(Kind::Failures, &oids, i64::MIN).await? {
                failures.push(DurableRecord::MatchFailure(failure_member(&m)?));
            }
            let accounts = self.members(&self.logins_shard(s)).await?;
            for m in self
                .records_since(Kind::History, &accounts, i64::MIN)
                .await?
            {
                logins.push(DurableRecord::Login(parse_member(&m)?));
            }
        }
        links.append(&mut logins);
        links.append(&mut failures);
        if self.v1_present().await? {
            links.extend(self.v1_export().await?);
        }
        Ok(links)
    }

    /// [`Self::links_of`] without version 1 keys.
    async fn links_of_v2_only(&self, oid: &str) -> Result<Vec<AccountLink>, StoreError> {
        let present = self.v1_present().await?;
        let mut links = self.links_of(oid).await?;
        if present {
            let v1 = self.v1_links_of(oid).await?;
            links.retain(|l| !v1.contains(l));
        }
        Ok(links)
    }
}

/// The record in a `<id> <json>` member.
pub(super) fn parse_member<T: serde::de::DeserializeOwned>(m: &str) -> Result<T, StoreError> {
    from_json(m.split_once(' ').map_or(m, |(_, j)| j))
}
