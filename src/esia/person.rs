//! ESIA's person REST API (`/rs/prns/{oid}` and the children's
//! `/rs/prns/{oid}/kids`) as the direct providers read it: the answer
//! parsed once into a [`Person`], a SNILS that does not parse dropped (and
//! never logged), the children read leniently.

use chrono::NaiveDate;
use serde::Deserialize;

use super::error::EsiaError;
use super::http::BackChannel;
use crate::identity::{EsiaOid, Person, Snils};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonAnswer {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    middle_name: String,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    snils: Option<String>,
    #[serde(default)]
    trusted: Option<bool>,
}

/// The person `oid` with the access token, and their children when the
/// scope asks for them (`kid_fullname`).
pub async fn fetch(
    http: &BackChannel,
    oid: &str,
    access_token: &str,
    scope: &str,
) -> Result<Person, EsiaError> {
    let body = http
        .get_bearer(
            "prns",
            &http.endpoint(&format!("/rs/prns/{oid}")),
            access_token,
        )
        .await?;
    let mut p = parse(oid, &body)?;
    if scope.split_whitespace().any(|s| s == "kid_fullname") {
        p.children = children(http, oid, access_token).await;
    }
    Ok(p)
}

/// One `/rs/prns/{oid}` answer.
pub fn parse(oid: &str, body: &[u8]) -> Result<Person, EsiaError> {
    let a: PersonAnswer =
        serde_json::from_slice(body).map_err(|e| EsiaError::bad_answer("prns", e))?;
    Ok(person_of(oid, a))
}

/// The person's children. Their format is not confirmed by a public
/// source, so it is read leniently: a failure loses the children (the
/// parent can still attach them by login and password), not the login.
async fn children(http: &BackChannel, oid: &str, access_token: &str) -> Vec<Person> {
    let url = http.endpoint(&format!("/rs/prns/{oid}/kids?embed=(elements)"));
    match http.get_bearer("kids", &url, access_token).await {
        Ok(body) => parse_children(&body),
        Err(e @ (EsiaError::Timeout { .. } | EsiaError::Unreachable { .. })) => {
            tracing::warn!(error = %e, "ESIA children list unavailable");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "ESIA children list refused");
            Vec::new()
        }
    }
}

/// A `kids?embed=(elements)` answer: every element that reads as a person.
pub fn parse_children(body: &[u8]) -> Vec<Person> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "ESIA children list unreadable");
            return Vec::new();
        }
    };
    let elements = v
        .get("elements")
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, el) in elements.into_iter().enumerate() {
        if !el.is_object() {
            tracing::warn!(
                index = i,
                "ESIA child element is not an object (embed ignored?)"
            );
            continue;
        }
        let kid_oid = match el.get("oid").or_else(|| el.get("id")) {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        match serde_json::from_value::<PersonAnswer>(el) {
            Ok(a) => out.push(person_of(&kid_oid, a)),
            Err(e) => tracing::warn!(index = i, error = %e, "ESIA child element unreadable"),
        }
    }
    out
}

fn person_of(oid: &str, a: PersonAnswer) -> Person {
    let snils = match a.snils.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match Snils::parse(raw) {
            Ok(s) => Some(s),
            Err(e) => {
                // The value is never logged, only why it is unusable.
                tracing::warn!(reason = %e, "ESIA sent a SNILS that does not parse");
                None
            }
        },
    };
    let birth_date = a
        .birth_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%d.%m.%Y").ok());
    Person {
        oid: EsiaOid(oid.to_string()),
        last_name: a.last_name,
        first_name: a.first_name,
        middle_name: a.middle_name,
        birth_date,
        snils,
        trusted: a.trusted.unwrap_or(false),
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_answer_reads_into_a_person() {
        let body = r#"{"firstName":"Мария","lastName":"Иванова","middleName":"Петровна",
            "birthDate":"12.03.1985","snils":"112-233-445 95","trusted":true,"gender":"F"}"#;
        let p = parse("1000001", body.as_bytes()).expect("person");
        assert_eq!(p.oid.0, "1000001");
        assert_eq!(p.last_name, "Иванова");
        assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1985, 3, 12));
        assert_eq!(
            p.snils.map(|s| s.digits().to_string()).as_deref(),
            Some("11223344595")
        );
        assert!(p.trusted);
        let bad = parse("1", br#"{"snils":"123","trusted":false}"#).expect("person");
        assert!(bad.snils.is_none() && !bad.trusted);
        assert!(matches!(
            parse("1", b"<html>not json</html>"),
            Err(EsiaError::BadAnswer {
                endpoint: "prns",
                ..
            })
        ));
    }

    #[test]
    fn children_are_read_leniently() {
        let body = r#"{"size":3,"elements":["https://esia/rs/prns/1/kids/2",
            {"oid":2000002,"firstName":"Пётр","lastName":"Иванов","birthDate":"01.09.2012"},
            {"id":"2000003","firstName":"Анна","lastName":"Иванова","snils":"not one"}]}"#;
        let kids = parse_children(body.as_bytes());
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].oid.0, "2000002");
        assert_eq!(kids[1].oid.0, "2000003");
        assert!(kids[1].snils.is_none());
        assert!(parse_children(b"not json").is_empty());
    }
}
