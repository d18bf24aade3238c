//! A throwaway PostgreSQL server for tests and benchmarks (Debian's
//! `postgresql` package): `initdb` in its own temporary directory, a free
//! loopback port, trust authentication for the `postgres` user, killed (and
//! the directory removed) when dropped. It can be killed with SIGKILL and
//! started again on the same data, as a crash would. Every wait is bounded.
//! Root hands the server to the `postgres` user the package creates
//! (PostgreSQL refuses to run as root).

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PostgresServer {
    port: u16,
    /// The temporary directory (removed on drop); the data is in `data/`.
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    /// `-c name=value` settings of every start.
    settings: Vec<String>,
}

/// The newest installed server's `bin` directory.
pub fn bin_dir() -> Result<PathBuf, String> {
    let missing = "PostgreSQL is not installed: install Debian's `postgresql` package \
                   (apt-get install postgresql; scripts/test does it)";
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing.to_string())?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| missing.to_string())
}

fn numeric_id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The user and group the server runs as when we are root.
fn server_user() -> Option<(u32, u32)> {
    (numeric_id(&["-u"]) == Some(0)).then(|| {
        (
            numeric_id(&["-u", "postgres"]).unwrap_or(0),
            numeric_id(&["-g", "postgres"]).unwrap_or(0),
        )
    })
}

fn as_server_user(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn hand_over(path: &Path) -> Result<(), String> {
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("cannot hand {} to postgres: {e}", path.display()))?;
    }
    Ok(())
}

impl PostgresServer {
    /// A fresh cluster, started. `fsync` stays on: a benchmark or a crash
    /// test measures what production would do. (Killing the server process
    /// loses nothing the kernel already has either way.)
    pub fn start() -> Result<PostgresServer, String> {
        Self::start_with(&[])
    }

    /// [`Self::start`] with more `name=value` server settings.
    pub fn start_with(settings: &[&str]) -> Result<PostgresServer, String> {
        Self::start_in(&std::env::temp_dir(), settings)
    }

    /// [`Self::start_with`], the cluster's directory made under `parent`
    /// (a benchmark's tmpfs).
    pub fn start_in(parent: &Path, settings: &[&str]) -> Result<PostgresServer, String> {
        let bin = bin_dir()?;
        let port = crate::ports::free_port().map_err(|e| format!("no free port: {e}"))?;
        let dir = parent.join(format!(
            "esia-gate-pg-{}-{port}-{}",
            std::process::id(),
            esia_gate::store::random_id()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(8)
                .collect::<String>()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        hand_over(&dir)?;
        let out = as_server_user(
            Command::new(bin.join("initdb"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"])
                .current_dir(&dir),
        )
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut server = PostgresServer {
            port,
            dir,
            bin,
            child: None,
            settings: settings.iter().map(|s| s.to_string()).collect(),
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

    /// A connection string for the `postgres` database (key=value form).
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Start (again) on the same port and data, and wait until it accepts
    /// connections; after a SIGKILL this includes crash recovery.
    pub fn restart(&mut self) -> Result<(), String> {
        // Backends of a killed postmaster leave by themselves soon after;
        // until they have, a new one refuses the shared memory they hold.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.start_once() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline && e.contains("still in use") => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"]);
        for s in &self.settings {
            cmd.args(["-c", s]);
        }
        let child = as_server_user(
            cmd.current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err),
        )
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Err(format!("postgres exited ({status}):\n{}", self.log()));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "postgres did not accept connections within {limit:?}:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Kill the postmaster with SIGKILL, as a crash would. Its backends
    /// notice and exit; the next [`Self::restart`] recovers from the WAL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop gracefully (fast shutdown: SIGINT), bounded.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Run SQL with `psql` (stops at the first error); returns its output
    /// (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_with(&["-c", sql], None)
    }

    /// `psql` connected to the `postgres` database (unaligned, tuples only,
    /// stopping at the first error), for a caller that feeds its standard
    /// input itself (`COPY ... FROM STDIN` of generated rows).
    pub fn psql_command(&self) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-X", "-q", "-A", "-t"])
            .args(["-v", "ON_ERROR_STOP=1"]);
        c
    }

    /// `psql` with these arguments, and a file as its standard input (for
    /// `COPY ... FROM STDIN`).
    pub fn psql_with(&self, args: &[&str], stdin: Option<&Path>) -> Result<String, String> {
        let input = match stdin {
            Some(p) => Stdio::from(
                std::fs::File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?,
            ),
            None => Stdio::null(),
        };
        let out = self
            .psql_command()
            .args(args)
            .stdin(input)
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            Err(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
