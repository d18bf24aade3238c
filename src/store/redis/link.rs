//! How the Redis store reaches Redis: one connection manager for a single
//! server, the master asked of the sentinels (and asked again after a
//! failure), or a cluster connection; [`make_link`] builds the right one
//! from the parsed `[store] url`.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, TlsMode, Value,
};

use crate::config::redis_url::Target;
use crate::store::StoreError;

/// One way to reach Redis.
pub(super) enum Link {
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
pub(super) enum Conn {
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
    pub(super) async fn conn(&self) -> Result<Conn, RedisError> {
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
    pub(super) async fn failed(&self, e: &RedisError) {
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

pub(super) fn make_link(
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
