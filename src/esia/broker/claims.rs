//! The person in a broker's userinfo answer, read by the configured claim
//! names (`[esia.broker.claims]`).

use chrono::NaiveDate;

use crate::config::BrokerClaims;
use crate::identity::{EsiaOid, Person, Snils};

/// Read the person out of userinfo claims, by the configured names.
pub fn person_from_claims(sub: &str, v: &serde_json::Value, names: &BrokerClaims) -> Person {
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let snils = match text(&names.snils).as_str() {
        "" => None,
        raw => match Snils::parse(raw) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(reason = %e, "the broker sent a SNILS that does not parse");
                None
            }
        },
    };
    let bd = text(&names.birth_date);
    let birth_date = NaiveDate::parse_from_str(&bd, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&bd, "%d.%m.%Y"))
        .ok();
    let trusted = match v.get(&names.trusted) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    Person {
        oid: EsiaOid(sub.to_string()),
        last_name: text(&names.last_name),
        first_name: text(&names.first_name),
        middle_name: text(&names.middle_name),
        birth_date,
        snils,
        trusted,
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_claims_map_to_a_person() {
        let v = serde_json::json!({"sub": "42", "family_name": "Иванова", "given_name": "Мария",
            "middle_name": "Петровна", "birthdate": "1985-03-12", "snils": "112-233-445 95",
            "trusted": true});
        let p = person_from_claims("42", &v, &BrokerClaims::default());
        assert_eq!(p.last_name, "Иванова");
        assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1985, 3, 12));
        assert_eq!(
            p.snils.map(|s| s.digits().to_string()).as_deref(),
            Some("11223344595")
        );
        assert!(p.trusted);
        let none = person_from_claims("42", &serde_json::json!({}), &BrokerClaims::default());
        assert!(none.snils.is_none() && !none.trusted);
    }
}
