//! The embedded store on a real file: links after reopening, pruning of
//! expired password sessions, a second opener and a newer file refused,
//! and acknowledged links surviving `kill -9` (a child test process). The
//! shared store suite runs in `store::suite`.

use std::io::BufRead as _;
use std::path::Path;
use std::time::Duration;

use redb::{Database, ReadableDatabase};

use super::tables::{
    COOKIE_EXPIRY, COOKIES, FAILURES, HISTORY_V1, META, PRUNE_BATCH, VERSION_KEY, in_txn, now_ms,
};
use super::writes::put_cookie_in;
use super::{EmbeddedStore, SCHEMA_VERSION};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LinkKind, LinkSource, LoginMethod, LoginRecord, MatchFailure, Store,
};

fn link(i: usize) -> AccountLink {
    AccountLink {
        oid: EsiaOid(format!("{}", 1_000_000 + i)),
        login: LegacyLogin(format!("login{i}")),
        kind: LinkKind::Own,
        source: LinkSource::Password,
        created_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn links_are_there_after_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("nested").join("store.redb");
    {
        let s = EmbeddedStore::open(&path).expect("open");
        for i in 0..3 {
            s.put_link(&link(i)).await.expect("link");
        }
        s.record_login(&LoginRecord {
            login: LegacyLogin("login0".into()),
            method: LoginMethod::Esia,
            at: 5,
        })
        .await
        .expect("login");
        s.put_session(
            "sid",
            &crate::store::suite::record(),
            Duration::from_secs(60),
        )
        .await
        .expect("session");
    }
    let s = EmbeddedStore::open(&path).expect("reopen");
    for i in 0..3 {
        assert_eq!(
            s.links_of(&link(i).oid).await.expect("links"),
            vec![link(i)]
        );
        assert_eq!(
            s.owner_of(&link(i).login).await.expect("owner"),
            Some(link(i).oid)
        );
    }
    assert!(
        s.has_logged_in(&LegacyLogin("login0".into()))
            .await
            .expect("has")
    );
    // Sessions are ephemeral: a restart ends them.
    assert_eq!(s.get_session("sid").await.expect("get"), None);
}

fn cookie_rows(s: &EmbeddedStore) -> (u64, u64) {
    use redb::ReadableTableMetadata as _;
    let txn = s.db.begin_read().expect("read");
    let cookies = txn
        .open_table(COOKIES)
        .expect("cookies")
        .len()
        .expect("len");
    let expiry = txn
        .open_table(COOKIE_EXPIRY)
        .expect("expiry")
        .len()
        .expect("len");
    (cookies, expiry)
}

#[tokio::test]
async fn expired_password_sessions_are_pruned_in_bounded_batches() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("store.redb");
    let s = EmbeddedStore::open(&path).expect("open");
    // 600 sessions that expired a minute ago, written in one go.
    let past = now_ms() - 60_000;
    in_txn(&s.db, |txn| {
        for i in 0..600 {
            put_cookie_in(txn, &format!("old{i}"), "ivanova.m", past, past - 1)?;
        }
        Ok(())
    })
    .expect("old rows");
    assert_eq!(cookie_rows(&s), (600, 600));
    assert_eq!(s.cookie_login("old1").await.expect("get"), None);
    // Each new password session takes one batch of the expired along.
    s.put_cookie_login(
        "new",
        &LegacyLogin("petrov.a".into()),
        Duration::from_secs(60),
    )
    .await
    .expect("put");
    let left = 600 - PRUNE_BATCH as u64;
    assert_eq!(cookie_rows(&s), (left + 1, left + 1));
    // Opening the file clears the rest.
    drop(s);
    let s = EmbeddedStore::open(&path).expect("reopen");
    assert_eq!(cookie_rows(&s), (1, 1));
    assert_eq!(
        s.cookie_login("new").await.expect("get"),
        Some(LegacyLogin("petrov.a".into()))
    );
}

#[test]
fn a_second_opener_and_a_newer_file_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("store.redb");
    let first = EmbeddedStore::open(&path).expect("open");
    let e = EmbeddedStore::open(&path).err().expect("already open");
    assert!(e.to_string().contains("already open"), "{e}");
    drop(first);
    {
        let db = Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        txn.open_table(META)
            .expect("meta")
            .insert(VERSION_KEY, SCHEMA_VERSION + 1)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let e = EmbeddedStore::open(&path).err().expect("newer");
    let m = e.to_string();
    assert!(
        m.contains("newer esia-gate") && m.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{m}"
    );
}

/// A file written by schema 1 (history keyed by sequence, failures without
/// their by-oid index) opens as schema 2 with every record, and retention
/// and forgetting work on what it held.
#[tokio::test]
async fn a_schema_1_file_is_upgraded_without_losing_a_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("store.redb");
    let rec = |i: u64| LoginRecord {
        login: LegacyLogin(format!("login{}", i % 7)),
        method: LoginMethod::Esia,
        at: 1000 + i64::try_from(i % 50).unwrap_or(0),
    };
    let failure = |i: i64| MatchFailure {
        at: 500 + i,
        reason: "fio_differs".into(),
        oid: EsiaOid(format!("{}", 9_000_000 + i % 3)),
        logins: vec![],
        display_name: None,
    };
    {
        let db = Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        txn.open_table(META)
            .expect("meta")
            .insert(VERSION_KEY, 1)
            .expect("version");
        {
            let mut h = txn.open_table(HISTORY_V1).expect("history");
            for i in 0..25_000u64 {
                let v = serde_json::to_string(&rec(i)).expect("json");
                h.insert(i, v.as_str()).expect("row");
            }
            let mut f = txn.open_table(FAILURES).expect("failures");
            for i in 0..10i64 {
                let v = serde_json::to_string(&failure(i)).expect("json");
                f.insert((500 + i, 0), v.as_str()).expect("row");
            }
        }
        txn.commit().expect("commit");
    }
    let s = EmbeddedStore::open(&path).expect("upgrade");
    {
        let txn = s.db.begin_read().expect("read");
        let v = txn.open_table(META).expect("meta");
        assert_eq!(v.get(VERSION_KEY).expect("get").map(|g| g.value()), Some(2));
    }
    let all = s.export_durable().await.expect("export");
    let logins = all
        .iter()
        .filter(|r| matches!(r, DurableRecord::Login(_)))
        .count();
    assert_eq!(logins, 25_000, "every history row moved");
    assert_eq!(s.match_failures_since(0).await.expect("failures").len(), 10);
    // The indexes came along: forgetting a person finds its failures.
    assert_eq!(
        s.forget_person(&EsiaOid("9000000".into()))
            .await
            .expect("forget"),
        4
    );
    drop(s);
    let s = EmbeddedStore::open(&path).expect("reopen, already upgraded");
    let mut pruned = 0;
    loop {
        let n = s.prune_before(1010, 1000).await.expect("prune");
        if n == 0 {
            break;
        }
        pruned += n;
    }
    assert_eq!(
        pruned,
        5_000 + 6,
        "history of seconds 1000..1009, failures left"
    );
}

const CHILD_ENV: &str = "ESIA_GATE_EMBEDDED_CRASH_CHILD";

/// The child half of the crash test: link accounts one by one, saying
/// each one that was acknowledged, until killed.
#[tokio::test]
async fn crash_child_writes_links_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let s = EmbeddedStore::open(Path::new(&path)).expect("open");
    for i in 0..100_000 {
        s.put_link(&link(i)).await.expect("link");
        println!("acked {i}");
    }
}

#[test]
fn acknowledged_links_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("store.redb");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "store::embedded::tests::crash_child_writes_links_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child");
    let out = child.stdout.take().expect("stdout");
    let mut last = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for line in std::io::BufReader::new(out).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("acked ") {
            last = n.trim().parse::<usize>().ok();
        }
        if last.is_some_and(|n| n >= 50) || std::time::Instant::now() > deadline {
            break;
        }
    }
    // SIGKILL: no destructor, no flush, mid-write.
    child.kill().expect("kill -9");
    let _ = child.wait();
    let last = last.expect("the child acknowledged links");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let s = EmbeddedStore::open(&path).expect("reopen after the crash");
    for i in 0..=last {
        let links = rt.block_on(s.links_of(&link(i).oid)).expect("links");
        assert_eq!(links, vec![link(i)], "acknowledged link {i} of {last} lost");
    }
}
