//! The store interface. Ephemeral records (sessions, pending logins, rate
//! limits, password-session cookies) live with a TTL; durable records
//! (links, login history, match failures) must survive a crash once a call
//! that writes them has returned `Ok`. Password-session cookies sit in
//! between: they expire, but a backend that can keep them across a restart
//! does (the embedded file, Redis). Backends know nothing of what the
//! records mean beyond their types.

pub mod cached;
mod embedded;
mod memory;
pub mod migrate;
mod open;
pub mod postgres;
pub mod redis;
#[cfg(test)]
mod suite;
pub mod upkeep;

pub use cached::{CacheSettings, CachedStore};
pub use embedded::EmbeddedStore;
pub use memory::MemoryStore;
pub use open::{Purpose, check_notes, check_notes_blocking, open, open_blocking, open_for};
pub use postgres::{PostgresStore, WithPostgres};
pub use redis::RedisStore;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::identity::{EsiaOid, LegacyLogin, Role};
use crate::policy::TrustLevel;

/// A gateway session: someone who came through ESIA. `active` is the diary
/// account in use; `None` while the person still has to choose or link.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub oid: EsiaOid,
    /// A confirmed ESIA account.
    pub trusted: bool,
    /// The diary accounts this person may use (matched or linked).
    pub accounts: Vec<LegacyLogin>,
    pub active: Option<LegacyLogin>,
    pub role: Option<Role>,
    /// The child a parent is looking at, when one is chosen.
    pub child: Option<LegacyLogin>,
    /// The person's name as ESIA gave it, for the gateway's own pages.
    pub display_name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// A parent's children (student accounts) found by SNILS or linked.
    #[serde(default)]
    pub children: Vec<LegacyLogin>,
    /// Where to go once an account (and child) is chosen.
    #[serde(default)]
    pub return_to: Option<String>,
    /// Token every form of the gateway's pages must carry back.
    #[serde(default)]
    pub csrf: String,
    /// Why no account matched (a match outcome label), for the linking page.
    #[serde(default)]
    pub unmatched_reason: Option<String>,
    /// Unix seconds of the last request seen with this session (0: none
    /// since the login), kept to the minute; for the idle timeout.
    #[serde(default)]
    pub last_seen: i64,
    /// The ESIA account's level at login. Absent in sessions stored before
    /// the gateway told levels apart: read through [`Self::trust_level`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<TrustLevel>,
}

/// What a request finds of its session's idleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Used recently enough; nothing to write.
    Fresh,
    /// Still alive, but `last_seen` should move (written once a minute at
    /// most, so the hot path stays without a store write).
    Touch,
    /// Unused longer than the idle timeout: over.
    Expired,
}

impl SessionRecord {
    /// The account's level: as stored, else (a session from before levels)
    /// confirmed when `trusted`, otherwise the least — a stage wanting a
    /// standard account then asks the person to log in again rather than
    /// letting a simplified one through.
    pub fn trust_level(&self) -> TrustLevel {
        self.level.unwrap_or(if self.trusted {
            TrustLevel::Confirmed
        } else {
            TrustLevel::Simplified
        })
    }

    /// The session's idleness at `now` under an idle timeout of
    /// `idle_seconds` (0: no idle timeout).
    pub fn idle(&self, now: i64, idle_seconds: u64) -> Idle {
        if idle_seconds == 0 {
            return Idle::Fresh;
        }
        let idle = i64::try_from(idle_seconds).unwrap_or(i64::MAX);
        let seen = self.last_seen.max(self.created_at);
        let quiet = now.saturating_sub(seen);
        if quiet > idle {
            Idle::Expired
        } else if quiet >= (idle / 4).min(60) {
            Idle::Touch
        } else {
            Idle::Fresh
        }
    }
}

/// A login that was sent to ESIA and has not come back yet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    /// Where to go after login: a path on the gateway's own origin.
    pub return_to: String,
    /// The value of the browser binding cookie set when the login started.
    pub binding: String,
    /// Unix seconds.
    pub created_at: i64,
    /// What the token exchange needs back (a broker's nonce and PKCE
    /// verifier); empty for ESIA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub handshake: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// The person's own diary account.
    Own,
    /// A child's student account attached to a parent.
    Child,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum LinkSource {
    /// Found by FIO + SNILS.
    Snils,
    /// Proved once with the diary login and password.
    Password,
}

/// An ESIA person → diary account link. Durable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountLink {
    pub oid: EsiaOid,
    pub login: LegacyLogin,
    pub kind: LinkKind,
    pub source: LinkSource,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    Esia,
    Password,
}

/// One login into a diary account. Durable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginRecord {
    pub login: LegacyLogin,
    pub method: LoginMethod,
    /// Unix seconds.
    pub at: i64,
}

/// The latest logins of one account, for the adoption report and for the
/// `existing_users` policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastLogins {
    pub login: LegacyLogin,
    pub last_esia: Option<i64>,
    pub last_password: Option<i64>,
}

/// An ESIA login that found no single account, kept for the school's
/// report: the directory accounts involved and the name ESIA gave; never
/// the SNILS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MatchFailure {
    /// Unix seconds.
    pub at: i64,
    /// The match outcome label (`fio_differs`, `snils_not_in_diary`, ...).
    pub reason: String,
    pub oid: EsiaOid,
    /// Directory accounts involved (same SNILS or same FIO), if any.
    pub logins: Vec<LegacyLogin>,
    /// The person's name as ESIA gave it (last, first, middle name), so
    /// that the school knows whom a row is about. Never a SNILS. Absent in
    /// records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The answer to [`Store::rate_reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Counted: `count` attempts in the window, this one included (never
    /// above the limit).
    Granted { count: u64 },
    /// The limit is reached; nothing was counted. `seconds_left` until the
    /// window ends (at least 1).
    Refused { seconds_left: u64 },
}

/// Everything durable, one record a line in `links export` / `links import`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DurableRecord {
    Link(AccountLink),
    Login(LoginRecord),
    MatchFailure(MatchFailure),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The diary login is already linked (as an own account) to another
    /// ESIA person.
    #[error("the login is already linked to another ESIA person")]
    AlreadyLinked,
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// The embedded store's file is held by another process (a running
    /// gateway): fine for `esia-gate check`, fatal for a second gateway.
    #[error("store in use: {0}")]
    InUse(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    // --- sessions (ephemeral) ---
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;
    /// Number of live sessions (for the gauge); may be approximate.
    async fn session_count(&self) -> Result<usize, StoreError>;

    // --- pending logins (ephemeral, single use) ---
    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// A pending login is gone once taken.
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError>;

    // --- rate limits (ephemeral, fixed windows) ---
    /// Reserve one attempt under `key` before the thing it limits is done,
    /// atomically: when the current window holds fewer than `limit`
    /// attempts, count this one and grant it; otherwise count nothing and
    /// refuse it with the seconds until the window ends. A window starts at
    /// the first attempt granted under the key and lasts `window`; later
    /// attempts never extend it. Concurrent callers never get more than
    /// `limit` grants per window between them.
    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError>;
    /// Give back one attempt granted by [`Store::rate_reserve`] (an attempt
    /// that turned out not to count, such as a right password). The window
    /// keeps its end; the count never goes below zero, and a key whose
    /// window is over is left alone.
    async fn rate_release(&self, key: &str) -> Result<(), StoreError>;

    // --- password sessions: diary cookie (hashed) → login ---
    // Short-lived (a TTL), but kept across restarts wherever the backend is
    // durable (the embedded file, Redis): a restart of the gateway must not
    // turn a known password session into an unattributed one.
    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError>;

    // --- links (durable; `Ok` means on disk / acknowledged by the server) ---
    /// Adds a link (idempotent for the same oid, login and kind). An `Own`
    /// link to a login that has an `Own` link to another oid fails with
    /// [`StoreError::AlreadyLinked`], atomically.
    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError>;
    /// Returns whether a link was removed.
    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError>;
    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError>;
    /// The ESIA person owning `login` through an `Own` link.
    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError>;

    // --- login history and match failures (durable) ---
    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError>;
    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError>;
    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError>;
    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError>;
    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError>;
    /// Last logins of these diary logins only (for one school's report),
    /// without reading the whole region. Logins that never logged in are
    /// absent from the answer; the order is unspecified.
    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError>;

    // --- retention and one person's records ---
    /// Remove login history and match failures recorded before `before`
    /// (unix seconds, `at < before`), at most about `batch` records per
    /// call (a backend may overshoot by the records of one login); returns
    /// how many were removed, and 0 only when nothing older is left. A
    /// backend may prune by whole UTC days and keep the records of the day
    /// that contains `before` until a later call (Redis does). Links and
    /// last logins are not touched: links stay until unlinked, last logins
    /// are one row per account (see `links forget`).
    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError>;
    /// Remove every durable record of one person: the links of this oid
    /// (own and child, with the owner entries of its own links), the login
    /// history and last logins of the diary accounts it owns (own links),
    /// and the match failures recorded for this oid. Returns how many
    /// records were removed (links + history rows + last-login rows +
    /// failures); 0 when the store knew nothing of the oid.
    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError>;

    // --- migration and health ---
    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError>;
    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError>;
    /// Can the store serve requests now (for `/readyz`)?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Can the durable records be read and written now? The same as
    /// [`Store::ping`] unless they live elsewhere (PostgreSQL), whose outage
    /// stops new logins but not the people already in.
    async fn ping_durable(&self) -> Result<(), StoreError> {
        self.ping().await
    }
}

/// A new random identifier (session id, binding): 256 bits, base64url.
pub fn random_id() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod idle_tests {
    use super::*;

    #[test]
    fn a_session_stored_before_levels_reads_as_its_trusted_flag_says() {
        let old = r#"{"oid":"1","trusted":false,"accounts":[],"active":null,"role":null,
            "child":null,"display_name":"x","created_at":1}"#;
        let r: SessionRecord = serde_json::from_str(old).expect("old session");
        assert_eq!(r.level, None);
        assert_eq!(r.trust_level(), TrustLevel::Simplified);
        let confirmed = old.replace("\"trusted\":false", "\"trusted\":true");
        let r: SessionRecord = serde_json::from_str(&confirmed).expect("old session");
        assert_eq!(r.trust_level(), TrustLevel::Confirmed);
        let new = SessionRecord {
            level: Some(TrustLevel::Standard),
            ..SessionRecord::default()
        };
        let json = serde_json::to_string(&new).expect("json");
        assert!(json.contains("\"level\":\"standard\""), "{json}");
        let back: SessionRecord = serde_json::from_str(&json).expect("back");
        assert_eq!(back.trust_level(), TrustLevel::Standard);
    }

    fn seen(created_at: i64, last_seen: i64) -> SessionRecord {
        SessionRecord {
            created_at,
            last_seen,
            ..SessionRecord::default()
        }
    }

    #[test]
    fn a_session_ends_after_the_idle_timeout_and_use_keeps_it() {
        let idle = 1800;
        // Just logged in: fresh, nothing to write.
        assert_eq!(seen(1000, 0).idle(1000, idle), Idle::Fresh);
        assert_eq!(seen(1000, 0).idle(1059, idle), Idle::Fresh);
        // A minute on: its use is noted.
        assert_eq!(seen(1000, 0).idle(1060, idle), Idle::Touch);
        // Half an hour untouched: still alive at the second, over after it.
        assert_eq!(seen(1000, 0).idle(2800, idle), Idle::Touch);
        assert_eq!(seen(1000, 0).idle(2801, idle), Idle::Expired);
        // Used at 2700: alive until 4500.
        assert_eq!(seen(1000, 2700).idle(4500, idle), Idle::Touch);
        assert_eq!(seen(1000, 2700).idle(4501, idle), Idle::Expired);
        // No idle timeout configured.
        assert_eq!(seen(1000, 0).idle(1_000_000, 0), Idle::Fresh);
        // Short timeouts note use more often than once a minute.
        assert_eq!(seen(1000, 0).idle(1001, 4), Idle::Touch);
        // A clock that went back is not idleness.
        assert_eq!(seen(1000, 0).idle(900, idle), Idle::Fresh);
    }

    #[test]
    fn a_failed_match_kept_before_names_were_kept_still_reads() {
        let old = r#"{"at":5,"reason":"nothing","oid":"1","logins":[]}"#;
        let f: MatchFailure = serde_json::from_str(old).expect("an old record");
        assert_eq!(f.display_name, None);
        let unnamed = serde_json::to_string(&f).expect("json");
        assert_eq!(unnamed, old, "written as before when there is no name");
    }
}
