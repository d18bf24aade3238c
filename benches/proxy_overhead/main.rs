//! What the gateway costs, measured with a real load generator (`wrk`) on
//! loopback, in one run, interleaved, 3 repetitions:
//!
//! - the same 4 KiB page served directly by a static upstream (nginx, so
//!   the upstream is never the bottleneck), through nginx as a plain
//!   reverse proxy of that upstream, and through esia-gate with an ESIA
//!   session proxying the same upstream, at 32 and 128 connections:
//!   requests/s, p50/p99 and CPU per request of each proxy (utime+stime
//!   from `/proc/<pid>/stat` over the run ÷ requests);
//! - the gateway's RSS at start and after the runs, and with 100,000
//!   sessions in its store (see [`seeded`]);
//! - ESIA logins per second against the emulator (see [`logins`]);
//! - a 50 KiB gzip page with the Yaroslavl banner inserted (its policy
//!   before the cut-over; an anonymous visitor) against the same page
//!   proxied plain (an ESIA session, which gets no banner) by the same
//!   gateway.
//!
//! Not a timed test: `scripts/bench` runs it; the report goes to
//! `target/bench/proxy-overhead.md`. `BENCH_SECONDS` sets each run's
//! length (default 5), `BENCH_ONLY=proxy` skips the rest,
//! `BENCH_ONLY=hold` only starts everything and prints how to reach it,
//! for `BENCH_SECONDS` (for perf, strace, curl), and
//! `BENCH_BEFORE=/path/to/esia-gate` adds that binary as one more proxy
//! ("esia-gate before"), interleaved with the rest: a change measured
//! before and after in one run, under the same load from the neighbours.

#[path = "../../tests/support/mod.rs"]
mod support;

mod logins;
mod procs;
mod report;
mod seeded;
mod wrk;

use std::time::Duration;

use support::{Options, Stack, free_port, persons, policy_options};

/// The gateway binary's allocator: the seeded gateway (this process) must
/// allocate as `esia-gate run` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds of each measurement (`BENCH_ROUNDS` overrides).
const ROUNDS: usize = 3;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS)
}
const CONNECTIONS: [usize; 2] = [32, 128];
pub const WRK_THREADS: usize = 2;
const LOGIN_CLIENTS: usize = 8;
const SEEDED_SESSIONS: usize = 100_000;
const GZIP_PATH: &str = "/legacy/gzip-50k";

/// One measured run of one target.
#[derive(Clone)]
pub struct Sample {
    pub run: wrk::Run,
    /// CPU seconds the proxy (or the upstream, for `direct`) used.
    pub cpu_s: f64,
}

impl Sample {
    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu_s * 1e6 / self.run.requests as f64
    }
}

pub struct Target {
    pub name: &'static str,
    pub url: String,
    pub pids: Vec<u32>,
    pub headers: Vec<(&'static str, String)>,
}

fn measure(wrk: &str, t: &Target, connections: usize, seconds: f64) -> Sample {
    let before = procs::cpu_seconds(&t.pids);
    let run = wrk::run(wrk, &t.url, WRK_THREADS, connections, seconds, &t.headers);
    let cpu_s = procs::cpu_seconds(&t.pids) - before;
    let s = Sample { run, cpu_s };
    eprintln!(
        "bench: {} c={connections}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {:.0} µs CPU/request, {} closed",
        t.name,
        s.run.per_second,
        s.run.p50_ms,
        s.run.p99_ms,
        s.cpu_us_per_request(),
        s.run.closed
    );
    s
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    seeded::serve_if_asked();
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let only_proxy = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "proxy");
    let hold = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "hold");
    let wrk = wrk::binary().expect("wrk is not installed (scripts/bench installs it)");
    let nginx_bin =
        procs::nginx_binary().expect("nginx is not installed (scripts/bench installs nginx-light)");
    let tmp = tempfile::tempdir().expect("tmp");
    let site = tmp.path();
    std::fs::write(
        site.join("page.html"),
        procs::page("Оценки за четверть", 4096),
    )
    .expect("page");
    let big = procs::page("Ведомость успеваемости", 50 * 1024);
    std::fs::write(site.join("page50k.html.gz"), procs::gzip(&big)).expect("page");
    let upstream = procs::start_static(&nginx_bin, site, free_port(), GZIP_PATH);
    let upstream_url = format!("http://127.0.0.1:{}", upstream.port);
    let proxy = procs::start_proxy(&nginx_bin, site, free_port(), upstream.port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut r = report::Report {
        seconds,
        load_before: load_average(),
        ..report::Report::default()
    };
    rt.block_on(async {
        let stack = Stack::start_with(Options {
            start_diary: false,
            upstream_url: Some(upstream_url.clone()),
            ..Options::default()
        })
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let urls = logins::Urls {
            gateway: stack.public_url.clone(),
            esia: stack.esia_url.clone(),
        };
        let cookie = logins::login_once(&http, &urls, persons::SMIRNOV).await;
        let gateway_pid = stack.gateway.id();
        r.rss_start_mib = procs::rss_mib(&[gateway_pid]);
        let headers = vec![
            ("Accept", "text/html".to_string()),
            ("Cookie", cookie.clone()),
        ];
        let before = match std::env::var_os("BENCH_BEFORE") {
            Some(bin) => {
                let stack = Stack::start_with(Options {
                    start_diary: false,
                    upstream_url: Some(upstream_url.clone()),
                    gateway_binary: Some(bin.into()),
                    ..Options::default()
                })
                .await;
                let urls = logins::Urls {
                    gateway: stack.public_url.clone(),
                    esia: stack.esia_url.clone(),
                };
                let cookie = logins::login_once(&http, &urls, persons::SMIRNOV).await;
                Some((stack, cookie))
            }
            None => None,
        };
        let mut targets = vec![
            Target {
                name: "direct",
                url: format!("{upstream_url}/grades"),
                pids: upstream.pids(),
                headers: headers.clone(),
            },
            Target {
                name: "nginx",
                url: format!("http://127.0.0.1:{}/grades", proxy.port),
                pids: proxy.pids(),
                headers: headers.clone(),
            },
            Target {
                name: "esia-gate",
                url: stack.url("/grades"),
                pids: vec![gateway_pid],
                headers: headers.clone(),
            },
        ];
        if let Some((stack, cookie)) = &before {
            targets.push(Target {
                name: "esia-gate before",
                url: stack.url("/grades"),
                pids: vec![stack.gateway.id()],
                headers: vec![
                    ("Accept", "text/html".to_string()),
                    ("Cookie", cookie.clone()),
                ],
            });
        }
        if hold {
            for t in &targets {
                eprintln!(
                    "bench: {} {} pids {:?} cookie {cookie}",
                    t.name, t.url, t.pids
                );
            }
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            return;
        }
        for t in &targets {
            wrk::run(&wrk, &t.url, WRK_THREADS, 128, 1.0, &t.headers);
        }
        for _ in 0..rounds() {
            for c in CONNECTIONS {
                for t in &targets {
                    let s = measure(&wrk, t, c, seconds);
                    r.proxy.entry((c, t.name)).or_default().push(s);
                }
            }
        }
        r.rss_after_mib = procs::rss_mib(&[gateway_pid]);
        if let Some((stack, _)) = &before {
            r.rss_before_after_mib = Some(procs::rss_mib(&[stack.gateway.id()]));
        }
        drop(before);
        if only_proxy {
            return;
        }
        for _ in 0..rounds() {
            let before = procs::cpu_seconds(&[gateway_pid]);
            let (n, secs) = logins::loop_for(&urls, persons::SMIRNOV, LOGIN_CLIENTS, seconds).await;
            let cpu = procs::cpu_seconds(&[gateway_pid]) - before;
            r.logins.push((n as f64 / secs, cpu * 1e6 / n as f64));
        }
        r.seeded_rss = Some((
            seeded::rss(&stack, &wrk, 0, &[]).await.0,
            seeded::rss(&stack, &wrk, SEEDED_SESSIONS, &[]).await.0,
        ));
        drop(stack);

        // The Yaroslavl policy before its cut-over: a banner for visitors
        // without an ESIA session, none for those with one.
        let stack = Stack::start_with(Options {
            start_diary: false,
            upstream_url: Some(upstream_url.clone()),
            ..policy_options("yaroslavl-2019", "2018-12-15")
        })
        .await;
        let urls = logins::Urls {
            gateway: stack.public_url.clone(),
            esia: stack.esia_url.clone(),
        };
        let cookie = logins::login_once(&http, &urls, persons::SMIRNOV).await;
        let url = stack.url(GZIP_PATH);
        let gz = ("Accept-Encoding", "gzip".to_string());
        let accept = ("Accept", "text/html".to_string());
        // A person opening the page, as a browser says it.
        let mode = ("Sec-Fetch-Mode", "navigate".to_string());
        let dest = ("Sec-Fetch-Dest", "document".to_string());
        let pages = [
            Target {
                name: "banner inserted",
                url: url.clone(),
                pids: vec![stack.gateway.id()],
                headers: vec![accept.clone(), gz.clone(), mode.clone(), dest.clone()],
            },
            Target {
                name: "plain",
                url: url.clone(),
                pids: vec![stack.gateway.id()],
                headers: vec![accept, gz, mode, dest, ("Cookie", cookie)],
            },
        ];
        for (t, banner) in pages.iter().zip([true, false]) {
            let mut req = http.get(&t.url);
            for (k, v) in &t.headers {
                req = req.header(*k, v);
            }
            let body = req.send().await.expect("page").bytes().await.expect("body");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
                .expect("still gzip");
            assert_eq!(text.contains("esia-gate-banner"), banner, "{}", t.name);
            assert!(text.contains("</table></body></html>"), "the page whole");
            wrk::run(&wrk, &t.url, WRK_THREADS, 32, 1.0, &t.headers);
        }
        for _ in 0..rounds() {
            for t in &pages {
                let s = measure(&wrk, t, 32, seconds);
                r.injection.entry(t.name).or_default().push(s);
            }
        }
    });
    drop(proxy);
    drop(upstream);
    if hold {
        return;
    }
    r.load_after = load_average();
    let text = r.markdown();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("bench dir");
    std::fs::write(out.join("proxy-overhead.md"), &text).expect("report");
    println!("{text}");
}
