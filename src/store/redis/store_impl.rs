//! [`Store`] for [`RedisStore`]: each call runs on the store's runtime
//! under its deadline; see the parent module for the key layout.

use std::time::Duration;

use async_trait::async_trait;

use super::RedisStore;
use super::calls::{from_json, millis, now_ms, sha256_hex, to_json};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginRecord, MatchFailure, PendingLogin,
    Reserved, SessionRecord, Store, StoreError, random_id,
};

#[async_trait]
impl Store for RedisStore {
    async fn put_session(
        &self,
        id: &str,
        s: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (id, json, ms) = (id.to_string(), to_json(s)?, millis(ttl));
        self.run("put_session", move |i| async move {
            let key = i.session_key(&id);
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(json).arg("PX").arg(ms);
            let () = i.query("put_session", &set).await?;
            let keys = [i.key("sessions")];
            let args = [
                now_ms().saturating_add(ms).to_string(),
                sha256_hex(&id),
                ms.to_string(),
            ];
            let _: i64 = i
                .script("put_session", &i.scripts.track_session, &keys, &args)
                .await?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.to_string();
        self.run("get_session", move |i| async move {
            let mut c = redis::cmd("GET");
            c.arg(i.session_key(&id));
            let v: Option<String> = i.query("get_session", &c).await?;
            v.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.run("delete_session", move |i| async move {
            let mut c = redis::cmd("DEL");
            c.arg(i.session_key(&id));
            let _: i64 = i.query("delete_session", &c).await?;
            let mut z = redis::cmd("ZREM");
            z.arg(i.key("sessions")).arg(sha256_hex(&id));
            let _: i64 = i.query("delete_session", &z).await?;
            Ok(())
        })
        .await
    }

    async fn session_count(&self) -> Result<usize, StoreError> {
        self.run("session_count", move |i| async move {
            let key = i.key("sessions");
            let mut trim = redis::cmd("ZREMRANGEBYSCORE");
            trim.arg(&key).arg("-inf").arg(now_ms());
            let _: i64 = i.query("session_count", &trim).await?;
            let mut c = redis::cmd("ZCARD");
            c.arg(&key);
            let n: usize = i.query("session_count", &c).await?;
            Ok(n)
        })
        .await
    }

    async fn put_pending(
        &self,
        state: &str,
        p: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (state, json, ms) = (state.to_string(), to_json(p)?, millis(ttl));
        self.run("put_pending", move |i| async move {
            let mut c = redis::cmd("SET");
            c.arg(i.key(&format!("pending:{state}")))
                .arg(json)
                .arg("PX")
                .arg(ms);
            let () = i.query("put_pending", &c).await?;
            Ok(())
        })
        .await
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let state = state.to_string();
        self.run("take_pending", move |i| async move {
            let mut c = redis::cmd("GETDEL");
            c.arg(i.key(&format!("pending:{state}")));
            let v: Option<String> = i.query("take_pending", &c).await?;
            v.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn rate_reserve(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Reserved, StoreError> {
        let (key, ms) = (key.to_string(), millis(window));
        self.run("rate_reserve", move |i| async move {
            let keys = [i.key(&format!("rate:{key}"))];
            let args = [limit.to_string(), ms.to_string()];
            let (granted, n): (i64, i64) = i
                .script("rate_reserve", &i.scripts.rate_reserve, &keys, &args)
                .await?;
            let n = u64::try_from(n).unwrap_or(0);
            Ok(if granted == 1 {
                Reserved::Granted { count: n }
            } else {
                Reserved::Refused {
                    seconds_left: n.div_ceil(1000).max(1),
                }
            })
        })
        .await
    }

    async fn rate_release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.run("rate_release", move |i| async move {
            let keys = [i.key(&format!("rate:{key}"))];
            let _: i64 = i
                .script("rate_release", &i.scripts.rate_release, &keys, &[])
                .await?;
            Ok(())
        })
        .await
    }

    async fn put_cookie_login(
        &self,
        cookie_hash: &str,
        login: &LegacyLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (h, login, ms) = (cookie_hash.to_string(), login.0.clone(), millis(ttl));
        self.run("put_cookie_login", move |i| async move {
            let mut c = redis::cmd("SET");
            c.arg(i.key(&format!("cookie:{h}")))
                .arg(login)
                .arg("PX")
                .arg(ms);
            let () = i.query("put_cookie_login", &c).await?;
            Ok(())
        })
        .await
    }

    async fn cookie_login(&self, cookie_hash: &str) -> Result<Option<LegacyLogin>, StoreError> {
        let h = cookie_hash.to_string();
        self.run("cookie_login", move |i| async move {
            let mut c = redis::cmd("GET");
            c.arg(i.key(&format!("cookie:{h}")));
            let v: Option<String> = i.query("cookie_login", &c).await?;
            Ok(v.map(LegacyLogin))
        })
        .await
    }

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let link = link.clone();
        self.run("put_link", move |i| async move { i.put_link(&link).await })
            .await
    }

    async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let (oid, login) = (oid.0.clone(), login.0.clone());
        self.run("remove_link", move |i| async move {
            i.remove_link(&oid, &login, kind).await
        })
        .await
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let oid = oid.0.clone();
        self.run("links_of", move |i| async move { i.links_of(&oid).await })
            .await
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let login = login.0.clone();
        self.run("owner_of", move |i| async move {
            Ok(i.owner_of(&login).await?.map(EsiaOid))
        })
        .await
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.run("record_login", move |i| async move {
            i.record_login(&r, &random_id()).await
        })
        .await
    }

    /// Every account that has logged in: reads the whole region (for a
    /// region-wide report); [`Store::last_logins_of`] reads a few.
    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        self.run_for("last_logins", None, move |i| async move {
            i.last_logins().await
        })
        .await
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let login = login.0.clone();
        self.run("has_logged_in", move |i| async move {
            i.has_logged_in(&login).await
        })
        .await
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let f = f.clone();
        self.run("record_match_failure", move |i| async move {
            i.record_match_failure(&f, &random_id()).await
        })
        .await
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        self.run_for("match_failures_since", None, move |i| async move {
            i.match_failures_since(at).await
        })
        .await
    }

    async fn last_logins_of(&self, logins: &[LegacyLogin]) -> Result<Vec<LastLogins>, StoreError> {
        let logins = logins.to_vec();
        // A school's accounts: a pipeline per 500, under the deadline each.
        self.run_for("last_logins_of", None, move |i| async move {
            i.last_logins_of(&logins).await
        })
        .await
    }

    async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        self.run_for("prune_before", None, move |i| async move {
            i.prune_before(before, batch).await
        })
        .await
    }

    async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        let oid = oid.0.clone();
        self.run_for("forget_person", None, move |i| async move {
            i.forget_person(&oid).await
        })
        .await
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        // Unbounded in size: no deadline beyond each command's own.
        self.run_for("export", None, |i| async move { i.export().await })
            .await
    }

    /// Record by record, in order (not one transaction): an import that
    /// stops half-way can be run again for the links (idempotent); history
    /// and failures would be doubled, so import into an empty store.
    async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.run_for("import", None, |inner| async move {
            for r in &records {
                match r {
                    DurableRecord::Link(l) => inner.put_link(l).await?,
                    DurableRecord::Login(l) => inner.record_login(l, &random_id()).await?,
                    DurableRecord::MatchFailure(f) => {
                        inner.record_match_failure(f, &random_id()).await?
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", move |i| async move {
            let () = i
                .query("ping", &redis::cmd("PING"))
                .await
                .map(|_: String| ())?;
            Ok(())
        })
        .await
    }
}
