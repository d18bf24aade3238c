//! Rules that hold whatever the region: a shadow stage changes nothing a
//! user sees, public routes are never gated, an unattributed diary cookie
//! and an unknown role get the strictest treatment, route variants land in
//! their class.

use super::*;

#[test]
fn a_shadow_stage_is_decided_but_the_request_gets_the_enforced_stage() {
    let p = policy(SHADOW);
    let input = Input {
        date: d("2019-02-10"),
        route: p.classify(&crate::policy::RouteRequest::get("GET", "/grades")),
        session: SessionKind::Password,
        role: PARENT,
        existing_user: true,
    };
    let raw = decide(&p, &input);
    assert!(!raw.enforce);
    assert_eq!(raw.action.name(), "hide");
    let out = evaluate(&p, &input);
    assert_eq!(out.shadow, Some(raw));
    assert_eq!(out.enforced.action, Action::Show);
    assert_eq!(out.enforced.stage.as_deref(), Some("banner"));
    assert!(out.enforced.enforce);
    assert!(out.enforced.banner.is_some());
}

#[test]
fn public_routes_are_never_gated() {
    let p = policy(ARKHANGELSK);
    let dec = ask(
        &p,
        "2024-07-02",
        "GET",
        "/static/site.css",
        SessionKind::Anonymous,
        None,
        false,
    );
    assert_eq!(
        (dec.action, dec.reason),
        (Action::Show, Reason::PublicRoute)
    );
}

#[test]
fn a_diary_cookie_the_gateway_never_saw_gets_the_strictest_treatment() {
    let u = SessionKind::Unattributed;
    // Yaroslavl after the cut-over: grades closed, the API rewritten,
    // the rest of the diary open (every role's password session gets
    // the same).
    let p = policy(YAROSLAVL);
    let on = |path| ask(&p, "2019-01-02", "GET", path, u, None, false);
    assert_eq!(on("/grades").action.name(), "hide");
    assert_eq!(on("/GRADES.").action.name(), "hide");
    assert_eq!(on("/api/grades").action.name(), "rewrite");
    assert_eq!(on("/index.php?page=grades").action.name(), "hide");
    assert_eq!(on("/").action, Action::Show);
    assert_eq!(on("/grades").reason, Reason::UnattributedStrictest);
    // Before the cut-over every password session sees grades: so does
    // an unattributed one (the diary decides by its own cookie).
    let before = ask(&p, "2018-12-15", "GET", "/grades", u, None, false);
    assert_eq!(before.action, Action::Show);
    assert!(before.banner.is_some());

    // Irkutsk: adults are sent to ESIA, students under 14 keep their
    // passwords — an unknown cookie logs in again at the diary's form.
    let p = policy(IRKUTSK);
    for path in ["/grades", "/", "/api/grades"] {
        let d = ask(&p, "2018-12-02", "GET", path, u, None, false);
        assert_eq!(
            d.action,
            Action::Relogin {
                href: "/login".into()
            },
            "{path}"
        );
        assert_eq!(d.reason, Reason::UnattributedRelogin);
    }
    // The diary's login page itself stays open, or nobody could.
    let login = ask(&p, "2018-12-02", "GET", "/login", u, None, false);
    assert_eq!(login.action, Action::Show);

    // Voronezh and Arkhangelsk: no role keeps a password — ESIA.
    for (src, date) in [(VORONEZH, "2017-10-02"), (ARKHANGELSK, "2024-07-02")] {
        let p = policy(src);
        let d = ask(&p, date, "GET", "/grades", u, None, false);
        assert_eq!(
            (d.action, d.reason),
            (Action::Login, Reason::UnattributedToEsia)
        );
    }
}

#[test]
fn an_unknown_role_is_never_an_exemption() {
    let p = policy(IRKUTSK);
    // A password session of a login the directory lacks: what the
    // strictest role gets (parents and staff are sent to ESIA), not
    // the under-14 exemption.
    let d = ask(
        &p,
        "2018-12-02",
        "GET",
        "/grades",
        SessionKind::Password,
        None,
        true,
    );
    assert_eq!(d.action, Action::Login);
    // Its login form submission is refused likewise.
    let d = ask(
        &p,
        "2018-12-02",
        "POST",
        "/login",
        SessionKind::Password,
        None,
        true,
    );
    assert_eq!(d.action, Action::DenyPasswordLogin);
    // The student under 14 whom the directory knows keeps the password.
    let d = ask(
        &p,
        "2018-12-02",
        "POST",
        "/login",
        SessionKind::Password,
        Some(PolicyRole::StudentUnder14),
        true,
    );
    assert_eq!(d.action, Action::Show);
}

#[test]
fn route_variants_and_methods_land_in_the_grades_class() {
    let p = policy(YAROSLAVL);
    let class = |m: &'static str, path: &'static str| {
        p.classify(&crate::policy::RouteRequest::get(m, path))
    };
    for m in [
        "GET", "HEAD", "POST", "PUT", "OPTIONS", "PROPFIND", "DELETE",
    ] {
        for path in [
            "/grades",
            "/Grades",
            "/GRADES",
            "/grades.",
            "/grades%20",
            "/grades/x",
            "/x/../grades",
        ] {
            assert_eq!(class(m, path), RouteClass::GradesHtml, "{m} {path}");
        }
        assert_eq!(class(m, "/api/Grades"), RouteClass::GradesApi, "{m}");
    }
    // A login in the query string makes any request to the form's path a
    // submission; a plain GET is the login page.
    assert_eq!(class("GET", "/login"), RouteClass::LoginPage);
    assert!(matches!(
        class("GET", "/login?login=a&password=b"),
        RouteClass::LoginSubmit { .. }
    ));
    assert!(matches!(
        class("POST", "/Login"),
        RouteClass::LoginSubmit { .. }
    ));
    assert!(matches!(
        class("PUT", "/login."),
        RouteClass::LoginSubmit { .. }
    ));
    // Query routes: any value of a repeated parameter counts.
    assert_eq!(
        class("GET", "/index.php?page=x&page=Grades"),
        RouteClass::GradesHtml
    );
    assert_eq!(
        class("GET", "/index.php?page=grades&page=x"),
        RouteClass::GradesHtml
    );
    assert_eq!(class("GET", "/index.php?page=other"), RouteClass::Default);
    assert_eq!(class("GET", "/index.php"), RouteClass::Default);
}
