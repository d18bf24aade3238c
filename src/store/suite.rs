//! Behaviour every backend must show, one function per behaviour, run
//! against every backend by [`backend_suite!`] at the bottom: the in-memory
//! store, the embedded store (a temp file), the Redis store (a real
//! `redis-server` on a free loopback port) and the cached wrapper over two
//! of them.

use std::sync::Arc;
use std::time::Duration;

use super::*;

pub fn record() -> SessionRecord {
    SessionRecord {
        oid: EsiaOid("1000001".into()),
        trusted: true,
        accounts: vec![LegacyLogin("ivanova".into())],
        active: Some(LegacyLogin("ivanova".into())),
        role: Some(Role::Parent),
        child: None,
        display_name: "Иванова Мария".into(),
        created_at: 1,
        ..SessionRecord::default()
    }
}

fn oid(s: &str) -> EsiaOid {
    EsiaOid(s.into())
}

fn login(s: &str) -> LegacyLogin {
    LegacyLogin(s.into())
}

fn link(o: &str, l: &str, kind: LinkKind) -> AccountLink {
    AccountLink {
        oid: oid(o),
        login: login(l),
        kind,
        source: LinkSource::Snils,
        created_at: 1_700_000_000,
    }
}

pub async fn sessions_round_trip(store: &dyn Store) {
    let id = random_id();
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    store
        .put_session(&id, &record(), Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(store.get_session(&id).await.expect("get"), Some(record()));
    let mut changed = record();
    changed.active = None;
    store
        .put_session(&id, &changed, Duration::from_secs(60))
        .await
        .expect("put again");
    assert_eq!(store.get_session(&id).await.expect("get"), Some(changed));
    assert!(store.session_count().await.expect("count") >= 1);
    store.delete_session(&id).await.expect("delete");
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    // Deleting what is not there is fine.
    store.delete_session(&id).await.expect("delete again");
}

pub async fn records_expire(store: &dyn Store) {
    let id = random_id();
    let short = Duration::from_millis(30);
    store.put_session(&id, &record(), short).await.expect("put");
    let p = PendingLogin {
        return_to: "/".into(),
        binding: random_id(),
        created_at: 1,
    };
    store.put_pending("expiring", &p, short).await.expect("put");
    store
        .put_cookie_login("expiring-cookie", &login("a"), short)
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.get_session(&id).await.expect("get"), None);
    assert_eq!(store.take_pending("expiring").await.expect("take"), None);
    assert_eq!(
        store.cookie_login("expiring-cookie").await.expect("get"),
        None
    );
}

pub async fn pending_logins_are_single_use(store: &dyn Store) {
    let p = PendingLogin {
        return_to: "/grades".into(),
        binding: random_id(),
        created_at: 1,
    };
    store
        .put_pending("st", &p, Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        store.take_pending("st").await.expect("take"),
        Some(p.clone())
    );
    assert_eq!(store.take_pending("st").await.expect("take"), None);
    assert_eq!(store.take_pending("never-put").await.expect("take"), None);

    // Many takers at once: exactly one gets it.
    store
        .put_pending("raced", &p, Duration::from_secs(60))
        .await
        .expect("put");
    let takes = futures_join_all(store, "raced", 8).await;
    assert_eq!(takes, 1, "exactly one concurrent take wins");
}

async fn futures_join_all(store: &dyn Store, state: &str, n: usize) -> usize {
    let futs = (0..n).map(|_| store.take_pending(state)).collect();
    join_boxed(futs)
        .await
        .into_iter()
        .filter(|r| r.as_ref().expect("take").is_some())
        .count()
}

/// Poll a set of futures together (no `futures` dependency for one helper).
async fn join_boxed<T>(
    futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>>,
) -> Vec<T> {
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn granted(r: Result<Reserved, StoreError>) -> u64 {
    match r.expect("reserve") {
        Reserved::Granted { count } => count,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn refused(r: Result<Reserved, StoreError>) -> u64 {
    match r.expect("reserve") {
        Reserved::Refused { seconds_left } => seconds_left,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn rate_reservations_count_in_fixed_windows(store: &dyn Store) {
    let key = format!("link:{}", random_id());
    let window = Duration::from_millis(400);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 1);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 2);
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 3);
    // Full: refused, with the (rounded up) seconds left, and not counted.
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    // Given back: room for exactly one more.
    store.rate_release(&key).await.expect("release");
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 3);
    assert_eq!(refused(store.rate_reserve(&key, 3, window).await), 1);
    // Another key counts on its own.
    let other = format!("{key}:other");
    assert_eq!(granted(store.rate_reserve(&other, 3, window).await), 1);
    // The window started at the first grant; later ones did not extend it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(granted(store.rate_reserve(&key, 3, window).await), 1);
    // A long window reports its seconds left.
    let long = format!("{key}:long");
    let ten_minutes = Duration::from_secs(600);
    assert_eq!(granted(store.rate_reserve(&long, 1, ten_minutes).await), 1);
    let left = refused(store.rate_reserve(&long, 1, ten_minutes).await);
    assert!((595..=600).contains(&left), "{left}");
}

pub async fn releasing_never_goes_below_zero(store: &dyn Store) {
    let key = format!("link:{}", random_id());
    let window = Duration::from_secs(60);
    // Nothing reserved: nothing to give back, and no window starts.
    store.rate_release(&key).await.expect("release unknown");
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 1);
    for _ in 0..3 {
        store.rate_release(&key).await.expect("release");
    }
    // Three releases of one grant leave room for the limit, not more.
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 1);
    assert_eq!(granted(store.rate_reserve(&key, 2, window).await), 2);
    refused(store.rate_reserve(&key, 2, window).await);
    // An expired window is not revived by a release.
    let short = format!("{key}:short");
    let tiny = Duration::from_millis(50);
    assert_eq!(granted(store.rate_reserve(&short, 1, tiny).await), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    store.rate_release(&short).await.expect("release expired");
    assert_eq!(granted(store.rate_reserve(&short, 1, tiny).await), 1);
}

/// Sixty wrong passwords sent at once: only the limit reaches the diary.
pub async fn sixty_concurrent_reservations_grant_exactly_the_limit(store: &dyn Store) {
    let key = format!("link-fail:oid:{}", random_id());
    let window = Duration::from_secs(60);
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>> = (0..60)
        .map(|_| store.rate_reserve(&key, 5, window))
        .collect();
    let mut counts: Vec<u64> = Vec::new();
    for r in join_boxed(futs).await {
        match r.expect("reserve") {
            Reserved::Granted { count } => counts.push(count),
            Reserved::Refused { seconds_left } => {
                assert!((1..=60).contains(&seconds_left), "{seconds_left}")
            }
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3, 4, 5], "each grant saw its own count");
}

pub async fn cookie_logins_map_a_hashed_cookie_to_a_login(store: &dyn Store) {
    let h = random_id();
    assert_eq!(store.cookie_login(&h).await.expect("get"), None);
    store
        .put_cookie_login(&h, &login("petrov.a"), Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.a"))
    );
    // The same cookie seen again: the later login and TTL win.
    store
        .put_cookie_login(&h, &login("petrov.b"), Duration::from_millis(40))
        .await
        .expect("put again");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.b"))
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        None,
        "the shorter TTL of the later put holds"
    );
    // And remembered again after it expired.
    store
        .put_cookie_login(&h, &login("petrov.c"), Duration::from_secs(60))
        .await
        .expect("put after expiry");
    assert_eq!(
        store.cookie_login(&h).await.expect("get"),
        Some(login("petrov.c"))
    );
}

/// A gateway restart: a new store object on the same data (the same file,
/// the same Redis and prefix) still knows a live password session and
/// still forgets an expired one. Backends with nothing to reopen (memory)
/// have nothing to show here.
pub async fn cookie_logins_survive_a_restart(h: &Harness) {
    let Some(n) = h.reopenable() else {
        return;
    };
    let (live, short) = (random_id(), random_id());
    {
        let store = h.open(n).await;
        store
            .put_cookie_login(&live, &login("ivanova.m"), Duration::from_secs(600))
            .await
            .expect("put");
        store
            .put_cookie_login(&short, &login("petrov.a"), Duration::from_millis(40))
            .await
            .expect("put");
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    let store = h.open(n).await;
    assert_eq!(
        store.cookie_login(&live).await.expect("get"),
        Some(login("ivanova.m")),
        "a remembered password session survives the restart"
    );
    assert_eq!(store.cookie_login(&short).await.expect("get"), None);
    // Not part of the export: they are not durable records.
    let exported =
        serde_json::to_string(&store.export_durable().await.expect("export")).expect("json");
    assert!(!exported.contains(&live) && !exported.contains("ivanova.m"));
}

pub async fn links_are_idempotent_and_own_links_exclusive(store: &dyn Store) {
    let own = link("2000001", "ivanova.m", LinkKind::Own);
    store.put_link(&own).await.expect("put");
    store
        .put_link(&own)
        .await
        .expect("the same link again is fine");
    assert_eq!(
        store.links_of(&oid("2000001")).await.expect("links"),
        vec![own.clone()]
    );
    assert_eq!(
        store.owner_of(&login("ivanova.m")).await.expect("owner"),
        Some(oid("2000001"))
    );
    // Another person cannot take the same account as their own.
    let thief = link("2000002", "ivanova.m", LinkKind::Own);
    assert!(matches!(
        store.put_link(&thief).await,
        Err(StoreError::AlreadyLinked)
    ));
    assert_eq!(
        store.links_of(&oid("2000002")).await.expect("links"),
        Vec::new()
    );
    // A child account may be attached to both parents.
    let child_a = link("2000001", "ivanov.p", LinkKind::Child);
    let child_b = link("2000002", "ivanov.p", LinkKind::Child);
    store.put_link(&child_a).await.expect("child a");
    store.put_link(&child_b).await.expect("child b");
    assert_eq!(
        store.owner_of(&login("ivanov.p")).await.expect("owner"),
        None,
        "a child link does not make an owner"
    );
    let mut of_a = store.links_of(&oid("2000001")).await.expect("links");
    of_a.sort_by(|a, b| a.login.0.cmp(&b.login.0));
    assert_eq!(of_a, vec![child_a.clone(), own.clone()]);
    // A child's own account can still be owned by the child.
    store
        .put_link(&link("2000003", "ivanov.p", LinkKind::Own))
        .await
        .expect("child's own link");
    assert_eq!(
        store.owner_of(&login("ivanov.p")).await.expect("owner"),
        Some(oid("2000003"))
    );

    // Many people racing for one free account: exactly one wins.
    let contenders: Vec<AccountLink> = (0..8)
        .map(|i| link(&format!("30000{i}"), "contested", LinkKind::Own))
        .collect();
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>> =
        contenders.iter().map(|l| store.put_link(l)).collect();
    let results = join_boxed(futs).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyLinked)))
    );
}

pub async fn removing_a_link_frees_the_account(store: &dyn Store) {
    let own = link("4000001", "sidorov", LinkKind::Own);
    store.put_link(&own).await.expect("put");
    assert!(
        !store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Child)
            .await
            .expect("remove other kind")
    );
    assert!(
        !store
            .remove_link(&oid("4000009"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove other oid")
    );
    assert!(
        store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_link(&oid("4000001"), &login("sidorov"), LinkKind::Own)
            .await
            .expect("remove twice")
    );
    assert_eq!(
        store.owner_of(&login("sidorov")).await.expect("owner"),
        None
    );
    assert!(
        store
            .links_of(&oid("4000001"))
            .await
            .expect("links")
            .is_empty()
    );
    store
        .put_link(&link("4000002", "sidorov", LinkKind::Own))
        .await
        .expect("another person may link it now");
    assert_eq!(
        store.owner_of(&login("sidorov")).await.expect("owner"),
        Some(oid("4000002"))
    );
}

pub async fn login_history_keeps_the_latest_per_method(store: &dyn Store) {
    let a = login(&format!("hist-{}", random_id()));
    let b = login(&format!("hist-{}", random_id()));
    assert!(!store.has_logged_in(&a).await.expect("has"));
    for (l, method, at) in [
        (&a, LoginMethod::Esia, 100),
        (&a, LoginMethod::Esia, 300),
        (&a, LoginMethod::Esia, 200),
        (&a, LoginMethod::Password, 50),
        (&b, LoginMethod::Password, 10),
    ] {
        store
            .record_login(&LoginRecord {
                login: l.clone(),
                method,
                at,
            })
            .await
            .expect("record");
    }
    assert!(store.has_logged_in(&a).await.expect("has"));
    assert!(store.has_logged_in(&b).await.expect("has"));
    let last = store.last_logins().await.expect("last");
    let of = |l: &LegacyLogin| last.iter().find(|x| x.login == *l).cloned();
    assert_eq!(
        of(&a),
        Some(LastLogins {
            login: a.clone(),
            last_esia: Some(300),
            last_password: Some(50),
        })
    );
    assert_eq!(
        of(&b),
        Some(LastLogins {
            login: b.clone(),
            last_esia: None,
            last_password: Some(10),
        })
    );
    let history: Vec<_> = store
        .export_durable()
        .await
        .expect("export")
        .into_iter()
        .filter(|r| matches!(r, DurableRecord::Login(l) if l.login == a))
        .collect();
    assert_eq!(history.len(), 4, "every login is kept in the history");
}

pub async fn match_failures_are_kept_by_time(store: &dyn Store) {
    let f = |at: i64, reason: &str| MatchFailure {
        at,
        reason: reason.into(),
        oid: oid("5000001"),
        logins: vec![login("smirnov.d")],
    };
    for x in [
        f(1000, "fio_differs"),
        f(2000, "snils_not_in_diary"),
        f(2000, "snils_not_in_diary"),
        f(3000, "no_snils"),
    ] {
        store.record_match_failure(&x).await.expect("record");
    }
    let since = store.match_failures_since(2000).await.expect("since");
    assert_eq!(since.len(), 3, "{since:?}");
    assert!(since.iter().all(|x| x.at >= 2000));
    assert_eq!(
        store.match_failures_since(3001).await.expect("since"),
        Vec::new()
    );
    assert_eq!(store.match_failures_since(0).await.expect("all").len(), 4);
}

fn sample_records() -> Vec<DurableRecord> {
    vec![
        DurableRecord::Link(link("6000001", "a.own", LinkKind::Own)),
        DurableRecord::Link(AccountLink {
            source: LinkSource::Password,
            ..link("6000001", "a.child", LinkKind::Child)
        }),
        DurableRecord::Link(link("6000002", "b.own", LinkKind::Own)),
        DurableRecord::Login(LoginRecord {
            login: login("a.own"),
            method: LoginMethod::Esia,
            at: 10,
        }),
        DurableRecord::Login(LoginRecord {
            login: login("a.own"),
            method: LoginMethod::Esia,
            at: 10,
        }),
        DurableRecord::Login(LoginRecord {
            login: login("b.own"),
            method: LoginMethod::Password,
            at: 20,
        }),
        DurableRecord::MatchFailure(MatchFailure {
            at: 30,
            reason: "fio_differs".into(),
            oid: oid("6000003"),
            logins: vec![login("c")],
        }),
    ]
}

/// Records in a comparable order (backends need not keep insertion order
/// across kinds, but must keep every record, duplicates included).
pub fn sorted(mut v: Vec<DurableRecord>) -> Vec<String> {
    let mut out: Vec<String> = v
        .drain(..)
        .map(|r| serde_json::to_string(&r).unwrap_or_default())
        .collect();
    out.sort();
    out
}

/// `a` and `b` are empty stores of the same backend.
pub async fn export_import_round_trip(a: &dyn Store, b: &dyn Store) {
    a.import_durable(&sample_records()).await.expect("import");
    let exported = a.export_durable().await.expect("export");
    assert_eq!(sorted(exported.clone()), sorted(sample_records()));
    b.import_durable(&exported).await.expect("import into b");
    assert_eq!(
        sorted(b.export_durable().await.expect("export b")),
        sorted(sample_records())
    );
    assert_eq!(
        b.owner_of(&login("a.own")).await.expect("owner"),
        Some(oid("6000001"))
    );
    assert!(b.has_logged_in(&login("b.own")).await.expect("has"));
    // An import that conflicts with an existing own link is refused.
    let conflict = [DurableRecord::Link(link("6000009", "a.own", LinkKind::Own))];
    assert!(matches!(
        b.import_durable(&conflict).await,
        Err(StoreError::AlreadyLinked)
    ));
}

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// What each backend's tests need: a way to make fresh, empty stores that
/// share whatever server or directory the backend uses.
pub struct Harness {
    pub kind: &'static str,
    dir: tempfile::TempDir,
    pub redis: Option<esia_gate_dev::redis::RedisServer>,
    cluster: Option<esia_gate_dev::redis::RedisCluster>,
    sentinel: Option<esia_gate_dev::redis::RedisSentinel>,
    n: std::sync::atomic::AtomicUsize,
}

impl Harness {
    pub async fn new(kind: &'static str) -> Harness {
        let cluster = (kind == "cluster").then(|| {
            esia_gate_dev::redis::RedisCluster::start()
                .unwrap_or_else(|e| panic!("cannot start a Redis Cluster for the tests: {e}"))
        });
        let sentinel = (kind == "sentinel").then(|| {
            esia_gate_dev::redis::RedisSentinel::start()
                .unwrap_or_else(|e| panic!("cannot start Redis Sentinel for the tests: {e}"))
        });
        let redis = if kind.contains("redis") {
            Some(
                esia_gate_dev::redis::RedisServer::start()
                    .unwrap_or_else(|e| panic!("cannot start redis-server for the tests: {e}")),
            )
        } else {
            None
        };
        Harness {
            kind,
            dir: tempfile::tempdir().expect("tempdir"),
            redis,
            cluster,
            sentinel,
            n: 0.into(),
        }
    }

    /// A fresh, empty store of this harness's kind.
    pub async fn store(&self) -> Arc<dyn Store> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.open(n).await
    }

    /// A number for [`Self::open`] naming a fresh store that can be opened
    /// again on the same data, or `None` for backends that keep nothing
    /// past the store object (memory).
    pub fn reopenable(&self) -> Option<usize> {
        (!self.kind.contains("memory"))
            .then(|| self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }

    /// Store number `n` of this harness: the same file or key prefix each
    /// time, so opening it again is a restart. (An embedded store must be
    /// dropped before it is opened again: the file takes one opener.)
    pub async fn open(&self, n: usize) -> Arc<dyn Store> {
        let cache = super::cached::CacheSettings {
            ttl: Duration::from_secs(2),
            stale: Duration::from_secs(60),
            capacity: 1000,
        };
        match self.kind {
            "memory" => Arc::new(MemoryStore::default()),
            "cached_memory" => Arc::new(super::CachedStore::new(
                MemoryStore::default(),
                "memory",
                cache,
            )),
            "embedded" => Arc::new(
                EmbeddedStore::open(&self.dir.path().join(format!("store-{n}.redb")))
                    .expect("open embedded"),
            ),
            "redis" | "cached_redis" | "cluster" | "sentinel" => {
                let url = match (&self.redis, &self.cluster, &self.sentinel) {
                    (Some(r), _, _) => r.url(),
                    (_, Some(c), _) => c.url(),
                    (_, _, Some(s)) => s.url(),
                    _ => String::new(),
                };
                let settings = crate::config::store::StoreSettings {
                    backend: crate::config::store::StoreBackend::Redis,
                    url: Some(url),
                    key_prefix: format!("test{n}:v1:"),
                    ..Default::default()
                };
                let store = super::RedisStore::open(&settings, self.dir.path())
                    .await
                    .expect("open redis");
                if self.kind == "redis" {
                    Arc::new(store)
                } else {
                    Arc::new(super::CachedStore::new(store, "redis", cache))
                }
            }
            other => panic!("unknown backend {other}"),
        }
    }
}

/// One test per behaviour for one backend.
macro_rules! backend_suite {
    ($module:ident, $kind:literal) => {
        mod $module {
            use super::*;

            async fn one() -> (Harness, Arc<dyn Store>) {
                let h = Harness::new($kind).await;
                let s = h.store().await;
                (h, s)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sessions_round_trip() {
                let (_h, s) = one().await;
                super::sessions_round_trip(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn records_expire() {
                let (_h, s) = one().await;
                super::records_expire(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pending_logins_are_single_use() {
                let (_h, s) = one().await;
                super::pending_logins_are_single_use(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rate_reservations_count_in_fixed_windows() {
                let (_h, s) = one().await;
                super::rate_reservations_count_in_fixed_windows(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn releasing_never_goes_below_zero() {
                let (_h, s) = one().await;
                super::releasing_never_goes_below_zero(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sixty_concurrent_reservations_grant_exactly_the_limit() {
                let (_h, s) = one().await;
                super::sixty_concurrent_reservations_grant_exactly_the_limit(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cookie_logins_map_a_hashed_cookie_to_a_login() {
                let (_h, s) = one().await;
                super::cookie_logins_map_a_hashed_cookie_to_a_login(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cookie_logins_survive_a_restart() {
                let h = Harness::new($kind).await;
                super::cookie_logins_survive_a_restart(&h).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn links_are_idempotent_and_own_links_exclusive() {
                let (_h, s) = one().await;
                super::links_are_idempotent_and_own_links_exclusive(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn removing_a_link_frees_the_account() {
                let (_h, s) = one().await;
                super::removing_a_link_frees_the_account(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn login_history_keeps_the_latest_per_method() {
                let (_h, s) = one().await;
                super::login_history_keeps_the_latest_per_method(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn match_failures_are_kept_by_time() {
                let (_h, s) = one().await;
                super::match_failures_are_kept_by_time(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn export_import_round_trip() {
                let (h, a) = one().await;
                let b = h.store().await;
                super::export_import_round_trip(&*a, &*b).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ping_answers() {
                let (_h, s) = one().await;
                super::ping_answers(&*s).await;
            }
        }
    };
}

backend_suite!(memory, "memory");
backend_suite!(cached_memory, "cached_memory");
backend_suite!(embedded, "embedded");
backend_suite!(redis, "redis");
backend_suite!(cached_redis, "cached_redis");

/// Every behaviour in one test, one fresh store each, for backends whose
/// servers take a while to set up (a cluster, a sentinel).
macro_rules! backend_suite_in_one {
    ($name:ident, $kind:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = Harness::new($kind).await;
            sessions_round_trip(&*h.store().await).await;
            records_expire(&*h.store().await).await;
            pending_logins_are_single_use(&*h.store().await).await;
            rate_reservations_count_in_fixed_windows(&*h.store().await).await;
            releasing_never_goes_below_zero(&*h.store().await).await;
            sixty_concurrent_reservations_grant_exactly_the_limit(&*h.store().await).await;
            cookie_logins_map_a_hashed_cookie_to_a_login(&*h.store().await).await;
            cookie_logins_survive_a_restart(&h).await;
            links_are_idempotent_and_own_links_exclusive(&*h.store().await).await;
            removing_a_link_frees_the_account(&*h.store().await).await;
            login_history_keeps_the_latest_per_method(&*h.store().await).await;
            match_failures_are_kept_by_time(&*h.store().await).await;
            export_import_round_trip(&*h.store().await, &*h.store().await).await;
            ping_answers(&*h.store().await).await;
        }
    };
}

backend_suite_in_one!(redis_cluster_whole_suite, "cluster");
backend_suite_in_one!(redis_sentinel_whole_suite, "sentinel");
