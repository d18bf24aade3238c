//! The markdown report: medians of the rounds, ratios against nginx, and
//! every round's numbers so the noise is visible.

use std::collections::BTreeMap;

use crate::Sample;

#[derive(Default)]
pub struct Report {
    pub seconds: f64,
    pub load_before: String,
    pub load_after: String,
    /// (connections, target) → rounds.
    pub proxy: BTreeMap<(usize, &'static str), Vec<Sample>>,
    pub rss_start_mib: f64,
    pub rss_after_mib: f64,
    /// The `BENCH_BEFORE` gateway's RSS after the runs.
    pub rss_before_after_mib: Option<f64>,
    /// Per round: logins/s, gateway CPU µs per login.
    pub logins: Vec<(f64, f64)>,
    /// The seeded gateway's RSS with no session and with 100,000.
    pub seeded_rss: Option<(f64, f64)>,
    pub injection: BTreeMap<&'static str, Vec<Sample>>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu: f64,
}

fn row(s: &[Sample]) -> Row {
    Row {
        rps: median(s.iter().map(|x| x.run.per_second).collect()),
        p50: median(s.iter().map(|x| x.run.p50_ms).collect()),
        p99: median(s.iter().map(|x| x.run.p99_ms).collect()),
        cpu: median(s.iter().map(Sample::cpu_us_per_request).collect()),
    }
}

fn rounds(s: &[Sample]) -> String {
    s.iter()
        .map(|x| format!("{:.0}", x.run.per_second))
        .collect::<Vec<_>>()
        .join(" / ")
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Proxy overhead\n\n\
A 4 KiB page from one static upstream (nginx), fetched directly, through nginx as a plain \
reverse proxy and through esia-gate with an ESIA session; `wrk -t2`, {:.0} s per run, rounds \
interleaved, median of {} rounds. The load generator, the upstream, nginx and the gateway \
share this machine's {} cores on loopback: compare ratios, not absolute numbers. Load average \
before: {}, after: {}.\n\n\
| connections | path | requests/s | × nginx | p50 ms | p99 ms | CPU µs/request | rounds (req/s) |\n\
| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
            self.seconds,
            crate::rounds(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.load_before,
            self.load_after,
        );
        for c in crate::CONNECTIONS {
            let nginx = self.proxy.get(&(c, "nginx")).map(|s| row(s));
            for name in ["direct", "nginx", "esia-gate", "esia-gate before"] {
                let Some(s) = self.proxy.get(&(c, name)) else {
                    continue;
                };
                let r = row(s);
                let ratio = nginx.as_ref().map_or(0.0, |n| r.rps / n.rps);
                out.push_str(&format!(
                    "| {c} | {name} | {:.0} | {ratio:.2} | {:.2} | {:.2} | {:.0} | {} |\n",
                    r.rps,
                    r.p50,
                    r.p99,
                    r.cpu,
                    rounds(s)
                ));
            }
        }
        out.push_str(
            "\nCPU of `direct` is the upstream's own; of nginx and esia-gate, the proxy's \
(nginx: master and workers), not counting the upstream.\n",
        );
        out.push_str(&format!(
            "\n## Memory\n\n- esia-gate RSS after start and one login: **{:.1} MiB**; after the runs above: **{:.1} MiB**\n",
            self.rss_start_mib, self.rss_after_mib
        ));
        if let Some(b) = self.rss_before_after_mib {
            out.push_str(&format!(
                "- `BENCH_BEFORE` gateway after the runs: **{b:.1} MiB**\n"
            ));
        }
        if let Some((none, many)) = self.seeded_rss {
            out.push_str(&format!(
                "- the same gateway built in this benchmark's process (see `seeded.rs`), after a short load: \
no session **{none:.1} MiB**, {} sessions **{many:.1} MiB** ({:.0} bytes a session)\n",
                crate::SEEDED_SESSIONS,
                (many - none) * 1024.0 * 1024.0 / crate::SEEDED_SESSIONS as f64
            ));
        }
        if !self.logins.is_empty() {
            out.push_str(&format!(
                "\n## ESIA logins\n\n{} concurrent loops of the whole way (gateway login, emulator login page, \
login and consent forms, callback) against the ESIA emulator, which runs in the benchmark's process: \
**{:.0} logins/s** (rounds: {}); the gateway's CPU per login: {:.0} µs.\n",
                crate::LOGIN_CLIENTS,
                median(self.logins.iter().map(|l| l.0).collect()),
                self.logins
                    .iter()
                    .map(|l| format!("{:.0}", l.0))
                    .collect::<Vec<_>>()
                    .join(" / "),
                median(self.logins.iter().map(|l| l.1).collect()),
            ));
        }
        if !self.injection.is_empty() {
            out.push_str(
                "\n## Content insertion\n\nA 50 KiB HTML page, gzip, from the same upstream through the \
same gateway under the Yaroslavl policy before its cut-over, 32 connections: with the banner \
inserted (a visitor without an ESIA session) and plain (an ESIA session, no banner).\n\n\
| page | requests/s | × plain | p50 ms | p99 ms | CPU µs/request | connections closed by the gateway | rounds (req/s) |\n\
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
            );
            let plain = self.injection.get("plain").map(|s| row(s));
            for name in ["banner inserted", "plain"] {
                let Some(s) = self.injection.get(name) else {
                    continue;
                };
                let r = row(s);
                let ratio = plain.as_ref().map_or(0.0, |p| r.rps / p.rps);
                out.push_str(&format!(
                    "| {name} | {:.0} | {ratio:.2} | {:.2} | {:.2} | {:.0} | {} | {} |\n",
                    r.rps,
                    r.p50,
                    r.p99,
                    r.cpu,
                    s.iter().map(|x| x.run.closed).sum::<u64>(),
                    rounds(s)
                ));
            }
            if self.injection.values().flatten().any(|x| x.run.closed > 0) {
                out.push_str(
                    "\nConnections closed: the answer went out with neither `Content-Length` nor \
chunked framing, so its end was the connection's and the client had to connect again.\n",
                );
            }
        }
        out
    }
}
