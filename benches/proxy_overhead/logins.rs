//! ESIA logins per second: the whole way a browser goes, each login with a
//! new binding cookie — the gateway's `/esia-gate/login`, the emulator's
//! login page, its login and consent forms, the gateway's callback — from
//! a few concurrent clients, counting callbacks that opened a session.

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::support::hidden_value;

/// Where the gateway and the ESIA emulator answer.
#[derive(Clone)]
pub struct Urls {
    pub gateway: String,
    pub esia: String,
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a redirect")
        .to_string()
}

/// `name=value` of the named cookie among an answer's `Set-Cookie`s.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
        .map(str::to_string)
}

/// One login of `oid`; returns the session cookie (`name=value`).
pub async fn login_once(http: &reqwest::Client, urls: &Urls, oid: &str) -> String {
    let start = http
        .get(format!(
            "{}/esia-gate/login?return_to=%2Fgrades",
            urls.gateway
        ))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), 302, "/esia-gate/login");
    let binding = set_cookie(&start, "esia_gate_login").expect("the binding cookie");
    let page = http
        .get(location(&start))
        .send()
        .await
        .expect("ESIA login page");
    let page = page.text().await.expect("page");
    let request = hidden_value(&page, "request").expect("the emulator's request id");
    let consent = http
        .post(format!("{}/aas/oauth2/login", urls.esia))
        .form(&[("request", request.as_str()), ("oid", oid)])
        .send()
        .await
        .expect("ESIA login")
        .text()
        .await
        .expect("consent page");
    let request = hidden_value(&consent, "request").expect("request id on consent");
    let decided = http
        .post(format!("{}/aas/oauth2/consent", urls.esia))
        .form(&[("request", request.as_str()), ("decision", "allow")])
        .send()
        .await
        .expect("consent");
    assert_eq!(decided.status(), 302, "consent");
    let callback = http
        .get(location(&decided))
        .header(COOKIE, binding)
        .header("Accept", "text/html")
        .send()
        .await
        .expect("callback");
    assert_eq!(callback.status(), 302, "callback");
    set_cookie(&callback, "esia_gate_session").expect("a session cookie")
}

/// Logins completed in `seconds` by `clients` concurrent loops.
pub async fn loop_for(urls: &Urls, oid: &'static str, clients: usize, seconds: f64) -> (u64, f64) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let http = http.clone();
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed().as_secs_f64() < seconds {
                login_once(&http, &urls, oid).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("login loop");
    }
    (total, started.elapsed().as_secs_f64())
}
