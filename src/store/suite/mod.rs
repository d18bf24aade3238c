//! Behaviour every backend must show, one function per behaviour, run
//! against every backend by [`backend_suite!`] at the bottom: the in-memory
//! store, the embedded store (a temp file), the Redis store (a real
//! `redis-server` on a free loopback port), the cached wrapper over two
//! of them, and durable records in PostgreSQL (a real server) beside Redis
//! or the embedded store.
//!
//! The behaviours are grouped by record family: `sessions` (with pending
//! logins), `rate_limits`, `cookies`, `links`, `history` (logins and match
//! failures), `retention` (pruning, forgetting a person, the last logins
//! of a few accounts) and `export`; `harness` makes the stores.

mod cookies;
mod export;
mod harness;
mod history;
mod links;
mod rate_limits;
mod retention;
mod sessions;

use std::sync::Arc;

use crate::identity::{EsiaOid, LegacyLogin, Role};
use crate::store::{AccountLink, LinkKind, LinkSource, SessionRecord, Store};

pub use cookies::{cookie_logins_map_a_hashed_cookie_to_a_login, cookie_logins_survive_a_restart};
pub use export::{export_import_round_trip, sorted};
pub use harness::Harness;
pub use history::{login_history_keeps_the_latest_per_method, match_failures_are_kept_by_time};
pub use links::{links_are_idempotent_and_own_links_exclusive, removing_a_link_frees_the_account};
pub use rate_limits::{
    rate_reservations_count_in_fixed_windows, releasing_never_goes_below_zero,
    sixty_concurrent_reservations_grant_exactly_the_limit,
};
pub use retention::{
    forgetting_a_person_removes_their_records_only, last_logins_of_reads_the_accounts_asked_for,
    pruning_removes_only_what_is_older_than_the_limit,
};
pub use sessions::{pending_logins_are_single_use, records_expire, sessions_round_trip};

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

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
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
            async fn pruning_removes_only_what_is_older_than_the_limit() {
                let (_h, s) = one().await;
                super::pruning_removes_only_what_is_older_than_the_limit(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn forgetting_a_person_removes_their_records_only() {
                let (_h, s) = one().await;
                super::forgetting_a_person_removes_their_records_only(&*s).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn last_logins_of_reads_the_accounts_asked_for() {
                let (_h, s) = one().await;
                super::last_logins_of_reads_the_accounts_asked_for(&*s).await;
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
            pruning_removes_only_what_is_older_than_the_limit(&*h.store().await).await;
            forgetting_a_person_removes_their_records_only(&*h.store().await).await;
            last_logins_of_reads_the_accounts_asked_for(&*h.store().await).await;
            export_import_round_trip(&*h.store().await, &*h.store().await).await;
            ping_answers(&*h.store().await).await;
        }
    };
}

backend_suite_in_one!(redis_cluster_whole_suite, "cluster");
backend_suite_in_one!(redis_sentinel_whole_suite, "sentinel");
backend_suite_in_one!(redis_postgres_whole_suite, "redis_postgres");
backend_suite_in_one!(embedded_postgres_whole_suite, "embedded_postgres");
