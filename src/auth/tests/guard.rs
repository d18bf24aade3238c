//! The policy's word on diary requests, with and without a policy.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::kit::{Kit, session_with};
use crate::auth::Reply;
use crate::auth::diary_forms::FormProblem;
use crate::auth::guard::*;
use crate::auth::password::LoginAttempt;
use crate::identity::LegacyLogin;
use crate::policy::slot::ActivePolicy;

const ARKHANGELSK_IN_MAY: &str = concat!(
    "[policy]\nfile = \"",
    env!("CARGO_MANIFEST_DIR"),
    "/policies/arkhangelsk-2024.toml\"\nrehearse_date = \"2024-05-01\"\n"
);

/// A body the test hands over, counting how often it was read.
struct Given(Option<&'static str>, usize);

#[async_trait]
impl BodySource for Given {
    async fn read(&mut self) -> Body {
        self.1 += 1;
        match self.0.take() {
            Some(b) => Body::Read(b.as_bytes().to_vec()),
            None => Body::Broken(FormProblem::Unreadable),
        }
    }
}

fn get<'a>(target: &'a str, navigation: bool, cookies: &'a str) -> DiaryRequest<'a> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    DiaryRequest {
        method: "GET",
        path,
        query,
        target,
        content_type: None,
        navigation,
        destination: if navigation {
            Destination::Page
        } else {
            Destination::Subresource
        },
        cookies,
        request_id: "rid",
    }
}

fn login_post(body_navigation: bool) -> DiaryRequest<'static> {
    DiaryRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        ..get("/login", body_navigation, "")
    }
}

fn policy(kit: &Kit) -> ActivePolicy {
    let file = kit
        .auth
        .settings()
        .settings
        .policy
        .as_ref()
        .map(|p| p.file.clone())
        .expect("a policy file");
    crate::policy::slot::load_active(&file).expect("the policy")
}

#[test]
fn a_navigation_is_told_from_a_script() {
    assert!(is_navigation(
        Some("navigate"),
        Some("application/json"),
        None
    ));
    assert!(!is_navigation(Some("cors"), Some("text/html"), None));
    assert!(is_navigation(
        None,
        Some("text/html,application/xhtml+xml"),
        None
    ));
    assert!(!is_navigation(None, Some("application/json"), None));
    assert!(!is_navigation(None, None, Some("XMLHttpRequest")));
    assert!(is_navigation(None, None, None));
}

#[test]
fn only_a_page_a_person_opens_gets_the_gateways_content() {
    use Destination::*;
    let cases = [
        ((Some("navigate"), Some("document"), None), Page),
        ((Some("navigate"), Some("frame"), None), Page),
        ((Some("navigate"), None, None), Page),
        ((Some("navigate"), Some("iframe"), None), Subresource),
        ((Some("cors"), Some("empty"), None), Subresource),
        ((Some("same-origin"), Some("empty"), None), Subresource),
        ((Some("no-cors"), Some("image"), None), Subresource),
        ((None, None, Some("XMLHttpRequest")), Subresource),
        (
            (Some("navigate"), Some("document"), Some("XMLHttpRequest")),
            Subresource,
        ),
        ((None, None, None), Unknown),
        ((Some(""), None, None), Unknown),
    ];
    for ((mode, dest, xrw), expected) in cases {
        assert_eq!(
            destination(mode, dest, xrw),
            expected,
            "{mode:?} {dest:?} {xrw:?}"
        );
    }
}

#[tokio::test]
async fn without_a_policy_every_diary_route_needs_a_gateway_session() {
    let kit = Kit::new("");
    let mut body = Given(None, 0);
    let person = kit
        .auth
        .guard(&get("/grades?week=2", true, ""), None, None, &mut body)
        .await;
    assert_eq!(
        person.answer.as_ref().and_then(Reply::location),
        Some("/esia-gate/login?return_to=%2Fgrades%3Fweek%3D2")
    );
    let script = kit
        .auth
        .guard(&get("/api/grades", false, ""), None, None, &mut body)
        .await;
    assert_eq!(script.answer.as_ref().map(Reply::status), Some(401));
    // Logged in at ESIA, no account chosen yet: the choice first.
    let unfinished = session_with(&["petrov.t", "petrov.parent"], None);
    let v = kit
        .auth
        .guard(
            &get("/grades", true, ""),
            Some(&unfinished),
            None,
            &mut body,
        )
        .await;
    assert_eq!(
        v.answer.as_ref().and_then(Reply::location),
        Some("/esia-gate/accounts")
    );
    // Chosen: on to the diary, with the bar to switch accounts.
    let chosen = session_with(&["petrov.t", "petrov.parent"], Some("petrov.t"));
    let v = kit
        .auth
        .guard(&get("/grades", true, ""), Some(&chosen), None, &mut body)
        .await;
    assert!(v.answer.is_none());
    assert!(v.injection.account_bar);
    // Not for the page's scripts, images and fragments.
    let xhr = kit
        .auth
        .guard(&get("/menu", false, ""), Some(&chosen), None, &mut body)
        .await;
    assert!(xhr.answer.is_none());
    assert!(!xhr.injection.any());
    assert_eq!(body.1, 0, "no body was read");
}

#[tokio::test]
async fn the_diarys_own_logout_ends_the_gateway_session_too() {
    let kit = Kit::new("");
    let session = session_with(&["ivanova.m"], Some("ivanova.m"));
    let cookies = kit.login_session(session.clone()).await;
    let v = kit
        .auth
        .guard(
            &get("/logout", true, &cookies),
            Some(&session),
            None,
            &mut Given(None, 0),
        )
        .await;
    assert!(v.logging_out && v.answer.is_none());
    assert!(kit.auth.current(&cookies, "r").await.is_none());
}

#[tokio::test]
async fn a_login_form_read_two_ways_never_reaches_the_diary() {
    let kit = Kit::new(ARKHANGELSK_IN_MAY);
    let p = policy(&kit);
    for navigation in [true, false] {
        let mut body = Given(Some("login=ivanova.m&password=demo&login=petrov.t"), 0);
        let v = kit
            .auth
            .guard(&login_post(navigation), None, Some(&p), &mut body)
            .await;
        let answer = v.answer.expect("refused");
        assert_eq!(v.route.as_deref(), Some("login_submit"));
        assert!(v.login_form.is_none());
        match answer {
            Reply::Page { page, .. } if navigation => assert!(page.status >= 400),
            Reply::Json { body, .. } if !navigation => {
                assert!(
                    body.contains("form_refused") && body.contains("repeated_field"),
                    "{body}"
                );
            }
            other => panic!("navigation {navigation}: {}", other.status()),
        }
    }
    // A form cut off on the way is refused too.
    let v = kit
        .auth
        .guard(&login_post(true), None, Some(&p), &mut Given(None, 0))
        .await;
    assert!(v.answer.is_some());
}

#[tokio::test]
async fn a_plain_password_login_is_passed_on_and_watched() {
    let kit = Kit::new(ARKHANGELSK_IN_MAY);
    let p = policy(&kit);
    let mut body = Given(Some("login=ivanova.m&password=demo"), 0);
    let v = kit
        .auth
        .guard(&login_post(true), None, Some(&p), &mut body)
        .await;
    assert!(v.answer.is_none(), "password login is still allowed in May");
    assert_eq!(
        v.login_form,
        Some(LoginAttempt {
            login: Some(LegacyLogin("ivanova.m".into())),
            path: "/login".into()
        })
    );
    assert_eq!(body.1, 1, "the body was read once");
    // The login page gets the banner and the ESIA button.
    let page = kit
        .auth
        .guard(
            &get("/login", true, ""),
            None,
            Some(&p),
            &mut Given(None, 0),
        )
        .await;
    assert!(page.answer.is_none());
    assert!(page.injection.banner.is_some() && page.injection.esia_button);
}

#[tokio::test]
async fn after_the_cut_over_a_password_login_is_told_to_use_esia() {
    let kit = Kit::new(ARKHANGELSK_IN_MAY);
    kit.auth
        .rehearsal()
        .expect("rehearsing")
        .store(Arc::new(NaiveDate::from_ymd_opt(2024, 7, 2).expect("date")));
    let p = policy(&kit);
    let mut body = Given(Some("login=ivanova.m&password=demo"), 0);
    let v = kit
        .auth
        .guard(&login_post(true), None, Some(&p), &mut body)
        .await;
    match &v.answer {
        Some(Reply::Page { page, .. }) => {
            assert_eq!(page.status, 403);
            assert_eq!(page.title, "Вход по логину и паролю закрыт");
            assert!(
                page.actions
                    .iter()
                    .any(|(href, _)| href == "/esia-gate/login?return_to=%2F"),
                "the button to ESIA"
            );
        }
        other => panic!(
            "not the closed page: {:?}",
            other.as_ref().and_then(Reply::location)
        ),
    }
}
