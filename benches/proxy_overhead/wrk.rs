//! One `wrk` run and what its report says: requests, requests per second,
//! the latency percentiles, and whether any answer was not a success.

use std::process::Command;

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Connections the server closed after an answer (wrk's "read"
    /// socket errors): answers without a length end with the connection.
    pub closed: u64,
}

/// `wrk` on the path, or `None`.
pub fn binary() -> Option<String> {
    ["/usr/bin/wrk", "/usr/local/bin/wrk"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

/// `wrk -t threads -c connections -d seconds --latency` with `headers`.
/// Panics on any answer that is not 2xx/3xx, on connect errors and
/// timeouts: a benchmark of error pages measures nothing.
pub fn run(
    bin: &str,
    url: &str,
    threads: usize,
    connections: usize,
    seconds: f64,
    headers: &[(&str, String)],
) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", seconds.round().max(1.0) as u64))
        .arg("--latency")
        .arg("--timeout")
        .arg("10s");
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk {url}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&text).unwrap_or_else(|e| panic!("wrk {url}: {e}\n{text}"))
}

/// A latency as wrk prints it (`812.00us`, `1.20ms`, `2.01s`) in ms.
fn millis(v: &str) -> Option<f64> {
    let v = v.trim();
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

pub fn parse(text: &str) -> Result<Run, String> {
    let mut run = Run::default();
    let mut in_distribution = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("Non-2xx or 3xx responses") {
            return Err(format!("failed answers: {line}"));
        }
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 15475, write 0, timeout 0"
            for part in rest.split(',') {
                let mut kv = part.split_whitespace();
                let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                    continue;
                };
                let v: u64 = v.parse().map_err(|_| "socket errors")?;
                match k {
                    "read" => run.closed = v,
                    _ if v > 0 => return Err(format!("socket errors: {line}")),
                    _ => {}
                }
            }
        }
        if line.starts_with("Latency Distribution") {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("50%"), Some(v)) => run.p50_ms = millis(v).ok_or("p50")?,
                (Some("99%"), Some(v)) => {
                    run.p99_ms = millis(v).ok_or("p99")?;
                    in_distribution = false;
                }
                _ => {}
            }
        }
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.per_second = rest.trim().parse().map_err(|_| "Requests/sec")?;
        }
        if line.contains(" requests in ") {
            run.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("requests")?;
        }
    }
    if run.requests == 0 || run.per_second == 0.0 {
        return Err("no requests".into());
    }
    Ok(run)
}
