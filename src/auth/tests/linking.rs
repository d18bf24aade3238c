//! Manual linking: the diary password check and its limits.

use super::kit::{Kit, Setup, form, session_with};
use crate::auth::error::GateError;
use crate::auth::{Reply, Step};
use crate::identity::{EsiaOid, LegacyLogin};

fn sidorov() -> crate::store::SessionRecord {
    let mut s = session_with(&[], None);
    s.oid = EsiaOid("1000003".into());
    s.unmatched_reason = Some("snils_not_in_diary".into());
    s
}

#[tokio::test]
async fn the_linking_page_says_why_nothing_matched() {
    let kit = Kit::new("");
    let current = kit.current(sidorov()).await;
    let Ok(Reply::Page { page, .. }) = kit.auth.link_page(&current) else {
        panic!("the linking page");
    };
    assert!(
        page.paragraphs[0].contains("СНИЛС в его профиле"),
        "{:?}",
        page.paragraphs
    );
}

#[tokio::test]
async fn a_wrong_password_a_limit_and_a_silent_diary_are_three_answers() {
    let kit = Kit::start(Setup {
        diary: true,
        replace: vec![(
            "success = \"redirect:/grades\"\n",
            "success = \"redirect:/grades\"\nmax_failures = 2\n",
        )],
        ..Setup::default()
    })
    .await;
    let s = sidorov();
    let token = s.csrf.clone();
    let guess = |password: &'static str| {
        form(&[
            ("csrf", &token),
            ("login", "kuznetsova.o"),
            ("password", password),
        ])
    };
    for _ in 0..2 {
        let current = kit.current(s.clone()).await;
        let wrong = kit
            .auth
            .link_account(current, &guess("wrong"), "203.0.113.5", "r")
            .await
            .expect("the form again");
        assert_eq!(wrong.status(), 400);
    }
    let current = kit.current(s.clone()).await;
    let limited = kit
        .auth
        .link_account(current, &guess("demo"), "203.0.113.5", "r")
        .await
        .err()
        .expect("the limit");
    assert!(matches!(limited, GateError::RateLimited { minutes } if minutes >= 1));
    assert_eq!(kit.auth.fail(Step::Link, &limited, "r").status(), 429);

    let other = Kit::start(Setup::default()).await;
    let current = other.current(s).await;
    let silent = other
        .auth
        .link_account(current, &guess("demo"), "203.0.113.6", "r")
        .await
        .err()
        .expect("no diary");
    assert!(matches!(silent, GateError::DiaryUnreachable(_)), "{silent}");
    let reply = other.auth.fail(Step::Link, &silent, "r");
    assert_eq!(reply.title(), Some("Не удалось проверить пароль"));
    assert_eq!(reply.status(), 503);
}

#[tokio::test]
async fn the_right_password_links_the_account_and_opens_it() {
    let kit = Kit::start(Setup {
        diary: true,
        ..Setup::default()
    })
    .await;
    let s = sidorov();
    let token = s.csrf.clone();
    let current = kit.current(s.clone()).await;
    let empty = kit
        .auth
        .link_account(
            current,
            &form(&[("csrf", &token), ("login", "kuznetsova.o")]),
            "c",
            "r",
        )
        .await
        .expect("asked again");
    assert_eq!(empty.status(), 400);
    let current = kit.current(s).await;
    let linked = kit
        .auth
        .link_account(
            current,
            &form(&[
                ("csrf", &token),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ]),
            "c",
            "r",
        )
        .await
        .expect("linked");
    assert_eq!(linked.location(), Some(kit.url("/grades").as_str()));
    let record = kit.stored_session().await;
    assert_eq!(record.active, Some(LegacyLogin("kuznetsova.o".into())));
    assert_eq!(record.unmatched_reason, None);
    // Someone else cannot take it any more.
    let mut other = sidorov();
    other.oid = EsiaOid("1000099".into());
    let token = other.csrf.clone();
    let current = kit.current(other).await;
    let taken = kit
        .auth
        .link_account(
            current,
            &form(&[
                ("csrf", &token),
                ("login", "kuznetsova.o"),
                ("password", "demo"),
            ]),
            "c2",
            "r",
        )
        .await
        .err()
        .expect("taken");
    assert!(matches!(taken, GateError::AlreadyLinked));
    assert_eq!(kit.auth.fail(Step::Link, &taken, "r").status(), 409);
}
