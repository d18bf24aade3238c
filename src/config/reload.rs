//! Live reload without a restart: on SIGHUP everything reloadable is read
//! again; between signals the files are watched (modification time and
//! size) and what changed is reloaded. Runs on a thread of its own so it
//! does not depend on Pingora's runtimes. Each item keeps its old value
//! when the new one is invalid.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Something the gateway can read again while it runs.
pub struct Reloadable {
    pub name: &'static str,
    pub files: Vec<PathBuf>,
    /// Reloads; the argument says why (for the log).
    pub reload: Box<dyn Fn(&str) + Send>,
}

fn stamp(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

pub fn spawn(items: Vec<Reloadable>, every: Duration) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "live reload disabled: no runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let mut hup =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            tracing::warn!(error = %e, "SIGHUP reload unavailable");
                            None
                        }
                    };
                let mut seen: Vec<_> = items.iter().map(|i| stamp(&i.files)).collect();
                let mut tick = tokio::time::interval(every.max(Duration::from_millis(200)));
                loop {
                    let hup_fired = async {
                        match hup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = tick.tick() => {
                            for (i, item) in items.iter().enumerate() {
                                let now = stamp(&item.files);
                                if now != seen[i] {
                                    seen[i] = now;
                                    tracing::debug!(what = item.name, "file changed");
                                    (item.reload)("file changed");
                                }
                            }
                        }
                        _ = hup_fired => {
                            for (i, item) in items.iter().enumerate() {
                                seen[i] = stamp(&item.files);
                                (item.reload)("SIGHUP");
                            }
                        }
                    }
                }
            });
        })
        .map(|_| ())
}
