//! Password sessions: told from the diary cookie, learned from the
//! diary's answer to its login form.

use super::kit::Kit;
use crate::auth::password::*;
use crate::identity::LegacyLogin;

fn attempt(login: &str) -> LoginAttempt {
    LoginAttempt {
        login: Some(LegacyLogin(login.into())),
        path: "/login".into(),
    }
}

#[test]
fn the_session_after_a_login_is_the_one_set_or_the_one_kept() {
    let set = ["DIARYSESSID=new; Path=/; HttpOnly".to_string()];
    assert_eq!(
        session_after_login(&set, "DIARYSESSID=old", "DIARYSESSID"),
        Some("new")
    );
    assert_eq!(
        session_after_login(&[], "a=1; DIARYSESSID=old", "DIARYSESSID"),
        Some("old")
    );
    assert_eq!(
        session_after_login(&[], "DIARYSESSID=a; diarysessid=b", "DIARYSESSID"),
        None
    );
    let cleared = ["DIARYSESSID=; Max-Age=0".to_string()];
    assert_eq!(session_after_login(&cleared, "", "DIARYSESSID"), None);
}

#[tokio::test]
async fn a_login_the_diary_accepted_makes_its_cookie_a_known_session() {
    let kit = Kit::new("");
    let cookie = "DIARYSESSID=s3ss10n";
    assert_eq!(kit.auth.diary_session("", "r").await, DiarySession::None);
    assert_eq!(
        kit.auth.diary_session(cookie, "r").await,
        DiarySession::Unknown("unknown")
    );
    // The diary sent the browser back to its form: a wrong password.
    let refused = DiaryAnswer {
        status: 302,
        location: Some("/login?error=1"),
        set_cookies: &[],
    };
    assert!(
        !kit.auth
            .learn_password_session(&attempt("ivanova.m"), cookie, &refused, "r")
            .await
    );
    assert_eq!(
        kit.auth.diary_session(cookie, "r").await,
        DiarySession::Unknown("unknown")
    );
    let set = ["DIARYSESSID=s3ss10n; Path=/".to_string()];
    let accepted = DiaryAnswer {
        status: 302,
        location: Some("/grades"),
        set_cookies: &set,
    };
    assert!(
        kit.auth
            .learn_password_session(&attempt("ivanova.m"), "", &accepted, "r")
            .await
    );
    assert_eq!(
        kit.auth.diary_session(cookie, "r").await,
        DiarySession::Known(LegacyLogin("ivanova.m".into()))
    );
    assert!(
        kit.auth
            .store()
            .has_logged_in(&LegacyLogin("ivanova.m".into()))
            .await
            .expect("history")
    );
    // The same cookie twice with different values is nobody's.
    assert_eq!(
        kit.auth
            .diary_session("DIARYSESSID=s3ss10n; diarysessid=other", "r")
            .await,
        DiarySession::Unknown("ambiguous")
    );
    // A store that cannot say: unattributed, never a guess.
    kit.store_down(true);
    assert_eq!(
        kit.auth.diary_session(cookie, "r").await,
        DiarySession::Unknown("store_error")
    );
}

#[tokio::test]
async fn a_login_form_without_a_login_teaches_nothing() {
    let kit = Kit::new("");
    let set = ["DIARYSESSID=x; Path=/".to_string()];
    let accepted = DiaryAnswer {
        status: 302,
        location: Some("/grades"),
        set_cookies: &set,
    };
    let nobody = LoginAttempt {
        login: None,
        path: "/login".into(),
    };
    assert!(
        !kit.auth
            .learn_password_session(&nobody, "", &accepted, "r")
            .await
    );
    assert_eq!(
        kit.auth.diary_session("DIARYSESSID=x", "r").await,
        DiarySession::Unknown("unknown")
    );
}
