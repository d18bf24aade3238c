//! Requests per second through the gateway with the embedded store and with
//! Redis (and with Redis without the session cache, to show what the cache
//! saves). Not a timed test: run `cargo bench --bench store_backends`; the
//! numbers go to `target/bench/store-backends.md`.
//!
//! Each run starts the whole stack on loopback (ESIA emulator, sample diary,
//! the release gateway binary; a throwaway `redis-server` for Redis), logs
//! in once, warms up, then sends N authenticated GETs to a diary page from
//! a few concurrent clients.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Browser, Options, RedisServer, Stack, persons, redis_store_section};

const REQUESTS: usize = 2000;
const CLIENTS: usize = 4;
const WARM_UP: usize = 100;
const ROUNDS: usize = 3;

struct Run {
    name: &'static str,
    seconds: f64,
    per_second: f64,
}

async fn measure(name: &'static str, config_extra: String) -> Run {
    let stack = Stack::start_with(Options {
        config_extra,
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let page = browser.login(&stack, "/grades", persons::IVANOVA).await;
    assert_eq!(page.status, 200, "login: {}", page.body);
    let url = stack.url("/grades");
    for _ in 0..WARM_UP {
        assert_eq!(browser.get(&url).await.status, 200);
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let http = browser.http.clone();
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..REQUESTS / CLIENTS {
                let r = http
                    .get(&url)
                    .header("Accept", "text/html")
                    .send()
                    .await
                    .expect("request");
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.expect("body");
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let seconds = started.elapsed().as_secs_f64();
    let log = stack.log_text();
    assert!(!log.contains("panicked"), "{log}");
    Run {
        name,
        seconds,
        per_second: REQUESTS as f64 / seconds,
    }
}

/// The median of a few rounds (a single round of 2000 requests takes well
/// under a second here, so one round alone is noisy).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let runs = rt.block_on(async {
        let redis_server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let configs: [(&'static str, String); 3] = [
            ("embedded", String::new()),
            (
                "redis (session cache 2 s)",
                redis_store_section(&redis_server, 2000),
            ),
            (
                "redis (no session cache)",
                redis_store_section(&redis_server, 0),
            ),
        ];
        let mut rounds: Vec<Vec<Run>> = Vec::new();
        // Interleaved, so a slow moment of the machine hits every backend.
        for _ in 0..ROUNDS {
            let mut round = Vec::new();
            for (name, extra) in &configs {
                round.push(measure(name, extra.clone()).await);
            }
            rounds.push(round);
        }
        configs
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let seconds = median(rounds.iter().map(|r| r[i].seconds).collect());
                Run {
                    name,
                    seconds,
                    per_second: REQUESTS as f64 / seconds,
                }
            })
            .collect::<Vec<_>>()
    });
    let base = runs[0].per_second;
    let mut md = format!(
        "# Store backends: requests per second through the gateway\n\n\
         {REQUESTS} authenticated GETs of `/grades` (sample diary behind the gateway), \
         {CLIENTS} concurrent clients, after {WARM_UP} warm-up requests; one login; \
         median of {ROUNDS} rounds; everything on loopback on this machine ({} cores), \
         release build.\n\n\
         | store | seconds | requests/s | ratio to embedded |\n| --- | ---: | ---: | ---: |\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for r in &runs {
        md.push_str(&format!(
            "| {} | {:.3} | {:.0} | {:.2} |\n",
            r.name,
            r.seconds,
            r.per_second,
            r.per_second / base
        ));
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let out = dir.join("store-backends.md");
    std::fs::write(&out, &md).expect("write the report");
    println!("{md}\nwritten to {}", out.display());
    // Give the processes a moment to go before the runtime ends.
    std::thread::sleep(Duration::from_millis(100));
}
