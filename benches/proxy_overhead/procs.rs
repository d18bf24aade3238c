//! The processes under test: CPU time and memory read from `/proc`, the two
//! nginx instances (the static upstream every path proxies to, and nginx
//! as a plain reverse proxy in front of it), and the pages they serve.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks of user plus system time of `pid` (all its threads).
fn ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and its child processes (nginx's workers).
pub fn family(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            if let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && parent_of(child) == Some(pid)
            {
                out.push(child);
            }
        }
    }
    out
}

/// CPU seconds used so far by `pids`.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    pids.iter().filter_map(|p| ticks_of(*p)).sum::<u64>() as f64 / hz
}

/// Resident memory of `pids` in MiB (`VmRSS`).
pub fn rss_mib(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .sum::<f64>()
        / 1024.0
}

/// A diary-like page of about `bytes` bytes: a table of grades in Russian.
pub fn page(title: &str, bytes: usize) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"/static/diary.css\"></head><body><header><h1>{title}</h1>\
<form action=\"/search\"><input name=\"q\"></form></header><table class=\"grades\">"
    );
    let subjects = [
        "Математика",
        "Русский язык",
        "Литература",
        "История",
        "Физика",
    ];
    let mut n = 0;
    while html.len() + 40 < bytes {
        let s = subjects[n % subjects.len()];
        html.push_str(&format!(
            "<tr><td>{}</td><td>{s}</td><td>{}</td></tr>",
            n + 1,
            3 + n % 3
        ));
        n += 1;
    }
    html.push_str("</table></body></html>");
    html
}

pub fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn nginx_binary() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Nginx {
    pub fn pids(&self) -> Vec<u32> {
        family(self.child.id())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers, then itself (SIGKILL
        // would leave the workers running).
        // SAFETY: a signal to a process of our own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

const TEMPS: &str = "client_body_temp_path body; proxy_temp_path proxy; fastcgi_temp_path fcgi; \
uwsgi_temp_path uwsgi; scgi_temp_path scgi;";

fn start(bin: &str, dir: &Path, port: u16, http: &str) -> Nginx {
    std::fs::create_dir_all(dir).expect("nginx dir");
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process on; worker_processes 2; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; {TEMPS}
  keepalive_requests 1000000;
{http}
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port }
}

/// The upstream of every run: nginx serving `page.html` at every path and
/// `page50k.html.gz` (gzip, as a diary's compressed page) at `gzip_path`.
pub fn start_static(bin: &str, dir: &Path, port: u16, gzip_path: &str) -> Nginx {
    let root = dir.display();
    let http = format!(
        "  server {{
    listen 127.0.0.1:{port}; root {root};
    location / {{ default_type \"text/html; charset=utf-8\"; try_files /page.html =404; }}
    location = {gzip_path} {{ default_type \"text/html; charset=utf-8\";
      add_header Content-Encoding gzip; try_files /page50k.html.gz =404; }}
  }}"
    );
    start(bin, &dir.join("static-nginx"), port, &http)
}

/// nginx as a plain reverse proxy of `upstream`, with keep-alive to it.
pub fn start_proxy(bin: &str, dir: &Path, port: u16, upstream: u16) -> Nginx {
    let http = format!(
        "  upstream diary {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://diary; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}
  }}"
    );
    start(bin, &dir.join("proxy-nginx"), port, &http)
}
