//! What the gateway costs: requests per second and latency of the same
//! diary page fetched directly, through nginx (a plain reverse proxy), and
//! through the gateway with an ESIA session — all in one run on loopback,
//! reported as ratios. Not a timed test: `scripts/bench` runs it and the
//! numbers go to `target/bench/proxy-overhead.md`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Browser, Stack, free_port, persons};

const CLIENTS: usize = 8;
const SECONDS: f64 = 4.0;
const ROUNDS: usize = 3;

struct Sample {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(http: reqwest::Client, url: String, headers: Vec<(&'static str, String)>) -> Sample {
    // Warm up connections and caches.
    for _ in 0..50 {
        let mut r = http.get(&url);
        for (k, v) in &headers {
            r = r.header(*k, v);
        }
        let _ = r.send().await.map(|r| r.status());
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let http = http.clone();
        let url = url.clone();
        let headers = headers.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while started.elapsed().as_secs_f64() < SECONDS {
                let t = Instant::now();
                let mut r = http.get(&url).header("Accept", "text/html");
                for (k, v) in &headers {
                    r = r.header(*k, v);
                }
                match r.send().await {
                    Ok(resp) if resp.status() == 200 => {
                        let _ = resp.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(resp) => panic!("{url}: HTTP {}", resp.status()),
                    Err(e) => panic!("{url}: {e}"),
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        all.get(((all.len() as f64) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Sample {
        per_second: all.len() as f64 / secs,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
    }
}

fn nginx_binary() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(bin: &str, dir: &std::path::Path, port: u16, diary: u16) -> Nginx {
    let d = dir.display();
    let conf = format!(
        "daemon off; worker_processes 2; pid {d}/nginx.pid; error_log {d}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream diary {{ server 127.0.0.1:{diary}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://diary; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}
  }}
}}
"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    std::thread::sleep(Duration::from_millis(500));
    Nginx(child)
}

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
    rt.block_on(async {
        let stack = Stack::start().await;
        let b = Browser::new();
        let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
        assert_eq!(page.status, 200, "login: {}", page.body);
        let diary = stack.ports.diary;
        // The diary trusts identity headers: the direct and nginx runs ask
        // for the same user's page the gateway's session opens.
        let as_user = vec![("X-Remote-User", "smirnov.d".to_string())];
        let tmp = tempfile::tempdir().expect("tmp");
        let nginx = nginx_binary().map(|bin| {
            let port = free_port();
            (start_nginx(&bin, tmp.path(), port, diary), port)
        });
        let plain = reqwest::Client::new();
        let mut rows: Vec<(&str, Vec<Sample>)> = vec![("direct", vec![]), ("nginx", vec![]), ("esia-gate", vec![])];
        for _ in 0..ROUNDS {
            rows[0].1.push(load(plain.clone(), format!("http://127.0.0.1:{diary}/grades"), as_user.clone()).await);
            if let Some((_, port)) = &nginx {
                rows[1].1.push(load(plain.clone(), format!("http://127.0.0.1:{port}/grades"), as_user.clone()).await);
            }
            rows[2].1.push(load(b.http.clone(), stack.url("/grades"), vec![]).await);
        }
        let summary: Vec<(&str, f64, f64, f64)> = rows
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(name, s)| {
                (
                    *name,
                    median(s.iter().map(|x| x.per_second).collect()),
                    median(s.iter().map(|x| x.p50_ms).collect()),
                    median(s.iter().map(|x| x.p99_ms).collect()),
                )
            })
            .collect();
        let rps = |n: &str| summary.iter().find(|r| r.0 == n).map(|r| r.1);
        let mut report = String::from(
            "# Proxy overhead\n\nThe same diary page (`/grades`, one user) fetched directly, through nginx and through esia-gate with an ESIA session, in one run on loopback; median of 3 rounds of 4 s with 8 concurrent clients. Load generator and servers share the machine's cores, so compare the ratios, not the absolute numbers.\n\n| path | requests/s | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |\n",
        );
        for (name, r, p50, p99) in &summary {
            report.push_str(&format!("| {name} | {r:.0} | {p50:.2} | {p99:.2} |\n"));
        }
        report.push('\n');
        if let (Some(g), Some(d)) = (rps("esia-gate"), rps("direct")) {
            report.push_str(&format!("- esia-gate / direct: **{:.2}**\n", g / d));
        }
        match (rps("esia-gate"), rps("nginx")) {
            (Some(g), Some(n)) => report.push_str(&format!("- esia-gate / nginx: **{:.2}**\n", g / n)),
            _ => report.push_str("- nginx: not installed (scripts/bench installs nginx-light)\n"),
        }
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
        std::fs::create_dir_all(&out).expect("bench dir");
        std::fs::write(out.join("proxy-overhead.md"), &report).expect("report");
        println!("{report}");
        drop(nginx);
    });
}
