//! A throwaway `redis-server` for tests and benchmarks: a free loopback
//! port, its own temporary directory, AOF on, killed (and the directory
//! removed) when dropped. Every wait is bounded.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "redis-server";

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// More arguments (cluster mode, sentinel mode).
    extra: Vec<String>,
}

fn free_port() -> Result<u16, String> {
    crate::ports::free_port().map_err(|e| format!("no free loopback port: {e}"))
}

impl RedisServer {
    /// Start a server on a free loopback port. The error says to install
    /// Debian's `redis-server` when the binary is missing.
    pub fn start() -> Result<RedisServer, String> {
        Self::start_with(&[])
    }

    /// A server with more command-line arguments (`{dir}` in one is
    /// replaced by the server's directory).
    pub fn start_with(extra: &[&str]) -> Result<RedisServer, String> {
        Self::start_full(extra, None)
    }

    /// [`Self::start_with`], writing `file` (name, text) into the server's
    /// directory first.
    fn start_full(extra: &[&str], file: Option<(&str, String)>) -> Result<RedisServer, String> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "esia-gate-redis-{}-{port}-{}",
            std::process::id(),
            esia_gate::store::random_id()
                .chars()
                .take(8)
                .collect::<String>()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if let Some((name, text)) = file {
            std::fs::write(dir.join(name), text)
                .map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        let mut server = RedisServer {
            port,
            extra: extra
                .iter()
                .map(|a| a.replace("{dir}", &dir.display().to_string()))
                .collect(),
            dir,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Start (again) on the same port and directory: the AOF written
    /// before is loaded.
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.join("redis.log"))
            .map_err(|e| format!("cannot create the redis log: {e}"))?;
        let mut cmd = Command::new(BINARY);
        if let Some(conf) = self.extra.iter().find(|a| a.ends_with(".conf")) {
            // Sentinel mode takes its (writable) configuration file first.
            cmd.arg(conf);
        }
        let child = cmd
            .args(self.extra.iter().filter(|a| !a.ends_with(".conf")))
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "everysec", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "`{BINARY}` is not installed: install Debian's `redis-server` package \
                         (apt-get install redis-server; scripts/test does it)"
                    )
                } else {
                    format!("cannot start {BINARY}: {e}")
                }
            })?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(10))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        use std::io::{Read, Write};
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                return Err(format!("redis-server exited ({status}):\n{log}"));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && let Ok(n) = s.read(&mut buf)
                    && buf[..n].starts_with(b"+PONG")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not answer on port {} within {limit:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill the server at once (SIGKILL), as a crash or an outage would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Send one command in RESP to a loopback port and read the first reply
/// (a line, or a bulk string), for setting test servers up.
pub fn command(port: u16, args: &[&str]) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).to_string();
        let complete = match text.chars().next() {
            // A bulk string, or `$-1` (no such key): nothing follows it.
            Some('$') => text
                .split_once("\r\n")
                .and_then(|(len, rest)| {
                    let len = len[1..].parse::<i64>().ok()?;
                    Some(len < 0 || rest.len() as i64 >= len + 2)
                })
                .unwrap_or(false),
            Some(_) => text.ends_with("\r\n"),
            None => false,
        };
        if complete || n == 0 || Instant::now() > deadline {
            return Ok(text);
        }
    }
}

/// A three-master Redis Cluster on loopback (no replicas), slots split in
/// thirds; every node is killed when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Result<RedisCluster, String> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "{dir}/nodes.conf.txt",
                "--cluster-node-timeout",
                "2000",
            ])?);
        }
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (n, (a, b)) in nodes.iter().zip(ranges) {
            let r = command(
                n.port(),
                &["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()],
            )?;
            if !r.starts_with("+OK") {
                return Err(format!("CLUSTER ADDSLOTSRANGE: {r}"));
            }
        }
        for n in &nodes[1..] {
            let r = command(
                n.port(),
                &["CLUSTER", "MEET", "127.0.0.1", &nodes[0].port().to_string()],
            )?;
            if !r.starts_with("+OK") {
                return Err(format!("CLUSTER MEET: {r}"));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = nodes.iter().all(|n| {
                command(n.port(), &["CLUSTER", "INFO"])
                    .map(|i| i.contains("cluster_state:ok") && i.contains("cluster_known_nodes:3"))
                    .unwrap_or(false)
            });
            if ok {
                return Ok(RedisCluster { nodes });
            }
            if Instant::now() > deadline {
                return Err("the test cluster did not reach cluster_state:ok in 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

/// A Redis master watched by one Sentinel under the name `main`.
pub struct RedisSentinel {
    pub master: RedisServer,
    pub sentinel: RedisServer,
}

impl RedisSentinel {
    pub fn start() -> Result<RedisSentinel, String> {
        let master = RedisServer::start()?;
        let conf = format!(
            "sentinel monitor main 127.0.0.1 {} 1\nsentinel down-after-milliseconds main 5000\n",
            master.port()
        );
        let sentinel = RedisServer::start_full(
            &["{dir}/sentinel.conf", "--sentinel"],
            Some(("sentinel.conf", conf)),
        )?;
        // Sentinel knows the master once it answers for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = command(
                sentinel.port(),
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "main"],
            )?;
            if r.contains(&master.port().to_string()) {
                return Ok(RedisSentinel { master, sentinel });
            }
            if Instant::now() > deadline {
                return Err(format!("sentinel does not know the master: {r}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("redis+sentinel://127.0.0.1:{}/main", self.sentinel.port())
    }
}
