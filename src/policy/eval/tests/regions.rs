//! The shipped regions' stories, date by date: Yaroslavl's cut-over on
//! 01.01.2019, Irkutsk's age line on 02.12.2018, Arkhangelsk's confirmed
//! accounts from 01.07.2024, Voronezh's ESIA-only diary from 29.09.2017.

use super::*;

#[test]
fn yaroslavl_before_2019_a_password_session_sees_grades_with_the_banner() {
    let p = policy(YAROSLAVL);
    let dec = ask(
        &p,
        "2018-12-15",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(dec.action, Action::Show);
    assert_eq!(dec.stage.as_deref(), Some("banner"));
    let banner = dec.banner.as_deref().unwrap_or_default();
    assert!(banner.contains("01.01.2019"), "{banner}");
    // The API answer is JSON: no banner there.
    let api = ask(
        &p,
        "2018-12-15",
        "GET",
        "/api/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(api.action, Action::Show);
    assert_eq!(api.banner, None);
    // Before the banner stage nothing changes at all.
    let early = ask(
        &p,
        "2018-09-30",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(
        (early.action, early.stage, early.banner),
        (Action::Show, None, None)
    );
}

#[test]
fn yaroslavl_after_2019_01_01_a_password_session_sees_no_grades() {
    let p = policy(YAROSLAVL);
    let html = ask(
        &p,
        "2019-01-02",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    let Action::Hide { page } = &html.action else {
        panic!("{html:?}");
    };
    assert_eq!(html.stage.as_deref(), Some("esia-only-grades"));
    let alternatives = page.alternatives.join(" ");
    assert!(alternatives.contains("e-mail"), "{alternatives}");
    assert!(alternatives.contains("Бумажный дневник"), "{alternatives}");

    let api = ask(
        &p,
        "2019-01-02",
        "GET",
        "/api/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    let Action::Rewrite {
        status,
        content_type,
        body,
    } = &api.action
    else {
        panic!("{api:?}");
    };
    assert_eq!(*status, 200);
    assert!(content_type.starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["grades"], serde_json::json!([]));
    assert_eq!(json["esia_required"], true);

    // The rest of the diary still opens for the password session.
    let home = ask(
        &p,
        "2019-01-02",
        "GET",
        "/",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(home.action, Action::Show);
}

#[test]
fn yaroslavl_after_2019_01_01_an_esia_session_sees_grades() {
    let p = policy(YAROSLAVL);
    for session in [ESIA, ESIA_UNCONFIRMED] {
        for path in ["/grades", "/api/grades"] {
            let dec = ask(&p, "2019-01-02", "GET", path, session, PARENT, true);
            assert_eq!(dec.action, Action::Show, "{path} {session:?}");
            assert_eq!(dec.banner, None);
        }
    }
}

#[test]
fn yaroslavl_after_2019_01_01_a_new_user_logs_in_only_through_esia() {
    let p = policy(YAROSLAVL);
    let new = ask(
        &p,
        "2019-01-02",
        "POST",
        "/login",
        SessionKind::Anonymous,
        PARENT,
        false,
    );
    assert_eq!(new.action, Action::DenyPasswordLogin);
    assert_eq!(new.reason, Reason::NewUserMustUseEsia);
    let old = ask(
        &p,
        "2019-01-02",
        "POST",
        "/login",
        SessionKind::Anonymous,
        PARENT,
        true,
    );
    assert_eq!(old.action, Action::Show);
    // In December a new user could still use the password.
    let dec = ask(
        &p,
        "2018-12-15",
        "POST",
        "/login",
        SessionKind::Anonymous,
        PARENT,
        false,
    );
    assert_eq!(dec.action, Action::Show);
    // The login page keeps the form and gets the ESIA button.
    let page = ask(
        &p,
        "2019-01-02",
        "GET",
        "/login",
        SessionKind::Anonymous,
        None,
        false,
    );
    assert_eq!(page.action, Action::Show);
    assert!(page.inject_esia_button);
}

#[test]
fn yaroslavl_midnight_is_moscow_midnight() {
    let p = policy(YAROSLAVL);
    let utc = chrono::DateTime::parse_from_rfc3339("2018-12-31T21:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(p.local_date(utc), d("2019-01-01"));
}

#[test]
fn irkutsk_on_2018_12_02_a_student_of_13_keeps_the_password_and_one_of_15_does_not() {
    let p = policy(IRKUTSK);
    let on = d("2018-12-02");
    let thirteen = PolicyRole::from("student", Some(d("2005-03-10")), on);
    let fifteen = PolicyRole::from("student", Some(d("2003-03-10")), on);
    assert_eq!(thirteen, Some(PolicyRole::StudentUnder14));
    assert_eq!(fifteen, Some(PolicyRole::Student14Plus));

    let young = ask(
        &p,
        "2018-12-02",
        "POST",
        "/login",
        SessionKind::Anonymous,
        thirteen,
        false,
    );
    assert_eq!(young.action, Action::Show);
    let grades = ask(
        &p,
        "2018-12-02",
        "GET",
        "/grades",
        SessionKind::Password,
        thirteen,
        true,
    );
    assert_eq!(grades.action, Action::Show);

    let older = ask(
        &p,
        "2018-12-02",
        "POST",
        "/login",
        SessionKind::Anonymous,
        fifteen,
        true,
    );
    assert_eq!(older.action, Action::DenyPasswordLogin);
    let grades = ask(
        &p,
        "2018-12-02",
        "GET",
        "/grades",
        SessionKind::Password,
        fifteen,
        true,
    );
    assert_eq!(grades.action, Action::Login);
    // Staff and parents go the same way on the same day.
    for role in [PolicyRole::Staff, PolicyRole::Parent] {
        let dec = ask(
            &p,
            "2018-12-02",
            "POST",
            "/login",
            SessionKind::Anonymous,
            Some(role),
            true,
        );
        assert_eq!(dec.action, Action::DenyPasswordLogin, "{role}");
    }
    // The day before, everyone could still use a password.
    let before = ask(
        &p,
        "2018-11-30",
        "POST",
        "/login",
        SessionKind::Anonymous,
        fifteen,
        true,
    );
    assert_eq!(before.action, Action::Show);
}

#[test]
fn irkutsk_a_student_turning_14_loses_the_password_on_the_birthday() {
    let p = policy(IRKUTSK);
    let birth = d("2004-12-10");
    let role = |on: &str| PolicyRole::from("student", Some(birth), d(on));
    let on_9th = ask(
        &p,
        "2018-12-09",
        "POST",
        "/login",
        SessionKind::Anonymous,
        role("2018-12-09"),
        true,
    );
    assert_eq!(on_9th.action, Action::Show);
    let on_10th = ask(
        &p,
        "2018-12-10",
        "POST",
        "/login",
        SessionKind::Anonymous,
        role("2018-12-10"),
        true,
    );
    assert_eq!(on_10th.action, Action::DenyPasswordLogin);
}

#[test]
fn arkhangelsk_from_2024_07_01_an_unconfirmed_account_is_asked_to_confirm() {
    let p = policy(ARKHANGELSK);
    for role in PolicyRole::ALL {
        let dec = ask(
            &p,
            "2024-07-01",
            "GET",
            "/grades",
            ESIA_UNCONFIRMED,
            Some(role),
            true,
        );
        assert_eq!(
            dec.action,
            Action::ConfirmAccount {
                need: Trust::Confirmed
            },
            "{role}"
        );
        assert_eq!(dec.reason, Reason::EsiaBelowTrust);
        let ok = ask(&p, "2024-07-01", "GET", "/grades", ESIA, Some(role), true);
        assert_eq!(ok.action, Action::Show, "{role}");
        let pw = ask(
            &p,
            "2024-07-01",
            "POST",
            "/login",
            SessionKind::Anonymous,
            Some(role),
            true,
        );
        assert_eq!(pw.action, Action::DenyPasswordLogin, "{role}");
    }
    // Anonymous visitors go straight to ESIA, except public assets.
    let anon = ask(
        &p,
        "2024-07-01",
        "GET",
        "/",
        SessionKind::Anonymous,
        None,
        false,
    );
    assert_eq!(anon.action, Action::Login);
    // On 30 June the unconfirmed account still got in, with the banner
    // shown to password users.
    let before = ask(
        &p,
        "2024-06-30",
        "GET",
        "/grades",
        ESIA_UNCONFIRMED,
        PARENT,
        true,
    );
    assert_eq!(before.action, Action::Show);
    let pw = ask(
        &p,
        "2024-06-30",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert!(pw.banner.is_some());
}

#[test]
fn voronezh_from_2017_09_29_the_diary_is_reached_only_through_esia() {
    let p = policy(VORONEZH);
    let before = ask(
        &p,
        "2017-09-28",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(before.action, Action::Show);
    assert!(before.banner.is_some());
    let after = ask(
        &p,
        "2017-09-29",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert_eq!(after.action, Action::Login);
    let login = ask(
        &p,
        "2017-09-29",
        "POST",
        "/login",
        SessionKind::Anonymous,
        PARENT,
        true,
    );
    assert_eq!(login.action, Action::DenyPasswordLogin);
    let anon = ask(
        &p,
        "2017-09-29",
        "GET",
        "/grades",
        SessionKind::Anonymous,
        None,
        false,
    );
    assert_eq!(anon.action, Action::Login);
    let esia = ask(&p, "2017-09-29", "GET", "/grades", ESIA, PARENT, true);
    assert_eq!(esia.action, Action::Show);
}

#[test]
fn dnevnik_poo_from_2018_01_01_at_least_a_standard_account() {
    let p = policy(DNEVNIK_POO);
    for role in PolicyRole::ALL {
        let simplified = ask(
            &p,
            "2018-01-01",
            "GET",
            "/grades",
            ESIA_SIMPLIFIED,
            Some(role),
            true,
        );
        assert_eq!(
            simplified.action,
            Action::ConfirmAccount {
                need: Trust::Standard
            },
            "{role}"
        );
        for enough in [ESIA_UNCONFIRMED, ESIA] {
            let dec = ask(&p, "2018-01-01", "GET", "/grades", enough, Some(role), true);
            assert_eq!(dec.action, Action::Show, "{role} {enough:?}");
        }
        let pw = ask(
            &p,
            "2018-01-01",
            "POST",
            "/login",
            SessionKind::Anonymous,
            Some(role),
            true,
        );
        assert_eq!(pw.action, Action::DenyPasswordLogin, "{role}");
    }
    // The day before, a simplified account and a password still get in,
    // the password with the banner.
    let before = ask(
        &p,
        "2017-12-31",
        "GET",
        "/grades",
        ESIA_SIMPLIFIED,
        PARENT,
        true,
    );
    assert_eq!(before.action, Action::Show);
    let pw = ask(
        &p,
        "2017-12-31",
        "GET",
        "/grades",
        SessionKind::Password,
        PARENT,
        true,
    );
    assert!(pw.banner.as_deref().unwrap_or("").contains("стандартная"));
    assert_eq!(least_trust(&p, d("2017-12-31")), Trust::Any);
    assert_eq!(least_trust(&p, d("2018-01-01")), Trust::Standard);
}

#[test]
fn the_least_trust_of_every_role_is_the_weakest_stage_in_force() {
    // Voronezh lets any account in for children under 14: an adult's
    // simplified account may still be a child's, so nobody is refused
    // before linking there; Arkhangelsk wants confirmed accounts of all.
    assert_eq!(least_trust(&policy(VORONEZH), d("2017-10-02")), Trust::Any);
    assert_eq!(
        least_trust(&policy(ARKHANGELSK), d("2024-07-01")),
        Trust::Confirmed
    );
    assert_eq!(
        least_trust(&policy(ARKHANGELSK), d("2024-06-30")),
        Trust::Any
    );
}

#[test]
fn each_shipped_policy_speaks_of_its_own_dates_on_the_confirmation_page() {
    let voronezh = policy(VORONEZH);
    let v = voronezh.confirm.for_trust(Trust::Confirmed);
    assert!(v.message.contains("29 сентября 2017"), "{}", v.message);
    let all = |p: &crate::policy::ConfirmPage| {
        format!("{} {} {}", p.message, p.ways.join(" "), p.notes.join(" "))
    };
    assert!(!all(v).contains("2024"));
    assert!(!all(v).contains("Т-Банк"));
    let arkhangelsk = policy(ARKHANGELSK);
    let a = arkhangelsk.confirm.for_trust(Trust::Confirmed);
    assert!(a.message.contains("1 июля 2024"), "{}", a.message);
    let poo = policy(DNEVNIK_POO);
    let s = poo.confirm.for_trust(Trust::Standard);
    assert!(all(s).contains("от 15 минут до 5 дней"), "{}", all(s));
    // Without a region's own words: no date, no bank.
    let none = crate::policy::ConfirmTexts::default();
    for page in [
        none.for_trust(Trust::Standard),
        none.for_trust(Trust::Confirmed),
    ] {
        let text = all(page);
        assert!(
            !text.chars().any(|c| c.is_ascii_digit()),
            "no dates: {text}"
        );
        for bank in ["Сбер", "Т-Банк", "Тинькофф", "ВТБ", "Почта Банк"]
        {
            assert!(!text.contains(bank), "{text}");
        }
    }
}
