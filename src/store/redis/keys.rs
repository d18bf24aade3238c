//! The Redis key layout, version 2 (see docs/store.md, "Keys").
//!
//! Every durable record lives under a hash tag of its own subject, so that a
//! cluster spreads them over its slots and every Lua script touches the keys
//! of one slot only:
//!
//! - per person (tag `{o:<h>}`, `h` = the first 16 hex digits of the
//!   SHA-256 of the oid): `links` (hash `kind:login` → link JSON: the
//!   person's links; an own link counts only while the login's `owner` names
//!   this person), `fail` (sorted set by time of `<id> <failure JSON>`);
//! - per diary account (tag `{l:<h>}` of the login): `owner` (the oid owning
//!   it through an own link), `last` (hash `esia`/`password` → unix
//!   seconds), `hist` (sorted set by time of `<id> <login JSON>`);
//! - indexes spread over fixed shards, each shard its own tag: `{oids:NN}`
//!   (sets of oids with links or failures, 256 shards), `{logins:NN}` (sets of
//!   logins with history, 256 shards), `{hday:D:NN}` (logins with history on
//!   UTC day `D`, 256 shards), `{fday:D:NN}` (oids with failures on day `D`,
//!   16 shards), `{days}:hist` / `{days}:fail` (sorted sets of the days that
//!   have day sets, one member a day: written once a day per node);
//! - `{meta}:layout` (`2` once no version 1 key is left) and
//!   `migrate-lock` (who is moving version 1 records now).
//!
//! Version 1 kept every durable record under the one tag `{durable}`; its
//! keys are named here for the migration and for reading what is not
//! migrated yet.

use super::Inner;
use super::calls::sha256_hex;

/// Shards of the oid and login indexes and of the history day sets.
pub(super) const SHARDS: u64 = 256;
/// Shards of the failure day sets (failures are rare).
pub(super) const FAIL_SHARDS: u64 = 16;
pub(super) const DAY: i64 = 86_400;

/// What a day set lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// Logins with login history.
    History,
    /// Oids with match failures.
    Failures,
}

impl Kind {
    pub(super) fn shards(self) -> u64 {
        match self {
            Kind::History => SHARDS,
            Kind::Failures => FAIL_SHARDS,
        }
    }
    fn day_tag(self) -> &'static str {
        match self {
            Kind::History => "hday",
            Kind::Failures => "fday",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::History => "hist",
            Kind::Failures => "fail",
        }
    }
}

fn tag_of(s: &str) -> String {
    sha256_hex(s)[..16].to_string()
}

/// A stable shard number of `s` below `n`.
pub(super) fn shard(s: &str, n: u64) -> u64 {
    let h = sha256_hex(s);
    u64::from_str_radix(&h[..8], 16).unwrap_or(0) % n
}

/// The UTC day (days since 1970-01-01) of a unix time.
pub(super) fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY)
}

impl Inner {
    // --- version 2 ---
    pub(super) fn person(&self, oid: &str, part: &str) -> String {
        self.key(&format!("{{o:{}}}:{part}", tag_of(oid)))
    }
    pub(super) fn account(&self, login: &str, part: &str) -> String {
        self.key(&format!("{{l:{}}}:{part}", tag_of(login)))
    }
    pub(super) fn oids_index(&self, oid: &str) -> String {
        self.oids_shard(shard(oid, SHARDS))
    }
    pub(super) fn oids_shard(&self, s: u64) -> String {
        self.key(&format!("{{oids:{s:02}}}"))
    }
    pub(super) fn logins_index(&self, login: &str) -> String {
        self.logins_shard(shard(login, SHARDS))
    }
    pub(super) fn logins_shard(&self, s: u64) -> String {
        self.key(&format!("{{logins:{s:02}}}"))
    }
    /// The day set of `kind` for `day` holding `subject`.
    pub(super) fn day_set_of(&self, kind: Kind, day: i64, subject: &str) -> String {
        self.day_set(kind, day, shard(subject, kind.shards()))
    }
    pub(super) fn day_set(&self, kind: Kind, day: i64, s: u64) -> String {
        self.key(&format!("{{{}:{day}:{s:02}}}", kind.day_tag()))
    }
    pub(super) fn days(&self, kind: Kind) -> String {
        self.key(&format!("{{days}}:{}", kind.name()))
    }
    /// The sorted set of `kind`'s records of one subject (a login's history,
    /// a person's failures).
    pub(super) fn records_of(&self, kind: Kind, subject: &str) -> String {
        match kind {
            Kind::History => self.account(subject, "hist"),
            Kind::Failures => self.person(subject, "fail"),
        }
    }
    pub(super) fn layout_key(&self) -> String {
        self.key("{meta}:layout")
    }
    pub(super) fn lock_key(&self) -> String {
        self.key("migrate-lock")
    }

    // --- version 1 ---
    pub(super) fn v1(&self, part: &str) -> String {
        self.key(&format!("{{durable}}:{part}"))
    }
    pub(super) fn v1_links(&self, oid: &str) -> String {
        self.v1(&format!("links:{oid}"))
    }
    /// Every version 1 key but the per-person link hashes (each of which
    /// has its oid in `oids`) and the migration's own history counter.
    pub(super) fn v1_keys(&self) -> Vec<String> {
        [
            "oids",
            "owners",
            "history",
            "last:esia",
            "last:password",
            "failures",
        ]
        .iter()
        .map(|p| self.v1(p))
        .collect()
    }
}
