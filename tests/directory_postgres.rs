//! The directory from a read-only query on a real PostgreSQL server
//! (Debian's `postgresql` package, which `scripts/test` installs), started
//! here in a temporary folder on a free loopback port and stopped at the
//! end: the query's accounts load, a refresh that fails keeps the last good
//! directory and is counted, the next good refresh picks up a change, and
//! the query cannot write.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use esia_gate::config::directory::Postgres;
use esia_gate::identity::{Directory, DirectorySource, Refresh};

/// A PostgreSQL server of our own, stopped on drop.
struct Server {
    child: Child,
    port: u16,
    base: PathBuf,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: apt-get install postgresql (scripts/test does it)")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .expect("no /usr/lib/postgresql/*/bin/postgres")
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a numeric id")
}

/// The user the server runs as: PostgreSQL refuses to run as root, so root
/// hands the server to the `postgres` user the package creates.
fn server_user() -> Option<(u32, u32)> {
    (id(&["-u"]) == 0).then(|| (id(&["-u", "postgres"]), id(&["-g", "postgres"])))
}

fn as_server_user(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn hand_over(path: &Path) {
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(base: &Path) -> PathBuf {
    let p = |f: &str| base.join(f).display().to_string();
    run(
        Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=esia-gate test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]),
        "openssl CA",
    );
    run(
        Command::new("openssl").args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
        ]),
        "openssl CSR",
    );
    std::fs::write(
        base.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("ext");
    run(
        Command::new("openssl").args([
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("server.crt"),
        ]),
        "openssl sign",
    );
    for f in ["server.key", "server.crt"] {
        hand_over(&base.join(f));
    }
    std::fs::set_permissions(
        base.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod key");
    base.join("ca.pem")
}

impl Server {
    fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let base = dir.path().join("pg");
        std::fs::create_dir(&base).expect("mkdir");
        hand_over(&base);
        let ca = certificates(&base);
        let data = base.join("data");
        run(
            as_server_user(
                Command::new(bin.join("initdb"))
                    .arg("-D")
                    .arg(&data)
                    .args([
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ])
                    .arg("--no-sync")
                    .current_dir(&base),
            ),
            "initdb",
        );
        let port = esia_gate_dev::ports::free_port().expect("port");
        let log = std::fs::File::create(base.join("server.log")).expect("log");
        let child = as_server_user(
            Command::new(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&base)
                .args(["-p", &port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    base.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    base.join("server.key").display()
                ))
                .current_dir(&base)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        )
        .spawn()
        .expect("postgres starts");
        Self {
            child,
            port,
            base,
            ca,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Waits until the server takes a query (bounded).
    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((client, conn)) =
                tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await
            {
                let task = tokio::spawn(conn);
                let ok = client.simple_query("SELECT 1").await.is_ok();
                drop(client);
                let _ = task.await;
                if ok {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start within 15 s: {}",
                std::fs::read_to_string(self.base.join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sql(&self, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        client.batch_execute(sql).await.expect(sql);
        drop(client);
        let _ = task.await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown. Then wait a little, then kill.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const QUERY: &str = "SELECT login, last_name, first_name, middle_name, snils, role, \
    birth_date, school, class FROM people ORDER BY login;";

fn settings(url: String, query: &str) -> Postgres {
    Postgres {
        url: Some(url),
        url_file: None,
        query: query.into(),
        refresh_seconds: 1,
        timeout_seconds: 5,
        ca_file: None,
    }
}

fn errors() -> u64 {
    esia_gate::telemetry::metrics::get()
        .directory_reloads
        .with_label_values(&["postgres", "error"])
        .get()
}

fn logins(d: &Directory) -> Vec<&str> {
    d.accounts().iter().map(|a| a.login.0.as_str()).collect()
}

#[tokio::test]
async fn the_directory_comes_from_a_read_only_query_and_survives_its_failures() {
    let started = Instant::now();
    let pg = Server::start();
    pg.ready().await;
    pg.sql(
        "CREATE TABLE people (login text, last_name text, first_name text, \
         middle_name text, snils varchar(14), role text, birth_date date, school text, \
         class text);
         INSERT INTO people VALUES
           ('ivanova', 'Иванова', 'Мария', 'Петровна', '112-233-445 95', 'parent',
            '1985-03-02', 'СШ №5', NULL),
           ('kid', 'Иванов', 'Пётр', NULL, NULL, 'student', '2012-09-01', 'СШ №5', '5А'),
           ('orlova', 'Cидорова', 'Анна', '', '112-233-445 96', 'staff', NULL, NULL, NULL),
           ('teacher', 'Петров', 'Сергей', 'Иванович', NULL, 'teacher', NULL, 'СШ №5', NULL),
           (NULL, 'Без', 'Логина', NULL, NULL, 'parent', NULL, NULL, NULL);",
    )
    .await;

    // The accounts load; bad rows are skipped with their row number.
    let mut src = DirectorySource::postgres(&settings(pg.url(), QUERY)).expect("source");
    let dir = src.load_initial().await.expect("initial load");
    assert_eq!(logins(&dir), vec!["ivanova", "kid", "orlova"]);
    let skipped: Vec<usize> = dir.skipped_rows().iter().map(|p| p.row).collect();
    // ORDER BY login puts NULL last: teacher is row 4, the NULL login row 5.
    assert_eq!(skipped, vec![4, 5], "{:?}", dir.skipped_rows());
    let kid = dir.by_login("kid").expect("kid");
    assert_eq!(
        kid.birth_date.map(|d| d.to_string()).as_deref(),
        Some("2012-09-01")
    );
    assert_eq!((kid.middle_name.as_str(), kid.class.as_str()), ("", "5А"));
    assert!(
        dir.by_login("ivanova")
            .and_then(|a| a.snils.as_ref())
            .is_some()
    );
    let bad: Vec<&str> = dir
        .invalid_snils_accounts()
        .iter()
        .map(|a| a.login.0.as_str())
        .collect();
    assert_eq!(bad, vec!["kid", "orlova"]);
    let target = ArcSwap::from_pointee(dir);

    // The table is gone: the refresh fails, is counted, the directory stays.
    pg.sql("ALTER TABLE people RENAME TO people_away").await;
    let before = errors();
    let r = src.refresh(&target).await;
    assert!(
        matches!(&r, Refresh::Failed(why) if why.contains("people")),
        "{r:?}"
    );
    assert_eq!(errors(), before + 1);
    assert_eq!(logins(&target.load()), vec!["ivanova", "kid", "orlova"]);

    // Back, with a new account: the next refresh picks it up.
    pg.sql(
        "ALTER TABLE people_away RENAME TO people;
         INSERT INTO people VALUES ('new', 'Новикова', 'Ольга', NULL, NULL, 'parent',
                                    NULL, 'СШ №5', NULL);",
    )
    .await;
    assert_eq!(
        src.refresh(&target).await,
        Refresh::Loaded {
            accounts: 4,
            skipped: 2
        }
    );
    assert!(target.load().by_login("new").is_some());

    // A query missing a column fails naming it; one that writes cannot.
    let mut narrow = DirectorySource::postgres(&settings(
        pg.url(),
        "SELECT login, last_name, first_name FROM people",
    ))
    .expect("source");
    let e = narrow.load_initial().await.expect_err("columns");
    assert!(e.to_string().contains("snils"), "{e}");
    for writing in [
        "WITH gone AS (DELETE FROM people RETURNING *) SELECT * FROM gone",
        "SELECT * FROM people; DELETE FROM people",
        "COMMIT; DELETE FROM people",
    ] {
        let mut w = DirectorySource::postgres(&settings(pg.url(), writing)).expect("source");
        assert!(w.load_initial().await.is_err(), "{writing} ran");
    }
    let mut again = DirectorySource::postgres(&settings(pg.url(), QUERY)).expect("source");
    assert_eq!(
        again.load_initial().await.expect("intact").accounts().len(),
        4
    );

    // The URL from a file; TLS checked against the configured CA, and
    // refused against the public roots.
    let url_file = pg.base.join("url");
    std::fs::write(&url_file, format!("{} sslmode=require\n", pg.url())).expect("url");
    let mut tls = settings(String::new(), QUERY);
    tls.url = None;
    tls.url_file = Some(url_file);
    tls.ca_file = Some(pg.ca.clone());
    let mut src_tls = DirectorySource::postgres(&tls).expect("source");
    assert_eq!(
        src_tls
            .load_initial()
            .await
            .expect("over TLS")
            .accounts()
            .len(),
        4
    );
    tls.ca_file = None;
    let mut untrusted = DirectorySource::postgres(&tls).expect("source");
    let e = untrusted.load_initial().await.expect_err("unknown CA");
    assert!(e.to_string().to_lowercase().contains("tls"), "{e}");

    // The refresher task runs the query every refresh_seconds.
    let target = Arc::new(target);
    let task = src.spawn_refresher(target.clone());
    pg.sql(
        "INSERT INTO people VALUES ('later', 'Позднякова', 'Анна', NULL, NULL, 'parent',
                                    NULL, NULL, NULL);",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.load().by_login("later").is_none() {
        assert!(Instant::now() < deadline, "not refreshed within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The server stops: refreshes fail, the directory stays.
    let before = errors();
    drop(pg);
    let deadline = Instant::now() + Duration::from_secs(5);
    while errors() == before {
        assert!(Instant::now() < deadline, "no failed refresh counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(target.load().accounts().len(), 5);
    task.abort();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
