//! The gateway's own routes: logout, the account pages without a session,
//! a form that did not arrive.

use super::kit::{Kit, form, session_with};
use crate::auth::routes::*;

fn request<'a>(route: GateRoute, post: bool, cookies: &'a str, form: FormBody) -> GateRequest<'a> {
    GateRequest {
        route,
        post,
        query: None,
        cookies,
        client: "203.0.113.9",
        request_id: "rid",
        form,
    }
}

#[test]
fn the_gateways_routes_are_found_under_its_prefix_only() {
    assert_eq!(GateRoute::of("/esia-gate/login"), Some(GateRoute::Login));
    assert_eq!(
        GateRoute::of("/esia-gate/children/attach"),
        Some(GateRoute::ChildrenAttach)
    );
    assert_eq!(GateRoute::of("/esia-gate"), Some(GateRoute::Unknown));
    assert_eq!(GateRoute::of("/esia-gate/nope"), Some(GateRoute::Unknown));
    assert_eq!(GateRoute::of("/esia-gatex/login"), None);
    assert_eq!(GateRoute::of("/grades"), None);
    assert!(GateRoute::Logout.reads_form() && !GateRoute::Callback.reads_form());
}

#[tokio::test]
async fn logout_needs_the_sessions_token_and_clears_both_sessions() {
    let kit = Kit::new("");
    let session = session_with(&["ivanova.m"], Some("ivanova.m"));
    let token = session.csrf.clone();
    let cookies = kit.login_session(session).await;
    // A link (or a forged form) only asks.
    let asked = kit
        .auth
        .gate(request(GateRoute::Logout, false, &cookies, FormBody::None))
        .await;
    assert_eq!(asked.title(), Some("Выйти из дневника?"));
    let forged = kit
        .auth
        .gate(request(
            GateRoute::Logout,
            true,
            &cookies,
            FormBody::Read(form(&[("csrf", "x")])),
        ))
        .await;
    assert_eq!(forged.title(), Some("Выйти из дневника?"));
    assert!(kit.auth.current(&cookies, "r").await.is_some());
    let out = kit
        .auth
        .gate(request(
            GateRoute::Logout,
            true,
            &cookies,
            FormBody::Read(form(&[("csrf", &token)])),
        ))
        .await;
    let to = out.location().expect("through ESIA's logout");
    assert!(
        to.starts_with(&kit.esia_url) && to.contains("logged-out"),
        "{to}"
    );
    let cleared: Vec<&str> = out
        .cookies()
        .iter()
        .map(|c| c.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(cleared, ["esia_gate_session", "DIARYSESSID"]);
    assert!(kit.auth.current(&cookies, "r").await.is_none());
    // Nobody to log out any more.
    let again = kit
        .auth
        .gate(request(GateRoute::Logout, false, &cookies, FormBody::None))
        .await;
    assert_eq!(again.location(), Some("/esia-gate/logged-out"));
}

#[tokio::test]
async fn account_pages_without_a_session_send_the_person_to_log_in() {
    let kit = Kit::new("");
    for route in [
        GateRoute::Accounts,
        GateRoute::Link,
        GateRoute::ChildrenAttach,
    ] {
        let r = kit
            .auth
            .gate(request(route, false, "", FormBody::None))
            .await;
        assert_eq!(
            r.location(),
            Some("/esia-gate/login?return_to=%2F"),
            "{route:?}"
        );
    }
    let unknown = kit
        .auth
        .gate(request(GateRoute::Unknown, false, "", FormBody::None))
        .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn an_unreadable_form_is_named_as_such() {
    let kit = Kit::new("");
    let cookies = kit.login_session(session_with(&["a", "b"], None)).await;
    let r = kit
        .auth
        .gate(request(
            GateRoute::AccountsSelect,
            true,
            &cookies,
            FormBody::Unreadable,
        ))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.title(), Some("Форма не дошла"));
}
