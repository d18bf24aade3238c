//! One call to Redis: the keys under the prefix, sending a command,
//! pipeline or script (sent once more after a dead connection when that
//! is safe), how failures become [`StoreError`]s, and the durable writes
//! shared by the [`Store`](crate::store::Store) calls and the import.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Cmd, Pipeline, RedisError, Script};

use super::link::Link;
use super::scripts::Scripts;
use crate::store::{AccountLink, LinkKind, LoginMethod, LoginRecord, MatchFailure, StoreError};

/// What one call sends.
#[derive(Clone, Copy)]
pub(super) enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

pub(super) struct Inner {
    pub(super) link: Link,
    pub(super) prefix: String,
    pub(super) scripts: Scripts,
}

fn unavailable(op: &str, e: &RedisError) -> StoreError {
    // The error's text names the failure (connection refused, timeout,
    // script error), never a value we sent.
    let kind = if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connection_refusal() {
        "connection refused".to_string()
    } else if e.is_connection_dropped() || e.is_io_error() {
        format!("connection lost ({e})")
    } else {
        e.to_string()
    };
    StoreError::Unavailable(format!("redis {op}: {kind}"))
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("redis value: {e}")))
}

pub(super) fn sha256_hex(s: &str) -> String {
    hex::encode(openssl::sha::sha256(s.as_bytes()))
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

/// Calls that may be sent again after a dead connection: sending twice
/// changes nothing. Taking a pending login, reserving or releasing a
/// rate-limit attempt and appending history or failures are not repeated.
fn repeatable(op: &str) -> bool {
    !matches!(
        op,
        "take_pending"
            | "rate_reserve"
            | "rate_release"
            | "record_login"
            | "record_match_failure"
            | "import"
    )
}

pub(super) fn kind_str(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Own => "own",
        LinkKind::Child => "child",
    }
}

fn method_str(m: LoginMethod) -> &'static str {
    match m {
        LoginMethod::Esia => "esia",
        LoginMethod::Password => "password",
    }
}

impl Inner {
    pub(super) fn key(&self, part: &str) -> String {
        format!("{}{part}", self.prefix)
    }
    pub(super) fn session_key(&self, id: &str) -> String {
        self.key(&format!("session:{}", sha256_hex(id)))
    }
    pub(super) fn durable(&self, part: &str) -> String {
        self.key(&format!("{{durable}}:{part}"))
    }
    pub(super) fn links_key(&self, oid: &str) -> String {
        self.durable(&format!("links:{oid}"))
    }

    /// Send one command, pipeline or script invocation. A connection found
    /// dead (Redis restarted while this node was idle) is replaced and the
    /// call sent once more, unless repeating it could count or record twice.
    pub(super) async fn send<T: redis::FromRedisValue>(
        &self,
        op: &str,
        req: Req<'_>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let mut c = self.link.conn().await.map_err(|e| unavailable(op, &e))?;
            let r = match req {
                Req::Cmd(cmd) => cmd.query_async::<T>(&mut c).await,
                Req::Pipe(p) => p.query_async::<T>(&mut c).await,
                Req::Script(s) => s.invoke_async::<T>(&mut c).await,
            };
            match r {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.link.failed(&e).await;
                    let dead = e.is_connection_dropped() || e.is_unrecoverable_error();
                    if retried || !dead || !repeatable(op) {
                        return Err(unavailable(op, &e));
                    }
                    retried = true;
                }
            }
        }
    }

    pub(super) async fn query<T: redis::FromRedisValue>(
        &self,
        op: &str,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        self.send(op, Req::Cmd(cmd)).await
    }

    pub(super) async fn pipe<T: redis::FromRedisValue>(
        &self,
        op: &str,
        p: &Pipeline,
    ) -> Result<T, StoreError> {
        self.send(op, Req::Pipe(p)).await
    }

    pub(super) async fn script<T: redis::FromRedisValue>(
        &self,
        op: &str,
        s: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut inv = s.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        self.send(op, Req::Script(&inv)).await
    }

    pub(super) async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let kind = kind_str(link.kind);
        let keys = [
            self.links_key(&link.oid.0),
            self.durable("owners"),
            self.durable("oids"),
        ];
        let args = [
            link.oid.0.clone(),
            link.login.0.clone(),
            kind.to_string(),
            format!("{kind}:{}", link.login.0),
            to_json(link)?,
        ];
        let ok: i64 = self
            .script("put_link", &self.scripts.put_link, &keys, &args)
            .await?;
        if ok == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyLinked)
        }
    }

    pub(super) async fn remove_link_raw(
        &self,
        oid: &str,
        login: &str,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let k = kind_str(kind);
        let keys = [
            self.links_key(oid),
            self.durable("owners"),
            self.durable("oids"),
        ];
        let args = [
            oid.to_string(),
            login.to_string(),
            format!("{k}:{login}"),
            k.to_string(),
        ];
        let n: i64 = self
            .script("remove_link", &self.scripts.remove_link, &keys, &args)
            .await?;
        Ok(n == 1)
    }

    pub(super) async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let keys = [
            self.durable("history"),
            self.durable(&format!("last:{}", method_str(r.method))),
        ];
        let args = [to_json(r)?, r.login.0.clone(), r.at.to_string()];
        let _: i64 = self
            .script("record_login", &self.scripts.record_login, &keys, &args)
            .await?;
        Ok(())
    }

    pub(super) async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        // A unique member per failure: the same failure twice is two rows.
        let member = format!("{} {}", crate::store::random_id(), to_json(f)?);
        let mut c = redis::cmd("ZADD");
        c.arg(self.durable("failures")).arg(f.at).arg(member);
        let _: i64 = self.query("record_match_failure", &c).await?;
        Ok(())
    }
}

pub(super) fn failure_member(m: &str) -> Result<MatchFailure, StoreError> {
    let json = m.split_once(' ').map_or(m, |(_, j)| j);
    from_json(json)
}
