//! Live reload without a restart. A thread of its own (so it does not
//! depend on Pingora's runtimes) waits for three things:
//!
//! - a watched file changing (modification time and size, looked at every
//!   few seconds): what it belongs to is read again;
//! - SIGHUP (`systemctl reload`): the configuration is read again and what
//!   can change while the gateway runs is applied, all of it or nothing;
//! - SIGUSR2: a graceful upgrade (a new process takes the listeners over).
//!
//! What each means is the [`Watcher`]'s business (`app::reload`); each
//! keeps the old value when the new one is invalid.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// What the reload thread serves.
pub trait Watcher: Send + 'static {
    /// The files watched now, by what they belong to. Asked again after
    /// every event: a reload may change the list.
    fn watched(&self) -> Vec<(&'static str, Vec<PathBuf>)>;
    /// A file of `name` changed.
    fn changed(&mut self, name: &'static str);
    /// SIGHUP: read the configuration again.
    fn hangup(&mut self);
    /// SIGUSR2: hand the listeners over to a new process.
    fn upgrade(&mut self);
}

type Stamps = Vec<(&'static str, Vec<Option<(SystemTime, u64)>>)>;

fn stamp(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn stamps(w: &dyn Watcher) -> Stamps {
    w.watched()
        .into_iter()
        .map(|(name, files)| (name, stamp(&files)))
        .collect()
}

fn signal(
    kind: tokio::signal::unix::SignalKind,
    name: &str,
) -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, signal = name, "cannot listen for the signal");
            None
        }
    }
}

async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
    match s.as_mut() {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Starts the reload thread; files are looked at every `every` (at least
/// 200 ms). The signal handlers are in place when this returns.
pub fn spawn(mut w: impl Watcher, every: Duration) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before the thread starts: a signal sent right after
    // start is not lost (nor does it kill the process, SIGHUP's default).
    let (mut hup, mut usr2) = rt.block_on(async {
        use tokio::signal::unix::SignalKind;
        (
            signal(SignalKind::hangup(), "SIGHUP"),
            signal(SignalKind::user_defined2(), "SIGUSR2"),
        )
    });
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut seen = stamps(&w);
                let mut tick = tokio::time::interval(every.max(Duration::from_millis(200)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let now = stamps(&w);
                            for (name, files) in &now {
                                let before = seen.iter().find(|(n, _)| n == name).map(|(_, f)| f);
                                if before != Some(files) {
                                    tracing::debug!(what = *name, "file changed");
                                    w.changed(name);
                                }
                            }
                            // Stamped before the reload read the files: a
                            // change while it read is seen next time.
                            seen = now;
                        }
                        _ = next(&mut hup) => {
                            w.hangup();
                            seen = stamps(&w);
                        }
                        _ = next(&mut usr2) => {
                            w.upgrade();
                        }
                    }
                }
            });
        })
        .map(|_| ())
}
