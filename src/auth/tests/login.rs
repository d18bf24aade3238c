//! The login way: start, ESIA's callback (and every way it fails).

use super::kit::{Kit, Setup, cookies_after};
use crate::auth::Step;
use crate::auth::error::{BadInput, GateError};
use crate::auth::login::*;
use crate::auth::matching::Unmatched;
use crate::identity::LegacyLogin;

const IVANOVA: &str = "1000001";
const KUZNETSOVA: &str = "1000004";

/// Start a login; the ESIA URL, the state and the browser's cookies.
async fn started(kit: &Kit, return_to: &str) -> (String, String, String) {
    let reply = kit
        .auth
        .start_login(Some(&format!("return_to={return_to}")), "r-start")
        .await;
    let url = reply.location().expect("to ESIA").to_string();
    let state = query_param(url.split_once('?').map(|(_, q)| q), "state").expect("state");
    (url, state, cookies_after(reply.cookies()))
}

#[tokio::test]
async fn a_parent_comes_back_from_esia_and_goes_on_to_choose_a_child() {
    let kit = Kit::start(Setup {
        esia: true,
        ..Setup::default()
    })
    .await;
    let (url, _, cookies) = started(&kit, "/grades").await;
    assert!(url.starts_with(&kit.esia_url), "{url}");
    assert!(cookies.starts_with("esia_gate_login="), "{cookies}");
    let back = kit.through_esia(&url, IVANOVA, "allow").await;
    let query = back.split_once('?').map(|(_, q)| q);
    let reply = kit.auth.callback(query, &cookies, "r-back").await;
    assert_eq!(
        reply.location(),
        Some(kit.url("/esia-gate/children").as_str())
    );
    let set = reply.cookies();
    assert!(set[0].starts_with("esia_gate_session=") && !set[0].contains("Max-Age=0"));
    assert!(set[1].starts_with("esia_gate_login=;") && set[1].contains("Max-Age=0"));
    let current = kit
        .auth
        .current(&cookies_after(set), "r")
        .await
        .expect("the new session");
    assert_eq!(current.record.active, Some(LegacyLogin("ivanova.m".into())));
    assert_eq!(current.record.children.len(), 2);
    assert_eq!(current.record.return_to.as_deref(), Some("/grades"));
}

#[tokio::test]
async fn a_code_is_good_for_one_login_only() {
    let kit = Kit::start(Setup {
        esia: true,
        ..Setup::default()
    })
    .await;
    let (url, _, cookies) = started(&kit, "/").await;
    let back = kit.through_esia(&url, IVANOVA, "allow").await;
    let query = back.split_once('?').map(|(_, q)| q).expect("query");
    assert_eq!(
        kit.auth
            .callback(Some(query), &cookies, "r1")
            .await
            .status(),
        302
    );
    // The same callback again: its state is used up.
    let again = kit.auth.try_callback(Some(query), &cookies, "r2").await;
    assert!(matches!(
        again,
        Err(GateError::BadInput(BadInput::UnknownState))
    ));
    // The same code under a new login: ESIA refuses it as used.
    let (_, state, cookies) = started(&kit, "/").await;
    let code = query_param(Some(query), "code").expect("code");
    let replay = format!("state={state}&code={code}");
    let e = kit
        .auth
        .try_callback(Some(&replay), &cookies, "r3")
        .await
        .err()
        .expect("a used code");
    assert_eq!(e.label(), "bad_code", "{e}");
    assert_eq!(
        kit.auth.fail(Step::Callback, &e, "r3").title(),
        Some("Вход не завершён")
    );
}

#[tokio::test]
async fn without_linking_a_person_without_snils_is_told_so() {
    let kit = Kit::start(Setup {
        esia: true,
        replace: vec![(
            "[diary_login]\nurl = \"/login\"\nlogin_field = \"login\"\npassword_field = \"password\"\nsuccess = \"redirect:/grades\"\n",
            "",
        )],
        ..Setup::default()
    })
    .await;
    let (url, _, cookies) = started(&kit, "/").await;
    let back = kit.through_esia(&url, KUZNETSOVA, "allow").await;
    let query = back.split_once('?').map(|(_, q)| q);
    let e = kit
        .auth
        .try_callback(query, &cookies, "r")
        .await
        .err()
        .expect("no account");
    assert!(
        matches!(e, GateError::NoMatch(Unmatched::NoSnilsFromEsia)),
        "{e}"
    );
    let reply = kit.auth.fail(Step::Callback, &e, "r");
    assert_eq!(
        reply.title(),
        Some("В Госуслугах нет подтверждённого СНИЛС")
    );
    // The school's report has it.
    let failures = kit
        .auth
        .store()
        .match_failures_since(0)
        .await
        .expect("report");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].reason, "no_snils_from_esia");
}

#[tokio::test]
async fn every_callback_failure_names_its_cause() {
    // Nothing is served: ESIA is unreachable for the code exchange.
    let kit = Kit::new("");
    let mut cases = Vec::new();
    let none = kit.auth.try_callback(None, "", "r").await;
    cases.push(("no state", none.err(), 400));
    let unknown = kit
        .auth
        .try_callback(Some("state=made-up&code=x"), "", "r")
        .await;
    cases.push(("unknown state", unknown.err(), 400));
    let (_, state, _) = started(&kit, "/").await;
    let elsewhere = kit
        .auth
        .try_callback(
            Some(&format!("state={state}&code=x")),
            "esia_gate_login=other",
            "r",
        )
        .await;
    cases.push(("another browser", elsewhere.err(), 400));
    let (_, state, cookies) = started(&kit, "/").await;
    let refused =
        format!("state={state}&error=access_denied&error_description=ESIA-007004%3A+refused");
    let refused = kit.auth.try_callback(Some(&refused), &cookies, "r").await;
    cases.push(("consent refused", refused.err(), 403));
    let (_, state, cookies) = started(&kit, "/").await;
    let other = format!("state={state}&error=invalid_request&error_description=ESIA-007053");
    let other = kit.auth.try_callback(Some(&other), &cookies, "r").await;
    cases.push(("ESIA's error", other.err(), 502));
    let (_, state, cookies) = started(&kit, "/").await;
    let no_code = kit
        .auth
        .try_callback(Some(&format!("state={state}")), &cookies, "r")
        .await;
    cases.push(("no code", no_code.err(), 400));
    let (_, state, cookies) = started(&kit, "/").await;
    let silent = kit
        .auth
        .try_callback(Some(&format!("state={state}&code=abc")), &cookies, "r")
        .await;
    cases.push(("ESIA unreachable", silent.err(), 503));
    let (_, state, cookies) = started(&kit, "/").await;
    kit.store_down(true);
    let outage = kit
        .auth
        .try_callback(Some(&format!("state={state}&code=abc")), &cookies, "r")
        .await;
    cases.push(("store down", outage.err(), 503));
    kit.store_down(false);

    let labels: Vec<&str> = cases
        .iter()
        .map(|(what, e, status)| {
            let e = e.as_ref().unwrap_or_else(|| panic!("{what}: no error"));
            let reply = kit.auth.fail(Step::Callback, e, "r");
            assert_eq!(reply.status(), *status, "{what}: {e}");
            // Whatever happened, the login's binding cookie goes.
            assert!(
                reply
                    .cookies()
                    .iter()
                    .any(|c| c.starts_with("esia_gate_login=;")),
                "{what}"
            );
            e.label()
        })
        .collect();
    assert_eq!(
        labels,
        [
            "bad_state",
            "bad_state",
            "bad_binding",
            "consent_refused",
            "esia_error",
            "bad_callback",
            "esia_unavailable",
            "store_error",
        ]
    );
    let outage = cases[7].1.as_ref().expect("outage");
    assert_eq!(
        kit.auth.fail(Step::Callback, outage, "r").title(),
        Some("Сервис входа временно не работает")
    );
}

#[tokio::test]
async fn a_store_outage_at_the_start_is_the_gateways_own() {
    let kit = Kit::new("");
    kit.store_down(true);
    let reply = kit.auth.start_login(Some("return_to=/grades"), "r").await;
    assert_eq!(reply.status(), 503);
    assert_eq!(reply.title(), Some("Сервис входа временно не работает"));
    assert!(reply.cookies().is_empty());
}

#[tokio::test]
async fn only_a_path_on_our_origin_is_kept_to_return_to() {
    let kit = Kit::new("");
    for (asked, kept) in [
        ("%2Fgrades%3Fweek%3D2", "/grades?week=2"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
    ] {
        let reply = kit
            .auth
            .start_login(Some(&format!("return_to={asked}")), "r")
            .await;
        let state = query_param(
            reply
                .location()
                .and_then(|u| u.split_once('?'))
                .map(|(_, q)| q),
            "state",
        )
        .expect("state");
        let pending = kit
            .auth
            .store()
            .take_pending(&state)
            .await
            .expect("store")
            .expect("pending");
        assert_eq!(pending.return_to, kept, "{asked}");
    }
}
