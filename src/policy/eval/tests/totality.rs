//! The evaluator is total: every role, session, trust, date and route gets
//! exactly one decision consistent with the stage it names (a property
//! test, and every combination on the seeds' dates).

use proptest::prelude::*;

use super::*;

fn role_strategy() -> impl Strategy<Value = Option<PolicyRole>> {
    prop_oneof![
        Just(None),
        Just(Some(PolicyRole::Staff)),
        Just(Some(PolicyRole::Parent)),
        Just(Some(PolicyRole::Student14Plus)),
        Just(Some(PolicyRole::StudentUnder14)),
    ]
}

fn session_strategy() -> impl Strategy<Value = SessionKind> {
    prop_oneof![
        Just(ESIA),
        Just(ESIA_UNCONFIRMED),
        Just(ESIA_SIMPLIFIED),
        Just(SessionKind::Password),
        Just(SessionKind::Anonymous),
    ]
}

fn route_strategy() -> impl Strategy<Value = RouteClass> {
    prop_oneof![
        Just(RouteClass::GradesHtml),
        Just(RouteClass::GradesApi),
        Just(RouteClass::LoginPage),
        Just(RouteClass::LoginSubmit {
            login_field: "login".into(),
            password_field: "password".into()
        }),
        Just(RouteClass::Public),
        Just(RouteClass::Default),
        "[a-z]{1,8}".prop_map(RouteClass::Other),
    ]
}

fn date_strategy() -> impl Strategy<Value = NaiveDate> {
    // 2000-01-01 .. 2040-12-31, dense around the seeds' dates.
    (0i64..15_000).prop_map(|n| d("2000-01-01") + chrono::Duration::days(n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every role × session × trust × date × route gets exactly one
    /// decision (the function returns, without panicking), and the
    /// decision is consistent with the stage it names.
    #[test]
    fn the_evaluator_is_total(
        which in 0usize..6,
        role in role_strategy(),
        session in session_strategy(),
        route in route_strategy(),
        date in date_strategy(),
        existing_user in any::<bool>(),
    ) {
        let src = [YAROSLAVL, IRKUTSK, VORONEZH, ARKHANGELSK, DNEVNIK_POO, SHADOW][which];
        let p = policy(src);
        let input = Input { date, route: route.clone(), session, role, existing_user };
        let once = decide(&p, &input);
        prop_assert_eq!(&once, &decide(&p, &input));
        let out = evaluate(&p, &input);
        prop_assert!(out.enforced.enforce);
        match &out.shadow {
            Some(s) => prop_assert!(!s.enforce),
            None => prop_assert_eq!(&out.enforced, &once),
        }
        match &once.stage {
            None => prop_assert_eq!(&once.action, &Action::Show),
            Some(name) => {
                let stage = p.stages.iter().find(|s| s.name == *name);
                prop_assert!(stage.is_some());
                if let Some(stage) = stage {
                    prop_assert!(stage.from <= date);
                    if let Some(r) = role { prop_assert!(stage.roles.contains(r)); }
                }
            }
        }
        // Only pages get banners, and only for sessions not from ESIA.
        if once.banner.is_some() {
            prop_assert_eq!(&once.action, &Action::Show);
            let from_esia = matches!(session, SessionKind::Esia { .. });
            prop_assert!(!from_esia);
            prop_assert!(route != RouteClass::GradesApi);
        }
        if route == RouteClass::Public {
            prop_assert_eq!(&once.action, &Action::Show);
        }
        if let Action::ConfirmAccount { need } = &once.action {
            match session {
                SessionKind::Esia { level } => prop_assert!(!need.admits(level)),
                other => prop_assert!(false, "confirm_account for {:?}", other),
            }
        }
        // Below the least trust of every role, no role is let in.
        if let SessionKind::Esia { level } = session
            && !least_trust(&p, date).admits(level)
            && route != RouteClass::Public
            && !matches!(route, RouteClass::LoginSubmit { .. })
        {
            let confirm = matches!(out.enforced.action, Action::ConfirmAccount { .. });
            prop_assert!(confirm, "{:?}", out.enforced);
        }
    }
}

#[test]
fn every_combination_on_the_seeds_dates_gets_a_decision() {
    let dates = [
        "2017-09-28",
        "2017-09-29",
        "2018-09-30",
        "2018-10-01",
        "2018-11-30",
        "2018-12-01",
        "2018-12-31",
        "2019-01-01",
        "2024-06-30",
        "2024-07-01",
        // «Дневник-ПОО»: the federal letter of 26.04.2017, the 2018 goal.
        "2017-04-25",
        "2017-04-26",
        "2017-12-31",
        "2018-01-01",
    ];
    let routes = [
        RouteClass::GradesHtml,
        RouteClass::GradesApi,
        RouteClass::LoginPage,
        RouteClass::LoginSubmit {
            login_field: "login".into(),
            password_field: "password".into(),
        },
        RouteClass::Public,
        RouteClass::Default,
    ];
    let roles = [None]
        .into_iter()
        .chain(PolicyRole::ALL.into_iter().map(Some))
        .collect::<Vec<_>>();
    let sessions = [
        ESIA,
        ESIA_UNCONFIRMED,
        ESIA_SIMPLIFIED,
        SessionKind::Password,
        SessionKind::Anonymous,
    ];
    let mut count = 0;
    for src in [YAROSLAVL, IRKUTSK, VORONEZH, ARKHANGELSK, DNEVNIK_POO] {
        let p = policy(src);
        for date in dates {
            for route in &routes {
                for role in &roles {
                    for session in sessions {
                        for existing_user in [false, true] {
                            let input = Input {
                                date: d(date),
                                route: route.clone(),
                                session,
                                role: *role,
                                existing_user,
                            };
                            let _ = evaluate(&p, &input);
                            count += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 5 * 14 * 6 * 5 * 5 * 2);
}
