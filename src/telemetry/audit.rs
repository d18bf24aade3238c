//! The audit log: one JSON line per authentication event (login started,
//! ESIA result, match outcome, link made or removed, logout, policy
//! block). Call sites emit `tracing` events with target `audit`; this layer
//! writes each as `{"time": ..., "event": ..., "request_id": ..., ...}` to
//! the audit file (appended, reopened when rotated away) or to stdout.
//!
//! Fields whose name says they hold a SNILS, a password or a token never
//! reach the line, and neither does a value shaped like a JWT: the audit
//! log is read by more people than the code is.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};

use super::metrics;

/// The `tracing` target of audit events.
pub const TARGET: &str = "audit";

const REDACTED: &str = "[redacted]";

/// Parts of field names that mark a secret: such a field is never written.
const SECRET_NAMES: [&str; 9] = [
    "snils",
    "password",
    "passwd",
    "token",
    "secret",
    "cookie",
    "assertion",
    "jwt",
    "authorization",
];

enum Sink {
    Stdout,
    File(Mutex<AuditFile>),
}

struct AuditFile {
    path: PathBuf,
    file: File,
    /// Device and inode of the open file, to notice a rotation.
    id: (u64, u64),
}

impl AuditFile {
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        let m = file.metadata()?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            id: (m.dev(), m.ino()),
        })
    }

    /// Append one line; reopen first when the file was moved away (log
    /// rotation) or removed.
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let current = std::fs::metadata(&self.path).map(|m| (m.dev(), m.ino()));
        if current.ok() != Some(self.id) {
            *self = Self::open(&self.path)?;
        }
        self.file.write_all(line)
    }
}

/// The layer writing audit lines. Give it a filter letting only
/// [`TARGET`] through (see [`filter`]).
pub struct AuditLayer {
    sink: Sink,
}

impl AuditLayer {
    /// Audit lines to `path` (created with mode 0640 when missing, always
    /// appended to), or to stdout when `None`.
    pub fn new(path: Option<&Path>) -> std::io::Result<Self> {
        let sink = match path {
            Some(p) => Sink::File(Mutex::new(AuditFile::open(p).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open the audit log {}: {e}", p.display()),
                )
            })?)),
            None => Sink::Stdout,
        };
        Ok(Self { sink })
    }

    fn write(&self, line: &[u8]) {
        let result = match &self.sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line).and_then(|()| out.flush())
            }
            Sink::File(f) => match f.lock() {
                Ok(mut f) => f.write_line(line),
                Err(_) => Err(std::io::Error::other("audit log lock poisoned")),
            },
        };
        if let Err(e) = result {
            metrics::get().audit_write_errors.inc();
            // Not through tracing: this runs inside the subscriber.
            eprintln!("esia-gate: cannot write the audit log: {e}");
        }
    }
}

/// The per-layer filter of the audit layer: events with target [`TARGET`]
/// at `info` or above (every audit event is `info`). A [`Targets`] filter
/// rather than a closure, so that it gives `tracing` a max-level hint:
/// without one the whole subscriber counts as `trace`, and every
/// `log::trace!` in Pingora would be offered to every filter.
pub fn filter() -> Targets {
    Targets::new().with_target(TARGET, tracing::Level::INFO)
}

/// Fields in the order the call site gave them.
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let lower = name.to_ascii_lowercase();
        let value = if SECRET_NAMES.iter().any(|s| lower.contains(s)) || looks_secret(&value) {
            Value::String(REDACTED.into())
        } else {
            value
        };
        self.0.push((name.to_string(), value));
    }
}

/// A JWT (an assertion, an ESIA token) is three base64url parts, the
/// first starting with `eyJ` (`{"`).
fn looks_secret(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("eyJ"))
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::String(value.to_string()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%x` fields arrive here too, already in their Display form.
        self.push(field, Value::String(format!("{value:?}")));
    }
}

/// One audit line: `time` first, then the event's fields as given, with
/// `request_id` always present (null when the call site had none).
fn line(time: &str, fields: Fields) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str("{\"time\":");
    out.push_str(&Value::String(time.to_string()).to_string());
    let mut has_request_id = false;
    for (k, v) in &fields.0 {
        if k == "time" {
            continue;
        }
        has_request_id |= k == "request_id";
        out.push(',');
        out.push_str(&Value::String(k.clone()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    if !has_request_id {
        out.push_str(",\"request_id\":null");
    }
    out.push_str("}\n");
    out.into_bytes()
}

impl<S: Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.write(&line(&time, fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn lines_of(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .expect("audit file")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect()
    }

    #[test]
    fn each_audit_event_is_one_json_line_with_time_and_request_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let layer = AuditLayer::new(Some(&path)).expect("open");
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", event = "login_result", request_id = "r1",
                outcome = "success", login = %"ivanova.m", oid = %"1000001", trusted = true);
            tracing::info!("an operational line, not audited");
            tracing::info!(target: "audit", event = "account_active", login = "x");
        });
        let lines = lines_of(&path);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first = &lines[0];
        assert_eq!(first["event"], "login_result");
        assert_eq!(first["request_id"], "r1");
        assert_eq!(first["login"], "ivanova.m");
        assert_eq!(first["oid"], "1000001");
        assert_eq!(first["trusted"], true);
        assert!(
            chrono::DateTime::parse_from_rfc3339(first["time"].as_str().expect("time")).is_ok()
        );
        assert!(lines[1]["request_id"].is_null());
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("{\"time\":"), "{text}");
    }

    #[test]
    fn secrets_never_reach_the_audit_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let layer = AuditLayer::new(Some(&path)).expect("open");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", event = "x", request_id = "r",
                snils = "112-233-445 95", child_snils = "11223344595",
                password = "demo", access_token = "abc", note = "eyJhbGciOi.x.y");
        });
        let text = std::fs::read_to_string(&path).expect("read");
        for secret in ["112-233-445 95", "11223344595", "demo", "abc", "eyJ"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(lines_of(&path)[0]["password"], REDACTED);
    }

    #[test]
    fn a_rotated_audit_file_is_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let layer = AuditLayer::new(Some(&path)).expect("open");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", event = "before", request_id = "1");
            std::fs::rename(&path, dir.path().join("audit.log.1")).expect("rotate");
            tracing::info!(target: "audit", event = "after", request_id = "2");
        });
        let now = lines_of(&path);
        assert_eq!(now.len(), 1);
        assert_eq!(now[0]["event"], "after");
        assert_eq!(
            lines_of(&dir.path().join("audit.log.1"))[0]["event"],
            "before"
        );
    }
}
