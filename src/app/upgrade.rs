//! A graceful upgrade started by the running gateway itself on SIGUSR2
//! (`esia-gate-upgrade`): it checks the configuration with the binary now
//! on disk, starts that binary with `run --upgrade` as its own child — so
//! under systemd the new process is in the service's cgroup, runs as its
//! user with its sandbox, and may tell systemd it is the main process —
//! waits until the new process listens on the upgrade socket, then sends
//! itself SIGQUIT: Pingora passes the listening sockets over and this
//! process drains and exits. Anything failing before that leaves this
//! process serving, and the log says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the new process may take to open the upgrade socket.
const WAIT_NEW: Duration = Duration::from_secs(60);

pub(super) struct Upgrade {
    /// The binary as it was named when this process started: a package
    /// upgrade replaces the file under that name.
    pub bin: PathBuf,
    pub sock: PathBuf,
    /// An upgrade under way: a second SIGUSR2 waits for its outcome.
    pub busy: Arc<AtomicBool>,
}

impl Upgrade {
    /// The binary this process was started from, by its path (resolved now,
    /// before anything replaces it).
    pub fn new(sock: PathBuf) -> Self {
        let bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("esia-gate"));
        Self {
            bin,
            sock,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn start(&self, config: Option<&Path>) {
        let Some(config) = config else {
            tracing::error!("upgrade (SIGUSR2) refused: started without a configuration file");
            return;
        };
        if self.busy.swap(true, Ordering::SeqCst) {
            tracing::warn!("upgrade (SIGUSR2) already under way");
            return;
        }
        tracing::info!(bin = %self.bin.display(), config = %config.display(), "upgrade (SIGUSR2): starting a new process");
        match self.spawn(config) {
            Ok(child) => {
                let sock = self.sock.clone();
                let busy = self.busy.clone();
                let watching = std::thread::Builder::new()
                    .name("esia-gate-upgrade".into())
                    .spawn(move || {
                        hand_over_when_ready(child, &sock);
                        busy.store(false, Ordering::SeqCst);
                    });
                if let Err(e) = watching {
                    tracing::error!(error = %e, "upgrade: cannot wait for the new process; this process keeps serving");
                    self.busy.store(false, Ordering::SeqCst);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "upgrade refused; this process keeps serving");
                self.busy.store(false, Ordering::SeqCst);
            }
        }
    }

    fn spawn(&self, config: &Path) -> Result<Child, String> {
        let check = Command::new(&self.bin)
            .arg("check")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if !check.status.success() {
            return Err(format!(
                "the new binary refuses the configuration: {}",
                String::from_utf8_lossy(&check.stderr).trim()
            ));
        }
        // A socket left by a failed attempt would look like a ready process.
        let _ = std::fs::remove_file(&self.sock);
        let child = Command::new(&self.bin)
            .arg("run")
            .arg("--upgrade")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        tracing::info!(
            new_pid = child.id(),
            "upgrade: new process started, waiting for it to take over"
        );
        Ok(child)
    }
}

/// Waits for the new process's upgrade socket, then SIGQUIT to this
/// process; gives up (this process serving on) if the new one exits or
/// takes too long.
fn hand_over_when_ready(mut child: Child, sock: &Path) {
    let deadline = Instant::now() + WAIT_NEW;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            tracing::error!(%status, "upgrade: the new process exited before taking over; this process keeps serving");
            return;
        }
        if is_socket(sock) {
            break;
        }
        if Instant::now() > deadline {
            tracing::error!(sock = %sock.display(), "upgrade: the new process did not open the upgrade socket in time; stopped, this process keeps serving");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!(new_pid = child.id(), "upgrade: handing the listeners over");
    // The child outlives this process (reparented); it is not waited for.
    drop(child);
    // SAFETY: kill(2) on our own pid with a signal Pingora handles.
    let sent = unsafe { libc::kill(libc::getpid(), libc::SIGQUIT) };
    if sent != 0 {
        tracing::error!(error = %std::io::Error::last_os_error(), "upgrade: cannot signal this process");
    }
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}
