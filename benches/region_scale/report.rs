//! The markdown report: each figure beside the target, met or
//! not, and the conditions of the run.

use crate::gateway::{DirectoryLoad, Fetched};
use crate::pg_load::Loaded;
use crate::redis_scale::Spread;

#[derive(Default)]
pub struct Report {
    pub scale: f64,
    pub accounts: usize,
    pub schools: usize,
    pub records: usize,
    pub sessions: usize,
    pub seconds: f64,
    pub data_dir: String,
    pub generate_s: f64,
    pub directory: Option<DirectoryLoad>,
    pub loaded: Option<Loaded>,
    /// The region's gateway: seconds until it answered, RSS then.
    pub gateway_start: Option<(f64, f64)>,
    /// (what, path, rounds).
    pub reports: Vec<(&'static str, String, Vec<Fetched>)>,
    /// (set-up, rounds of logins/s).
    pub logins: Vec<(&'static str, Vec<f64>)>,
    pub spread: Option<Spread>,
    /// RSS with no session and with `sessions`, with the demo directory
    /// and with the region's; requests/s through them (a short run).
    pub seeded: Option<((f64, f64), (f64, f64))>,
    pub proxied: Vec<(&'static str, f64, f64)>,
    pub total_s: f64,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn list(v: &[f64], digits: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.digits$}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

impl Report {
    fn targets(&self, out: &mut String) {
        out.push_str(
            "## Targets (issue 14)\n\n| target | measured | verdict |\n| --- | --- | --- |\n",
        );
        if let Some(d) = &self.directory {
            out.push_str(&format!(
                "| directory of 1,000,000 rows loaded in < 10 s | {} rows in {:.2} s | {} |\n",
                d.accounts,
                d.seconds,
                verdict(d.seconds < 10.0)
            ));
            out.push_str(&format!(
                "| … and in < 1 GiB | peak {:.0} MiB, {:.0} MiB after | {} |\n",
                d.peak_mib,
                d.rss_mib,
                verdict(d.peak_mib < 1024.0)
            ));
        }
        for (what, _, rounds) in &self.reports {
            let s = median(rounds.iter().map(|f| f.seconds).collect());
            let peak = rounds
                .iter()
                .map(|f| f.peak_mib - f.before_mib)
                .fold(0.0, f64::max);
            let limit = if what.starts_with("one school") {
                0.2
            } else {
                10.0
            };
            out.push_str(&format!(
                "| {what} < {} | {} (median) | {} |\n",
                if limit < 1.0 {
                    "200 ms".to_string()
                } else {
                    "10 s".to_string()
                },
                if s < 1.0 {
                    format!("{:.0} ms", s * 1000.0)
                } else {
                    format!("{s:.2} s")
                },
                verdict(s < limit)
            ));
            out.push_str(&format!(
                "| … memory < 512 MiB while building it | +{peak:.0} MiB over the fresh gateway's RSS | {} |\n",
                verdict(peak < 512.0)
            ));
        }
        if let Some(sp) = &self.spread {
            out.push_str(&format!(
                "| no Redis node > 50 % of durable writes (three masters) | largest share {:.1} % | {} |\n",
                sp.largest_share() * 100.0,
                verdict(sp.largest_share() <= 0.5)
            ));
        }
        if self.scale < 1.0 {
            out.push_str(&format!(
                "\nThis run was at **BENCH_SCALE={}**: the targets are for the full region, so \
the verdicts above say nothing about it.\n",
                self.scale
            ));
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Region scale\n\nA synthetic region: **{} directory accounts** in {} schools (CSV in the \
directory format; half parents with two children each, 45 % students, 5 % staff, 3 % without a \
SNILS) and **{} login records** over 400 days (70 % of the accounts ever logged in, 70 % of \
logins through ESIA), generated in {:.1} s (BENCH_SCALE={}). PostgreSQL's data and the generated \
files are under `{}`. Everything runs on this machine's {} cores on loopback, the benchmark \
included; the whole run took {:.0} s.\n\n",
            self.accounts,
            self.schools,
            self.records,
            self.generate_s,
            self.scale,
            self.data_dir,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.total_s
        );
        self.targets(&mut out);
        if let Some(d) = &self.directory {
            out.push_str(&format!(
                "\n## Directory\n\n`Directory::load_csv` in a fresh process: {} accounts ({} rows \
skipped) in **{:.2} s**; RSS after **{:.0} MiB**, peak **{:.0} MiB** (the file is read whole, then \
parsed). An account found by its login (asked on every proxied request, for its role): \
**{:.2} µs** through the directory's login index, {:.0} µs by a scan of every account (what \
`by_login` did before this benchmark).\n",
                d.accounts, d.skipped, d.seconds, d.rss_mib, d.peak_mib, d.lookup_us, d.scan_us
            ));
        }
        if let Some(l) = &self.loaded {
            out.push_str(&format!(
                "\n## Durable records in PostgreSQL\n\nThe gateway's schema (its migrations), then \
`COPY` of {} history rows and {} last-login rows streamed from the generator, and `ANALYZE`: \
**{:.0} s**; tables with their indexes: **{:.0} MiB**.\n",
                l.history_rows, l.last_rows, l.seconds, l.size_mib
            ));
        }
        if let Some((s, rss)) = self.gateway_start {
            out.push_str(&format!(
                "\nThe region's gateway (`esia-gate run`, embedded ephemeral store, \
`durable = \"postgres\"`) answered `/healthz` **{s:.1} s** after it was started, with \
**{rss:.0} MiB** RSS.\n"
            ));
        }
        if !self.reports.is_empty() {
            out.push_str(
                "\n## Reports\n\nEach report from a gateway of the region just started, fetched whole \
from its admin listener, 3 rounds. Memory: the gateway's peak RSS (`VmHWM`, reset before each \
round) against its RSS before the round; the first round's is what building the report takes \
(the allocator keeps what it was given, so later rounds start higher and grow less; and memory \
the directory's load freed, such as the CSV file read whole, is used again before the RSS \
grows).\n\n\
| report | path | seconds (rounds) | rows | MiB sent | RSS before → peak, MiB (rounds) | first round: peak − before |\n\
| --- | --- | --- | ---: | ---: | --- | ---: |\n",
            );
            for (what, path, rounds) in &self.reports {
                let Some(first) = rounds.first() else {
                    continue;
                };
                let memory = rounds
                    .iter()
                    .map(|x| format!("{:.0} → {:.0}", x.before_mib, x.peak_mib))
                    .collect::<Vec<_>>()
                    .join(" / ");
                out.push_str(&format!(
                    "| {what} | `{path}` | {} | {} | {:.1} | {memory} | +{:.0} |\n",
                    list(&rounds.iter().map(|x| x.seconds).collect::<Vec<_>>(), 3),
                    first.rows,
                    first.bytes as f64 / 1_048_576.0,
                    first.peak_mib - first.before_mib
                ));
            }
        }
        if !self.logins.is_empty() {
            out.push_str(&format!(
                "\n## ESIA logins per second\n\nThe whole way (gateway login, the emulator's login \
page, login and consent forms, callback), 8 concurrent loops, {:.0} s rounds, the demo \
directory; the emulator runs in the benchmark's process.\n\n| store | logins/s (median) | rounds |\n| --- | ---: | --- |\n",
                self.seconds
            ));
            for (what, r) in &self.logins {
                out.push_str(&format!(
                    "| {what} | {:.0} | {} |\n",
                    median(r.clone()),
                    list(r, 0)
                ));
            }
        }
        if let Some(sp) = &self.spread {
            let total: u64 = sp.commands.iter().sum();
            out.push_str(&format!(
                "\n## Durable writes over a three-master cluster\n\n{} people written through the \
Redis store as the gateway writes them (an own and a child link, an ESIA and a password login, a \
failed match for every tenth), 16 at a time: each master's commands while writing (`INFO stats`) \
and its keys after.\n\n| master | commands | share | keys |\n| --- | ---: | ---: | ---: |\n",
                sp.people
            ));
            for (i, (c, k)) in sp.commands.iter().zip(&sp.keys).enumerate() {
                out.push_str(&format!(
                    "| {} | {c} | {:.1} % | {k} |\n",
                    i + 1,
                    *c as f64 * 100.0 / total.max(1) as f64
                ));
            }
        }
        if let Some(((demo_none, demo_many), (none, many))) = self.seeded {
            out.push_str(&format!(
                "\n## Memory with sessions\n\nThe gateway built in this benchmark's process \
(`benches/proxy_overhead/seeded.rs`), after a short load, without a session and with {} \
sessions: with the demo directory **{demo_none:.0} MiB** and **{demo_many:.0} MiB** ({:.0} bytes \
a session); with the region's directory **{none:.0} MiB** and **{many:.0} MiB** (the directory's \
own memory dwarfs the sessions' and varies from start to start by more than they take).\n",
                self.sessions,
                (demo_many - demo_none) * 1_048_576.0 / self.sessions.max(1) as f64
            ));
        }
        if !self.proxied.is_empty() {
            out.push_str(
                "\nProxied pages with a seeded ESIA session (`wrk`, 32 connections, 2 s, the \
sample diary upstream): each request looks its account's role up in the directory.\n\n\
| directory | requests/s | p99 ms |\n| --- | ---: | ---: |\n",
            );
            for (what, rps, p99) in &self.proxied {
                out.push_str(&format!("| {what} | {rps:.0} | {p99:.2} |\n"));
            }
        }
        out
    }
}
