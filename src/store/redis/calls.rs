//! One call to Redis: sending a command, pipeline or script (sent once more
//! after a dead connection when that is safe) and how failures become
//! [`StoreError`]s. The key layout is in `keys`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Cmd, Pipeline, RedisError, Script};

use super::Inner;
use super::link::Link;
use crate::store::{LinkKind, LoginMethod, MatchFailure, StoreError};

/// Commands per pipeline in [`Inner::many`] on a single server.
const MANY_CHUNK: usize = 1000;
/// Pipelines in flight at once in [`Inner::many`] on a cluster.
const MANY_AT_ONCE: usize = 32;

/// What one call sends.
#[derive(Clone, Copy)]
pub(super) enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
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
/// rate-limit attempt, recording history or failures and the migration's
/// moves are not repeated (they are sent again from the top instead).
fn repeatable(op: &str) -> bool {
    !matches!(
        op,
        "take_pending"
            | "rate_reserve"
            | "rate_release"
            | "record_login"
            | "record_match_failure"
            | "import"
            | "migrate"
            | "prune_before"
    )
}

pub(super) fn kind_str(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Own => "own",
        LinkKind::Child => "child",
    }
}

pub(super) fn method_str(m: LoginMethod) -> &'static str {
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

    /// Commands on the keys of many subjects at once, each with the key
    /// that routes it; the replies in the same order. One pipeline per
    /// [`MANY_CHUNK`] commands on a single server; on a cluster one per
    /// hash slot (redis-rs sends a pipeline to one slot only), up to
    /// [`MANY_AT_ONCE`] in flight. Not atomic: each command stands alone.
    pub(super) async fn many<T: redis::FromRedisValue>(
        &self,
        op: &str,
        cmds: Vec<(String, Cmd)>,
    ) -> Result<Vec<T>, StoreError> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        let groups: Vec<Vec<usize>> = if matches!(self.link, Link::Cluster { .. }) {
            let mut by_slot: std::collections::HashMap<redis::cluster_routing::Slot, Vec<usize>> =
                Default::default();
            for (i, (key, _)) in cmds.iter().enumerate() {
                by_slot
                    .entry(redis::cluster_routing::Slot::for_key(key))
                    .or_default()
                    .push(i);
            }
            by_slot.into_values().collect()
        } else {
            (0..cmds.len())
                .collect::<Vec<_>>()
                .chunks(MANY_CHUNK)
                .map(<[usize]>::to_vec)
                .collect()
        };
        let cmds = &cmds;
        let replies: Vec<(Vec<usize>, Vec<redis::Value>)> = futures_util::stream::iter(groups)
            .map(|idx| async move {
                let mut p = redis::pipe();
                for i in &idx {
                    p.add_command(cmds[*i].1.clone());
                }
                let v: Vec<redis::Value> = self.pipe(op, &p).await?;
                Ok::<_, StoreError>((idx, v))
            })
            .buffer_unordered(MANY_AT_ONCE)
            .try_collect()
            .await?;
        let mut out: Vec<Option<T>> = (0..cmds.len()).map(|_| None).collect();
        for (idx, values) in replies {
            for (i, v) in idx.into_iter().zip(values) {
                let t = redis::from_redis_value(v).map_err(|e| {
                    StoreError::Corrupt(format!("redis {op}: unexpected reply: {e}"))
                })?;
                out[i] = Some(t);
            }
        }
        out.into_iter()
            .map(|t| {
                t.ok_or_else(|| StoreError::Unavailable(format!("redis {op}: a reply is missing")))
            })
            .collect()
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
}

pub(super) fn failure_member(m: &str) -> Result<MatchFailure, StoreError> {
    let json = m.split_once(' ').map_or(m, |(_, j)| j);
    from_json(json)
}
