//! Connection limits of the public listener, from outside, on loopback: one
//! address holding thousands of idle connections, a client trickling its
//! header, an idle kept-alive connection, and the caps per client, per
//! trusted proxy and in all. Other loopback addresses (127.0.0.2, ...) play
//! other people; the admin listener must answer throughout.

mod support;

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use support::{Browser, Options, Stack, counter, element_text, persons};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const NEIGHBOUR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BALANCER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// A connection to the gateway's public port from `from`.
async fn connect(from: Ipv4Addr, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind a loopback source address");
    tokio::time::timeout(
        Duration::from_secs(10),
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// Whether the gateway closes the connection within `within` (end of
/// stream or a reset), without answering anything.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "the gateway answered a connection that sent nothing: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// Send a request on a raw connection and read its answer (the gateway's
/// own answers carry a Content-Length); the status code.
async fn request(stream: &mut TcpStream, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a Content-Length");
            if buf.len() >= end + 4 + length {
                return head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("a status");
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A browser from another loopback address.
fn browser_from(ip: Ipv4Addr) -> Browser {
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .local_address(IpAddr::V4(ip))
            .build()
            .expect("client"),
    }
}

/// Wait (10 s at most) until the gateway counts `n` open public
/// connections: a connect returns before the gateway has accepted it.
async fn wait_open(stack: &Stack, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = counter(&stack.metrics().await, "esia_gate_connections_open");
        if open == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway counts {open} open connections, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn healthz(stack: &Stack) {
    let r = reqwest::Client::new()
        .get(stack.admin_url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the admin listener answers");
    assert!(r.status().is_success(), "/healthz: {}", r.status());
}

fn connections_section(keys: &str) -> Options {
    Options {
        config_extra: format!("[connections]\n{keys}"),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_21st_connection_from_one_address_is_closed_at_once_and_others_are_served() {
    let mut opts = connections_section("max_per_client = 20\nheader_timeout_seconds = 60\n");
    opts.config_replace = vec![(
        "[gateway]\n".into(),
        format!("[gateway]\ntrusted_proxies = [\"{BALANCER}\"]\n"),
    )];
    let stack = Stack::start_with(opts).await;
    let port = stack.ports.gateway;

    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(ATTACKER, port).await);
    }
    wait_open(&stack, 20.0).await;
    let mut extra = connect(ATTACKER, port).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "the 21st connection from one address is closed at once"
    );

    let mut neighbour = connect(NEIGHBOUR, port).await;
    assert_eq!(
        request(&mut neighbour, "/grades").await,
        302,
        "another address is served"
    );
    drop(neighbour);

    // A trusted balancer carries many people: the client cap is not its.
    let mut via_balancer = Vec::new();
    for _ in 0..30 {
        via_balancer.push(connect(BALANCER, port).await);
    }
    wait_open(&stack, 50.0).await;
    assert_eq!(request(&mut via_balancer[29], "/grades").await, 302);

    // A place comes back when a connection ends.
    drop(held.pop());
    wait_open(&stack, 49.0).await;
    let mut again = connect(ATTACKER, port).await;
    assert_eq!(
        request(&mut again, "/grades").await,
        302,
        "a freed place is taken again"
    );

    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_connections_refused_total{reason=\"per_client_cap\"}"
        ),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_connections_refused_total{reason=\"per_proxy_cap\"}"
        ),
        0.0
    );
    let log = stack.log_text();
    assert!(
        log.contains("a connection cap is reached") && log.contains("per_client_cap"),
        "the refusal is logged:\n{log}"
    );
    drop((held, via_balancer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_cap_keeps_the_admin_listener_reachable() {
    let stack =
        Stack::start_with(connections_section("max_per_client = 0\nmax_total = 30\n")).await;
    let port = stack.ports.gateway;
    let mut held = Vec::new();
    for _ in 0..30 {
        held.push(connect(ATTACKER, port).await);
    }
    wait_open(&stack, 30.0).await;
    let mut over = connect(NEIGHBOUR, port).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "over the total cap, whoever it is"
    );
    healthz(&stack).await;
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_connections_refused_total{reason=\"global_cap\"}"
        ),
        1.0
    );
    assert_eq!(counter(&scrape, "esia_gate_connections_limit"), 30.0);
    drop(held);
    wait_open(&stack, 0.0).await;
    let mut after = connect(NEIGHBOUR, port).await;
    assert_eq!(request(&mut after, "/grades").await, 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_trickled_line_by_line_is_cut_off_while_others_are_served() {
    let stack = Stack::start_with(connections_section("header_timeout_seconds = 3\n")).await;
    let port = stack.ports.gateway;

    // A kept-alive connection idle longer than the header deadline: the
    // deadline of its next request runs from that request's first byte.
    let mut kept = connect(NEIGHBOUR, port).await;
    assert_eq!(request(&mut kept, "/grades").await, 302);

    let started = Instant::now();
    let slow = connect(ATTACKER, port).await;
    let (mut read, mut write) = slow.into_split();
    let trickle = tokio::spawn(async move {
        let _ = write.write_all(b"GET /grades HTTP/1.1\r\n").await;
        for n in 0..10 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if write
                .write_all(format!("X-Slow-{n}: {n}\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    // Meanwhile a normal request on another connection.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut normal = connect(NEIGHBOUR, port).await;
    assert_eq!(request(&mut normal, "/grades").await, 302);

    let mut buf = [0u8; 256];
    let end = tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf))
        .await
        .expect("the trickling connection is closed within 10 s");
    let took = started.elapsed();
    assert!(
        matches!(end, Ok(0) | Err(_)),
        "closed without an answer: {end:?}"
    );
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "closed after {took:?}, the deadline being 3 s"
    );
    trickle.abort();

    tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
    assert_eq!(
        request(&mut kept, "/grades").await,
        302,
        "a kept-alive connection idle past the header deadline still serves its next request"
    );
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_connections_closed_total{reason=\"header_timeout\"}"
        ),
        1.0,
        "{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout() {
    let stack = Stack::start_with(connections_section("keepalive_timeout_seconds = 2\n")).await;
    let mut kept = connect(NEIGHBOUR, stack.ports.gateway).await;
    assert_eq!(request(&mut kept, "/grades").await, 302);
    let answered = Instant::now();
    assert!(
        closed_within(&mut kept, Duration::from_secs(8)).await,
        "an idle kept-alive connection is closed"
    );
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(6),
        "closed after {idle:?} idle, the keep-alive timeout being 2 s"
    );

    // An HTTP/1.0 client without keep-alive gets its answer and the end of
    // the connection, as it expects.
    let mut old = connect(NEIGHBOUR, stack.ports.gateway).await;
    old.write_all(b"GET /grades HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(1), old.read_to_end(&mut answer))
        .await
        .expect("closed right after the answer")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains(" 302 ") && answer.contains("Connection: close"),
        "{answer}"
    );
}

/// How many idle connections the big test opens from one address.
const IDLE_CONNECTIONS: usize = 20_000;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .expect("VmRSS of the gateway")
}

/// The soft descriptor limit raised to the hard one; the new soft limit.
fn raise_nofile() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 0;
        }
        l.rlim_cur = l.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
            return 0;
        }
    }
    l.rlim_cur
}

/// What one holder process reports: connections opened, and how many the
/// gateway had closed a moment later.
struct Held {
    opened: usize,
    still_open: usize,
}

/// A child process (this test binary, running [`hold_idle_connections`])
/// holding `count` idle connections: a process's descriptor limit may be
/// too low for them all. It lets go when its stdin closes, or after 60 s.
struct Holder {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Holder {
    fn start(port: u16, count: usize) -> Self {
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "hold_idle_connections",
                "--ignored",
                "--nocapture",
            ])
            .env("ESIA_GATE_HOLD", format!("{port} {count}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start a holder");
        let stdout = child.stdout.take().expect("holder stdout");
        Self {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        }
    }

    async fn report(&mut self) -> Held {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.lines.next_line())
                .await
                .expect("the holder reports in 40 s")
                .expect("holder output")
                .expect("the holder reports before it ends");
            if let Some(rest) = line.strip_prefix("HOLD ") {
                let n: Vec<usize> = rest
                    .split_whitespace()
                    .filter_map(|w| w.split_once('=')?.1.parse().ok())
                    .collect();
                return Held {
                    opened: n[0],
                    still_open: n[1],
                };
            }
        }
    }

    async fn release(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

/// Not a test of its own: the holder process [`Holder`] starts.
#[test]
#[ignore = "run by the 20,000-connection test as a child process"]
fn hold_idle_connections() {
    let Ok(spec) = std::env::var("ESIA_GATE_HOLD") else {
        return;
    };
    let mut words = spec.split_whitespace().map(|w| w.parse::<usize>());
    let (Some(Ok(port)), Some(Ok(count))) = (words.next(), words.next()) else {
        panic!("ESIA_GATE_HOLD: `{spec}`");
    };
    let port = u16::try_from(port).expect("a port");
    assert!(raise_nofile() as usize > count, "descriptor limit too low");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let held: Vec<std::net::TcpStream> = rt.block_on(async {
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let mut held = Vec::with_capacity(count);
        let mut left = count;
        while left > 0 {
            let batch = left.min(250);
            left -= batch;
            let connects = (0..batch).map(|_| async move {
                let s = TcpSocket::new_v4().ok()?;
                tokio::time::timeout(Duration::from_secs(10), s.connect(target))
                    .await
                    .ok()?
                    .ok()
            });
            for s in futures_util::future::join_all(connects)
                .await
                .into_iter()
                .flatten()
            {
                held.push(s.into_std().expect("a std socket"));
            }
        }
        held
    });
    // Let the gateway accept (or close) what it will: a connect completes
    // in the kernel before the gateway accepts, and a burst may wait in the
    // listen queue a while. Count until the count holds still.
    let mut buf = [0u8; 16];
    let count_open = |buf: &mut [u8]| {
        held.iter()
            .filter(|s| {
                let mut s: &std::net::TcpStream = s;
                matches!(s.read(buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
            .count()
    };
    let settle = Instant::now() + Duration::from_secs(15);
    let mut still_open = count_open(&mut buf);
    loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now_open = count_open(&mut buf);
        if now_open == still_open || Instant::now() > settle {
            still_open = now_open;
            break;
        }
        still_open = now_open;
    }
    println!("HOLD opened={} still_open={still_open}", held.len());
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(Duration::from_secs(60));
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_idle_connections_from_one_address_do_not_shut_out_anyone() {
    // The holders may each hold only what a process's hard descriptor
    // limit allows; this process keeps little.
    let hard = raise_nofile();
    let per_holder = usize::try_from(hard.saturating_sub(512)).unwrap_or(0);
    if per_holder < 2_500 {
        eprintln!(
            "SKIPPED: the hard RLIMIT_NOFILE ({hard}) is too low to hold {IDLE_CONNECTIONS} \
             connections in a few processes"
        );
        return;
    }
    let stack = Stack::start().await;
    let pid = stack.gateway.id();
    let b = browser_from(NEIGHBOUR);
    let page = b.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(pid);

    let started = Instant::now();
    let holders_n = IDLE_CONNECTIONS.div_ceil(per_holder);
    let mut holders: Vec<Holder> = (0..holders_n)
        .map(|i| {
            let share =
                IDLE_CONNECTIONS / holders_n + usize::from(i < IDLE_CONNECTIONS % holders_n);
            Holder::start(stack.ports.gateway, share)
        })
        .collect();
    let mut opened = 0;
    let mut still_open = 0;
    for h in &mut holders {
        let r = h.report().await;
        opened += r.opened;
        still_open += r.still_open;
    }
    let opening = started.elapsed();
    let peak_rss = rss_kib(pid);

    // Meanwhile: someone else reads the diary, the admin listener answers.
    for _ in 0..3 {
        let page = b.get(&stack.url("/grades")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            element_text(&page.body, "remote-user").as_deref(),
            Some("smirnov.d")
        );
    }
    healthz(&stack).await;

    assert_eq!(opened, IDLE_CONNECTIONS, "every connect succeeded");
    // The gateway's own count is exact; the holders' view also counts
    // connections still waiting in the listen queue.
    let open = counter(&stack.metrics().await, "esia_gate_connections_open");
    assert!(
        open <= 256.0 + 16.0,
        "the gateway holds {open} connections; the cap per address is 256"
    );
    assert!(
        still_open <= 2 * 256,
        "{still_open} connections from one address stayed open; the cap is 256"
    );
    // Every connection over the cap is refused (a few may take the place
    // of held ones the header deadline has closed meanwhile).
    let wanted = (IDLE_CONNECTIONS - 2 * 256) as f64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refused = 0.0;
    while Instant::now() < deadline {
        refused = counter(
            &stack.metrics().await,
            "esia_gate_connections_refused_total{reason=\"per_client_cap\"}",
        );
        if refused >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(refused >= wanted, "refused {refused}");
    let logged = stack
        .log_text()
        .matches("a connection cap is reached")
        .count();
    let bound = started.elapsed().as_secs() / 10 + 2;
    assert!(
        logged as u64 <= bound,
        "{logged} refusal lines in {:?}: the log is flooded",
        started.elapsed()
    );

    for h in holders {
        h.release().await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut after_rss = rss_kib(pid);
    while after_rss > idle_rss + 64 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after_rss = rss_kib(pid);
    }
    eprintln!(
        "gateway VmRSS: idle {idle_rss} KiB, with {IDLE_CONNECTIONS} connections {peak_rss} KiB, \
         after {after_rss} KiB; opening took {opening:?} ({holders_n} holder processes); \
         {still_open} left open, {refused} refused"
    );
    assert!(
        after_rss <= idle_rss + 64 * 1024,
        "VmRSS {after_rss} KiB after the connections closed, {idle_rss} KiB before"
    );
    healthz(&stack).await;
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "took {:?}",
        started.elapsed()
    );
}
