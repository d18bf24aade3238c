//! The Redis store, for several gateway nodes sharing their state.
//!
//! URL forms (`[store] url`):
//! - `redis://[user:password@]host[:6379][/db]`, `rediss://...` (TLS):
//!   one server, through a connection manager that reconnects by itself;
//! - `redis+sentinel://[user:password@]host1[:26379],host2[:26379]/master[/db]`,
//!   `rediss+sentinel://...` (TLS to the sentinels and the master): the
//!   master is asked of the sentinels at connect and again after a failure;
//!   the credentials are the master's (sentinels without AUTH);
//! - `redis+cluster://[user:password@]host1[:6379],host2[:6379]`,
//!   `rediss+cluster://...`: Redis Cluster, any reachable nodes as seeds.
//!
//! `password_file` (first line) wins over a password in the URL.
//!
//! Keys start with the prefix (default `esia-gate:v1:`; the `v1` changes
//! with the layout). Ephemeral keys all carry a TTL (`PX`): `session:<sha256
//! of the id>`, `pending:<state>`, `rate:<key>`, `cookie:<hash>`, and the
//! `sessions` sorted set (expiry per session, for the gauge). Durable keys
//! share the hash tag `{durable}` so that Lua scripts touching several of
//! them run in one slot of a cluster: `{durable}:links:<oid>` (hash
//! `kind:login` → link), `{durable}:oids`, `{durable}:owners` (hash login →
//! oid), `{durable}:history` (list), `{durable}:last:esia` and
//! `{durable}:last:password` (hash login → unix seconds), `{durable}:failures`
//! (sorted set by time).
//!
//! A durable write returns `Ok` once Redis answered the command: run Redis
//! with AOF (`appendonly yes`, `appendfsync everysec` or `always`) so that
//! an acknowledged link survives a restart of Redis.
//!
//! Every call runs on the store's own small runtime (so its connections
//! outlive whichever runtime asked) under a deadline of `timeout_ms`; any
//! failure is [`StoreError::Unavailable`], never a panic.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, Script, TlsMode,
    Value,
};

use super::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LoginMethod, LoginRecord, MatchFailure,
    PendingLogin, Reserved, SessionRecord, Store, StoreError,
};
use crate::config::redis_url::{Target, parse_url};
use crate::config::store::StoreSettings;
use crate::identity::{EsiaOid, LegacyLogin};

/// One way to reach Redis.
enum Link {
    Manager(ConnectionManager),
    Sentinel {
        client: tokio::sync::Mutex<SentinelClient>,
        current: tokio::sync::Mutex<Option<MultiplexedConnection>>,
        config: AsyncConnectionConfig,
    },
    Cluster {
        client: redis::cluster::ClusterClient,
        current: tokio::sync::Mutex<Option<ClusterConnection>>,
    },
}

/// A connection for one call.
enum Conn {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Link {
    async fn conn(&self) -> Result<Conn, RedisError> {
        match self {
            Link::Manager(m) => Ok(Conn::Manager(m.clone())),
            Link::Sentinel {
                client,
                current,
                config,
            } => {
                let mut cur = current.lock().await;
                if let Some(c) = cur.as_ref() {
                    return Ok(Conn::Multiplexed(c.clone()));
                }
                let c = client
                    .lock()
                    .await
                    .get_async_connection_with_config(config)
                    .await?;
                *cur = Some(c.clone());
                Ok(Conn::Multiplexed(c))
            }
            Link::Cluster { client, current } => {
                let mut cur = current.lock().await;
                if let Some(c) = cur.as_ref() {
                    return Ok(Conn::Cluster(c.clone()));
                }
                let c = client.get_async_connection().await?;
                *cur = Some(c.clone());
                Ok(Conn::Cluster(c))
            }
        }
    }

    /// After a failure: a sentinel-found master may have moved, so ask the
    /// sentinels again next time. The manager and the cluster connection
    /// reconnect by themselves.
    async fn failed(&self, e: &RedisError) {
        if let Link::Sentinel { current, .. } = self
            && (e.is_unrecoverable_error()
                || e.is_io_error()
                || e.is_timeout()
                || e.code() == Some("READONLY"))
        {
            *current.lock().await = None;
        }
    }
}

struct Scripts {
    track_session: Script,
    rate_reserve: Script,
    rate_release: Script,
    put_link: Script,
    remove_link: Script,
    record_login: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            // KEYS[1] the sessions' sorted set; ARGV: expiry (unix ms),
            // member, ttl (ms). The set lives as long as its longest session.
            track_session: Script::new(
                r"redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1",
            ),
            // KEYS[1] counter; ARGV: limit, window (ms). Returns {1, count}
            // when granted, {0, ms left in the window} when refused (nothing
            // counted). One script, so concurrent callers cannot both pass
            // the check before either counts. The window starts at the first
            // grant; a key somehow left without a TTL gets one.
            rate_reserve: Script::new(
                r"local limit = tonumber(ARGV[1])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if c >= limit then
  if ttl == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  elseif ttl < 0 then
    ttl = tonumber(ARGV[2])
  end
  return {0, ttl}
end
c = redis.call('INCR', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, c}",
            ),
            // KEYS[1] counter. DECR keeps the TTL; a missing key is left
            // missing (a bare DECR would make one without a TTL).
            rate_release: Script::new(
                r"local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then return redis.call('DECR', KEYS[1]) end
return 0",
            ),
            // KEYS: links:<oid>, owners, oids. ARGV: oid, login, kind,
            // field, json. Returns 0 when another oid owns the login.
            put_link: Script::new(
                r"if ARGV[3] == 'own' then
  local o = redis.call('HGET', KEYS[2], ARGV[2])
  if o and o ~= ARGV[1] then return 0 end
  if not o then redis.call('HSET', KEYS[2], ARGV[2], ARGV[1]) end
end
redis.call('HSETNX', KEYS[1], ARGV[4], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[1])
return 1",
            ),
            // KEYS: links:<oid>, owners, oids. ARGV: oid, login, field, kind.
            remove_link: Script::new(
                r"local n = redis.call('HDEL', KEYS[1], ARGV[3])
if n == 1 and ARGV[4] == 'own' and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return n",
            ),
            // KEYS: history, last:<method>. ARGV: json, login, at.
            record_login: Script::new(
                r"redis.call('RPUSH', KEYS[1], ARGV[1])
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur or tonumber(cur) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return 1",
            ),
        }
    }
}

/// What one call sends.
#[derive(Clone, Copy)]
enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

struct Inner {
    link: Link,
    prefix: String,
    scripts: Scripts,
}

pub struct RedisStore {
    target: Target,
    password: Option<String>,
    prefix: String,
    timeout: Duration,
    described: String,
    /// The store's runtime and connection, made on first use (so nothing is
    /// running before the server has started, and whichever runtime calls,
    /// the connection lives on).
    started: std::sync::OnceLock<Result<Started, String>>,
}

struct Started {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    inner: Arc<Inner>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Never block (this may run inside another runtime).
        if let Some(Ok(mut st)) = self.started.take()
            && let Some(rt) = st.runtime.take()
        {
            rt.shutdown_background();
        }
    }
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

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("redis value: {e}")))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(openssl::sha::sha256(s.as_bytes()))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn now_ms() -> u64 {
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

fn kind_str(k: LinkKind) -> &'static str {
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
    fn key(&self, part: &str) -> String {
        format!("{}{part}", self.prefix)
    }
    fn session_key(&self, id: &str) -> String {
        self.key(&format!("session:{}", sha256_hex(id)))
    }
    fn durable(&self, part: &str) -> String {
        self.key(&format!("{{durable}}:{part}"))
    }
    fn links_key(&self, oid: &str) -> String {
        self.durable(&format!("links:{oid}"))
    }

    /// Send one command, pipeline or script invocation. A connection found
    /// dead (Redis restarted while this node was idle) is replaced and the
    /// call sent once more, unless repeating it could count or record twice.
    async fn send<T: redis::FromRedisValue>(
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

    async fn query<T: redis::FromRedisValue>(&self, op: &str, cmd: &Cmd) -> Result<T, StoreError> {
        self.send(op, Req::Cmd(cmd)).await
    }

    async fn pipe<T: redis::FromRedisValue>(
        &self,
        op: &str,
        p: &Pipeline,
    ) -> Result<T, StoreError> {
        self.send(op, Req::Pipe(p)).await
    }

    async fn script<T: redis::FromRedisValue>(
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

    async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
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

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
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

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        // A unique member per failure: the same failure twice is two rows.
        let member = format!("{} {}", super::random_id(), to_json(f)?);
        let mut c = redis::cmd("ZADD");
        c.arg(self.durable("failures")).arg(f.at).arg(member);
        let _: i64 = self.query("record_match_failure", &c).await?;
        Ok(())
    }
}

fn failure_member(m: &str) -> Result<MatchFailure, StoreError> {
    let json = m.split_once(' ').map_or(m, |(_, j)| j);
    from_json(json)
}

impl RedisStore {
    /// Check the settings and read the password file. Nothing connects
    /// yet: the first call starts the store's runtime and connection, and a
    /// Redis that is down makes calls fail until it is back.
    pub async fn open(settings: &StoreSettings, base_dir: &Path) -> Result<Self, StoreError> {
        let url = settings.url.as_deref().unwrap_or_default();
        let target =
            parse_url(url).map_err(|e| StoreError::Unavailable(format!("store.url: {e}")))?;
        let password = match &settings.password_file {
            Some(p) => {
                let full = if p.is_absolute() {
                    p.clone()
                } else {
                    base_dir.join(p)
                };
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "store.password_file: cannot read {}: {e}",
                        full.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or_default().trim().to_string())
            }
            None => None,
        };
        Ok(Self {
            described: format!("{target:?}"),
            target,
            password,
            prefix: settings.key_prefix.clone(),
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            started: std::sync::OnceLock::new(),
        })
    }

    /// What this store talks to (no credentials), for the log.
    pub fn describe(&self) -> &str {
        &self.described
    }

    fn started(&self) -> Result<&Started, StoreError> {
        self.started
            .get_or_init(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("esia-gate-store")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the store runtime: {e}"))?;
                // Connection objects spawn their tasks on the runtime they
                // are made in: make them in the store's own.
                let link = {
                    let _in = runtime.enter();
                    make_link(self.target.clone(), self.password.clone(), self.timeout)
                        .map_err(|e| e.to_string())?
                };
                Ok(Started {
                    handle: runtime.handle().clone(),
                    runtime: Some(runtime),
                    inner: Arc::new(Inner {
                        link,
                        prefix: self.prefix.clone(),
                        scripts: Scripts::new(),
                    }),
                })
            })
            .as_ref()
            .map_err(|e| StoreError::Unavailable(e.clone()))
    }

    /// Run one call on the store's runtime under the deadline (`None`: no
    /// deadline but each command's own, for exports and imports). The caller
    /// waits a little longer than the deadline, so even a store runtime that
    /// stopped working cannot hold a request.
    async fn run_for<T, F, Fut>(
        &self,
        op: &'static str,
        deadline: Option<Duration>,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let st = self.started()?;
        let fut = f(st.inner.clone());
        let expired = |t: Duration| {
            StoreError::Unavailable(format!("redis {op}: no answer within {} ms", t.as_millis()))
        };
        let failed = |e: tokio::task::JoinError| {
            StoreError::Unavailable(format!("redis {op}: task failed: {e}"))
        };
        match deadline {
            Some(t) => {
                let task = st
                    .handle
                    .spawn(async move { tokio::time::timeout(t, fut).await });
                match tokio::time::timeout(t + Duration::from_millis(250), task).await {
                    Ok(Ok(Ok(r))) => r,
                    Ok(Ok(Err(_))) | Err(_) => Err(expired(t)),
                    Ok(Err(e)) => Err(failed(e)),
                }
            }
            None => st.handle.spawn(fut).await.map_err(failed)?,
        }
    }

    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_for(op, Some(self.timeout), f).await
    }
}

fn make_link(
    target: Target,
    password: Option<String>,
    timeout: Duration,
) -> Result<Link, StoreError> {
    let setup = |e: RedisError| StoreError::Unavailable(format!("store.url: {e}"));
    match target {
        Target::Standalone(info) => {
            let info = match password {
                Some(p) => {
                    let settings = info.redis_settings().clone().set_password(p);
                    info.set_redis_settings(settings)
                }
                None => info,
            };
            let client = redis::Client::open(info).map_err(setup)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let m = ConnectionManager::new_lazy_with_config(client, config).map_err(setup)?;
            Ok(Link::Manager(m))
        }
        Target::Sentinel {
            nodes,
            master,
            tls,
            db,
            username,
            password: url_password,
        } => {
            let addrs = nodes.into_iter().map(|(host, port)| {
                if tls {
                    ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: false,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(host, port)
                }
            });
            let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
                .map_err(setup)?
                .set_client_to_redis_db(db);
            if tls {
                b = b
                    .set_client_to_redis_tls_mode(TlsMode::Secure)
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            }
            if let Some(u) = username {
                b = b.set_client_to_redis_username(u);
            }
            if let Some(p) = password.or(url_password) {
                b = b.set_client_to_redis_password(p);
            }
            let client = b.build().map_err(setup)?;
            Ok(Link::Sentinel {
                client: tokio::sync::Mutex::new(client),
                current: tokio::sync::Mutex::new(None),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout)),
            })
        }
        Target::Cluster {
            nodes,
            tls,
            username,
            password: url_password,
        } => {
            let scheme = if tls { "rediss" } else { "redis" };
            let urls: Vec<String> = nodes
                .iter()
                .map(|(h, p)| {
                    if h.contains(':') {
                        format!("{scheme}://[{h}]:{p}")
                    } else {
                        format!("{scheme}://{h}:{p}")
                    }
                })
                .collect();
            let mut b = redis::cluster::ClusterClient::builder(urls)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1);
            if tls {
                b = b.tls(TlsMode::Secure);
            }
            if let Some(u) = username {
                b = b.username(u);
            }
            if let Some(p) = password.or(url_password) {
                b = b.password(p);
            }
            let client = b.build().map_err(setup)?;
            Ok(Link::Cluster {
                client,
                current: tokio::sync::Mutex::new(None),
            })
        }
    }
}

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
            let k = kind_str(kind);
            let keys = [i.links_key(&oid), i.durable("owners"), i.durable("oids")];
            let args = [oid, login.clone(), format!("{k}:{login}"), k.to_string()];
            let n: i64 = i
                .script("remove_link", &i.scripts.remove_link, &keys, &args)
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let oid = oid.0.clone();
        self.run("links_of", move |i| async move {
            let mut c = redis::cmd("HVALS");
            c.arg(i.links_key(&oid));
            let v: Vec<String> = i.query("links_of", &c).await?;
            v.iter().map(|s| from_json(s)).collect()
        })
        .await
    }

    async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let login = login.0.clone();
        self.run("owner_of", move |i| async move {
            let mut c = redis::cmd("HGET");
            c.arg(i.durable("owners")).arg(login);
            let v: Option<String> = i.query("owner_of", &c).await?;
            Ok(v.map(EsiaOid))
        })
        .await
    }

    async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.run(
            "record_login",
            move |i| async move { i.record_login(&r).await },
        )
        .await
    }

    async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        self.run("last_logins", move |i| async move {
            let mut p = redis::pipe();
            p.cmd("HGETALL")
                .arg(i.durable("last:esia"))
                .cmd("HGETALL")
                .arg(i.durable("last:password"));
            let (esia, password): (
                std::collections::HashMap<String, i64>,
                std::collections::HashMap<String, i64>,
            ) = i.pipe("last_logins", &p).await?;
            let mut all: std::collections::BTreeMap<String, LastLogins> = Default::default();
            for (m, map) in [(LoginMethod::Esia, esia), (LoginMethod::Password, password)] {
                for (login, at) in map {
                    let e = all.entry(login.clone()).or_insert_with(|| LastLogins {
                        login: LegacyLogin(login),
                        last_esia: None,
                        last_password: None,
                    });
                    match m {
                        LoginMethod::Esia => e.last_esia = Some(at),
                        LoginMethod::Password => e.last_password = Some(at),
                    }
                }
            }
            Ok(all.into_values().collect())
        })
        .await
    }

    async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let login = login.0.clone();
        self.run("has_logged_in", move |i| async move {
            let mut p = redis::pipe();
            p.cmd("HEXISTS")
                .arg(i.durable("last:esia"))
                .arg(&login)
                .cmd("HEXISTS")
                .arg(i.durable("last:password"))
                .arg(&login);
            let (a, b): (bool, bool) = i.pipe("has_logged_in", &p).await?;
            Ok(a || b)
        })
        .await
    }

    async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let f = f.clone();
        self.run("record_match_failure", move |i| async move {
            i.record_match_failure(&f).await
        })
        .await
    }

    async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        self.run("match_failures_since", move |i| async move {
            let mut c = redis::cmd("ZRANGE");
            c.arg(i.durable("failures"))
                .arg(at)
                .arg("+inf")
                .arg("BYSCORE");
            let v: Vec<String> = i.query("match_failures_since", &c).await?;
            v.iter().map(|m| failure_member(m)).collect()
        })
        .await
    }

    async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        // Unbounded in size: no deadline beyond each command's own.
        self.run_for("export", None, |i| async move {
            let mut out = Vec::new();
            let mut c = redis::cmd("SMEMBERS");
            c.arg(i.durable("oids"));
            let mut oids: Vec<String> = i.query("export", &c).await?;
            oids.sort();
            for oid in oids {
                let mut c = redis::cmd("HVALS");
                c.arg(i.links_key(&oid));
                let links: Vec<String> = i.query("export", &c).await?;
                for l in links {
                    out.push(DurableRecord::Link(from_json(&l)?));
                }
            }
            let mut start = 0i64;
            const CHUNK: i64 = 5000;
            loop {
                let mut c = redis::cmd("LRANGE");
                c.arg(i.durable("history"))
                    .arg(start)
                    .arg(start + CHUNK - 1);
                let rows: Vec<String> = i.query("export", &c).await?;
                let n = rows.len() as i64;
                for r in rows {
                    out.push(DurableRecord::Login(from_json(&r)?));
                }
                if n < CHUNK {
                    break;
                }
                start += CHUNK;
            }
            let mut c = redis::cmd("ZRANGE");
            c.arg(i.durable("failures")).arg(0).arg(-1);
            let rows: Vec<String> = i.query("export", &c).await?;
            for r in rows {
                out.push(DurableRecord::MatchFailure(failure_member(&r)?));
            }
            Ok(out)
        })
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
                    DurableRecord::Login(l) => inner.record_login(l).await?,
                    DurableRecord::MatchFailure(f) => inner.record_match_failure(f).await?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_down_redis_gives_fast_errors_and_recovers() {
        let mut server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
        let settings = StoreSettings {
            backend: crate::config::store::StoreBackend::Redis,
            url: Some(server.url()),
            timeout_ms: 1000,
            ..Default::default()
        };
        let store = RedisStore::open(&settings, Path::new("."))
            .await
            .expect("open");
        store.ping().await.expect("ping");
        let link = AccountLink {
            oid: EsiaOid("1".into()),
            login: LegacyLogin("a".into()),
            kind: LinkKind::Own,
            source: super::super::LinkSource::Snils,
            created_at: 1,
        };
        store.put_link(&link).await.expect("link");
        server.kill();
        let started = std::time::Instant::now();
        for _ in 0..5 {
            assert!(matches!(
                store.ping().await,
                Err(StoreError::Unavailable(_))
            ));
            assert!(store.get_session("x").await.is_err());
        }
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{:?}",
            started.elapsed()
        );
        server.restart().expect("restart");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.ping().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "no reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            store.links_of(&EsiaOid("1".into())).await.expect("links"),
            vec![link],
            "the AOF kept the link"
        );
    }

    #[tokio::test]
    async fn a_password_file_is_used_for_auth() {
        let server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
        // Turn AUTH on with a plain connection.
        let open = StoreSettings {
            backend: crate::config::store::StoreBackend::Redis,
            url: Some(server.url()),
            ..Default::default()
        };
        let plain = RedisStore::open(&open, dir.path()).await.expect("open");
        plain
            .run("config", |i| async move {
                let mut c = redis::cmd("CONFIG");
                c.arg("SET").arg("requirepass").arg("s3cret");
                let () = i.query("config", &c).await?;
                Ok(())
            })
            .await
            .expect("requirepass");
        let without = RedisStore::open(&open, dir.path()).await.expect("open");
        assert!(without.ping().await.is_err());
        let with = RedisStore::open(
            &StoreSettings {
                password_file: Some("pw".into()),
                ..open.clone()
            },
            dir.path(),
        )
        .await
        .expect("open");
        with.ping().await.expect("ping with the password");
        let in_url = StoreSettings {
            url: Some(format!("redis://:s3cret@127.0.0.1:{}/", server.port())),
            ..open
        };
        RedisStore::open(&in_url, dir.path())
            .await
            .expect("open")
            .ping()
            .await
            .expect("ping with the password in the URL");
    }
}
