//! Durable records in PostgreSQL (`[store] durable = "postgres"`), with a
//! real server started here: a link acknowledged just before the gateway
//! is killed with SIGKILL is there after the restart, and after a SIGKILL
//! of PostgreSQL itself; a PostgreSQL outage stops new logins only (people
//! already in keep the diary, the instance stays ready); `links export`
//! works while the gateway runs (its embedded file is not needed) and
//! `links import` fills another schema; one person is exported and
//! forgotten beside the running gateway; `links migrate` and `esia-gate
//! check` say where the schema stands.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use esia_gate_dev::postgres::PostgresServer;
use support::{Browser, Options, Stack, element_text, hidden_value, persons, policy_options};

fn store_section(pg: &PostgresServer, schema: &str) -> String {
    format!(
        "\n[store]\ndurable = \"postgres\"\n[store.postgres]\nurl = \"{}\"\nschema = \"{schema}\"\ntimeout_ms = 2000\n",
        pg.url()
    )
}

async fn link_kuznetsova(stack: &Stack) {
    let b = Browser::new();
    let link = b.login(stack, "/grades", persons::KUZNETSOVA).await;
    assert!(link.url.ends_with("/esia-gate/link"), "{}", link.url);
    let csrf = hidden_value(&link.body, "csrf").expect("csrf");
    let ack = b
        .post_form(
            &stack.url("/esia-gate/link"),
            &[
                ("csrf", &csrf),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(ack.status, 302, "{}", ack.body);
}

async fn goes_straight_in(stack: &Stack) {
    let next = Browser::new()
        .login(stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(
        element_text(&next.body, "remote-user").as_deref(),
        Some("kuznetsova.o")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_acknowledged_before_a_sigkill_of_the_gateway_or_of_postgres_is_kept() {
    // fsync stays on: the server as production runs it.
    let mut pg = PostgresServer::start().expect("postgres");
    let mut stack = Stack::start_with(Options {
        config_extra: store_section(&pg, "esia_gate"),
        ..Options::default()
    })
    .await;
    link_kuznetsova(&stack).await;
    // The very moment the browser has the answer: kill -9 the gateway.
    stack.kill9_and_restart().await;
    goes_straight_in(&stack).await;
    let row = pg
        .psql("SELECT oid || ' ' || login || ' ' || kind FROM esia_gate.links")
        .expect("links");
    assert_eq!(row.trim(), "1000004 kuznetsova.o own", "{row}");

    // Now PostgreSQL crashes and comes back (crash recovery from its WAL).
    pg.kill();
    pg.restart().expect("postgres restarts");
    goes_straight_in(&stack).await;
    let history = pg
        .psql("SELECT count(*) FROM esia_gate.logins WHERE login = 'kuznetsova.o'")
        .expect("history");
    assert!(history.trim().parse::<u32>().unwrap_or(0) >= 2, "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_stops_new_logins_only() {
    let mut pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    // Yaroslavl before its cut-over: password logins are allowed.
    let mut opts = policy_options("yaroslavl-2019", "2018-12-15");
    opts.config_extra.push_str(&store_section(&pg, "esia_gate"));
    let stack = Stack::start_with(opts).await;
    let esia_user = Browser::new();
    let page = esia_user
        .login(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::SMIRNOV,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let password_user = Browser::new();
    let logged_in = password_user
        .post_form(
            &stack.url("/login"),
            &[("login", "petrov.teacher"), ("password", "demo")],
        )
        .await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);

    pg.kill();

    let ready = reqwest::get(stack.admin_url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "a PostgreSQL outage must not drain");
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(
        (&ready["durable"], &ready["store"], &ready["ready"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(true),
            &serde_json::json!(true)
        ),
        "{ready}"
    );
    for _ in 0..3 {
        let grades = esia_user.get(&stack.url("/grades")).await;
        assert_eq!(grades.status, 200, "{}", grades.body);
        assert!(grades.body.contains("smirnov.d"));
        let grades = password_user.get(&stack.url("/grades")).await;
        assert_eq!(grades.status, 200, "{}", grades.body);
    }
    // A new ESIA login cannot read the links: the store's page, quickly.
    let started = Instant::now();
    let newcomer = Browser::new();
    let page = newcomer
        .login(
            &stack,
            "/esia-gate/login?return_to=/grades",
            persons::IVANOVA,
        )
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("Сервис входа временно не работает"),
        "{}",
        page.body
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let scrape = stack.metrics().await;
    assert!(
        scrape.contains("esia_gate_dependency_up{dependency=\"durable_store\"} 0"),
        "{scrape}"
    );

    // PostgreSQL is back: new logins work again, without a restart.
    pg.restart().expect("postgres restarts");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = Browser::new()
            .login(
                &stack,
                "/esia-gate/login?return_to=/grades",
                persons::IVANOVA,
            )
            .await;
        if page.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{}: {}", page.status, page.body);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_export_import_and_check_work_with_postgres() {
    let pg = PostgresServer::start_with(&["fsync=off"]).expect("postgres");
    let stack = Stack::start_with(Options {
        config_extra: store_section(&pg, "esia_gate"),
        ..Options::default()
    })
    .await;
    link_kuznetsova(&stack).await;
    Browser::new()
        .login(&stack, "/grades", persons::SIDOROV)
        .await;

    // The gateway keeps running: the export needs only PostgreSQL.
    let bin = env!("CARGO_BIN_EXE_esia-gate");
    let dump = stack.dir.path().join("links.jsonl");
    let out = Command::new(bin)
        .args(["links", "export", "--config"])
        .arg(stack.config_path())
        .arg("--out")
        .arg(&dump)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&dump).expect("dump");
    assert!(text.contains("\"type\":\"link\"") && text.contains("kuznetsova.o"));
    assert!(text.contains("\"type\":\"login\""), "{text}");
    assert!(text.contains("\"type\":\"match_failure\""), "{text}");

    // Into another schema (another configuration), and out again: the same.
    let cfg = std::fs::read_to_string(stack.config_path()).expect("config");
    let other = stack.dir.path().join("other.toml");
    std::fs::write(
        &other,
        cfg.replace("schema = \"esia_gate\"", "schema = \"copy\""),
    )
    .expect("other config");
    let imp = Command::new(bin)
        .args(["links", "import", "--config"])
        .arg(&other)
        .arg("--in")
        .arg(&dump)
        .output()
        .expect("import");
    assert!(
        imp.status.success(),
        "{}",
        String::from_utf8_lossy(&imp.stderr)
    );
    let again = stack.dir.path().join("again.jsonl");
    let out = Command::new(bin)
        .args(["links", "export", "--config"])
        .arg(&other)
        .arg("--out")
        .arg(&again)
        .output()
        .expect("export");
    assert!(out.status.success());
    let sorted = |t: &str| {
        let mut v: Vec<String> = t.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(
        sorted(&text),
        sorted(&std::fs::read_to_string(&again).expect("again"))
    );

    // One person: exported alone, then forgotten while the gateway runs.
    let person = stack.dir.path().join("person.jsonl");
    let out = Command::new(bin)
        .args(["links", "export", "--config"])
        .arg(stack.config_path())
        .args(["--oid", persons::KUZNETSOVA, "--out"])
        .arg(&person)
        .output()
        .expect("export --oid");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = std::fs::read_to_string(&person).expect("person");
    assert!(theirs.contains("kuznetsova.o"), "{theirs}");
    assert!(!theirs.contains("sidorov"), "{theirs}");
    let out = Command::new(bin)
        .args(["links", "forget", "--config"])
        .arg(stack.config_path())
        .args(["--oid", persons::KUZNETSOVA])
        .output()
        .expect("forget");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pg.psql(
            "SELECT (SELECT count(*) FROM esia_gate.links WHERE login = 'kuznetsova.o') + \
             (SELECT count(*) FROM esia_gate.logins WHERE login = 'kuznetsova.o') + \
             (SELECT count(*) FROM esia_gate.last_logins WHERE login = 'kuznetsova.o')"
        )
        .expect("left")
        .trim(),
        "0",
        "nothing of the person is left"
    );
    // Asked to link again, as someone new.
    let again = Browser::new()
        .login(&stack, "/grades", persons::KUZNETSOVA)
        .await;
    assert!(again.url.ends_with("/esia-gate/link"), "{}", again.url);
    // links migrate: PostgreSQL's schema is brought up to date.
    let out = Command::new(bin)
        .args(["links", "migrate", "--config"])
        .arg(stack.config_path())
        .output()
        .expect("migrate");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("PostgreSQL") && said.contains("is at version"),
        "{said}"
    );

    // check: the schema's state, and nothing created for a new one.
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(stack.config_path())
        .output()
        .expect("check");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("schema esia_gate is at version"), "{said}");
    std::fs::write(
        &other,
        cfg.replace("schema = \"esia_gate\"", "schema = \"not_yet\""),
    )
    .expect("config");
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&other)
        .output()
        .expect("check");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("has no tables yet"), "{said}");
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'not_yet'")
            .expect("schemas")
            .trim(),
        "0"
    );
    // A bad section is refused by check, naming the key.
    std::fs::write(
        &other,
        cfg.replace("schema = \"esia_gate\"", "schema = \"Bad Name\""),
    )
    .expect("config");
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&other)
        .output()
        .expect("check");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("store.postgres.schema"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
