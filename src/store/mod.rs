//! The store interface: sessions and pending logins (ephemeral, with a TTL).
//! Backends know nothing of what the records mean beyond their types. The
//! in-memory backend serves one node; Redis and the durable embedded store
//! come with the issues that need them.

mod memory;

pub use memory::MemoryStore;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::identity::{EsiaOid, LegacyLogin, Role};

/// A gateway session: someone who came through ESIA and was matched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub login: LegacyLogin,
    pub oid: EsiaOid,
    pub role: Role,
    /// A confirmed ESIA account.
    pub trusted: bool,
    /// Unix seconds.
    pub created_at: i64,
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
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;
    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Single use: a pending login is gone once taken.
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError>;
    /// Number of live sessions (for the gauge).
    async fn session_count(&self) -> Result<usize, StoreError>;
}

/// A new random identifier (session id, state, binding): 256 bits, base64url.
pub fn random_id() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
pub(crate) mod suite {
    //! Behaviour every backend must show; each backend's tests call these.
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            login: LegacyLogin("ivanova".into()),
            oid: EsiaOid("1000001".into()),
            role: Role::Parent,
            trusted: true,
            created_at: 1,
        }
    }

    pub async fn sessions_round_trip(store: &dyn Store) {
        let id = random_id();
        assert_eq!(store.get_session(&id).await.expect("get"), None);
        store
            .put_session(&id, &record(), Duration::from_secs(60))
            .await
            .expect("put");
        assert_eq!(store.get_session(&id).await.expect("get"), Some(record()));
        store.delete_session(&id).await.expect("delete");
        assert_eq!(store.get_session(&id).await.expect("get"), None);
    }

    pub async fn pending_logins_are_single_use(store: &dyn Store) {
        let p = PendingLogin {
            return_to: "/grades".into(),
            binding: random_id(),
            created_at: 1,
        };
        store
            .put_pending("st", &p, Duration::from_secs(60))
            .await
            .expect("put");
        assert_eq!(store.take_pending("st").await.expect("take"), Some(p));
        assert_eq!(store.take_pending("st").await.expect("take"), None);
    }

    pub async fn records_expire(store: &dyn Store) {
        let id = random_id();
        store
            .put_session(&id, &record(), Duration::from_millis(20))
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.get_session(&id).await.expect("get"), None);
    }
}
