//! The evaluator's stories: the shipped regions' policies (`regions`), the
//! rules that hold in every region (`rules`), and every combination of
//! inputs getting exactly one decision (`totality`). The shared fixtures
//! and the `ask` helper are here.

mod regions;
mod rules;
mod totality;

use super::*;
use crate::policy::load::parse;

const YAROSLAVL: &str = include_str!("../../../../policies/yaroslavl-2019.toml");
const IRKUTSK: &str = include_str!("../../../../policies/irkutsk-2018.toml");
const VORONEZH: &str = include_str!("../../../../policies/voronezh-2017.toml");
const ARKHANGELSK: &str = include_str!("../../../../policies/arkhangelsk-2024.toml");
const DNEVNIK_POO: &str = include_str!("../../../../policies/dnevnik-poo.toml");

fn policy(src: &str) -> Policy {
    match parse("shipped.toml", src) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn ask(
    p: &Policy,
    date: &str,
    method: &str,
    path: &str,
    session: SessionKind,
    role: Option<PolicyRole>,
    existing_user: bool,
) -> Decision {
    let input = Input {
        date: d(date),
        route: p.classify(&crate::policy::RouteRequest::get(method, path)),
        session,
        role,
        existing_user,
    };
    let out = evaluate(p, &input);
    assert!(out.shadow.is_none(), "shipped policies enforce every stage");
    out.enforced
}

const PARENT: Option<PolicyRole> = Some(PolicyRole::Parent);
const ESIA: SessionKind = SessionKind::Esia {
    level: TrustLevel::Confirmed,
};
/// A standard account: documents and SNILS checked, not confirmed.
const ESIA_UNCONFIRMED: SessionKind = SessionKind::Esia {
    level: TrustLevel::Standard,
};
const ESIA_SIMPLIFIED: SessionKind = SessionKind::Esia {
    level: TrustLevel::Simplified,
};

const SHADOW: &str = r#"
name = "shadow"
timezone = "Europe/Moscow"

[[routes]]
class = "grades_html"
paths = ["/grades"]

[[stages]]
name = "banner"
from = 2019-01-01
roles = ["all"]
password_login = "allowed"
banner = "Скоро только через Госуслуги"

[[stages]]
name = "trial"
from = 2019-02-01
roles = ["all"]
password_login = "allowed"
grades_html = "hide"
enforce = false
"#;
