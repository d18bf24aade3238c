//! Checking one `[[routes]]` table: its class, methods, path patterns and
//! query rules.

use std::collections::BTreeSet;

use toml::Spanned;

use super::Checker;
use super::raw::RawRoute;
use crate::policy::model::{BUILTIN_CLASSES, PathPattern, QueryRule, RouteClass, RouteRule};
use crate::policy::routes::canonical_name;

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

impl Checker<'_> {
    pub(super) fn route(
        &mut self,
        raw: Spanned<RawRoute>,
        case_insensitive: bool,
        used_in_stages: &BTreeSet<String>,
    ) -> Option<RouteRule> {
        let raw = raw.into_inner();
        let class_name = raw.class.get_ref().as_str();
        let mut ok = true;
        let class = match class_name {
            "grades_html" => RouteClass::GradesHtml,
            "grades_api" => RouteClass::GradesApi,
            "login_page" => RouteClass::LoginPage,
            "public" => RouteClass::Public,
            "default" => {
                self.problem(
                    raw.class.span(),
                    "class `default` is what unmatched routes get; leave such paths out",
                );
                return None;
            }
            "login_submit" => match &raw.login_field {
                Some(f) if !f.get_ref().trim().is_empty() => RouteClass::LoginSubmit {
                    login_field: f.get_ref().trim().to_string(),
                    password_field: match &raw.password_field {
                        Some(p) if p.get_ref().trim().is_empty() => {
                            self.problem(p.span(), "`password_field` must not be empty");
                            return None;
                        }
                        Some(p) => p.get_ref().trim().to_string(),
                        None => "password".to_string(),
                    },
                },
                Some(f) => {
                    self.problem(f.span(), "`login_field` must not be empty");
                    return None;
                }
                None => {
                    self.problem(
                        raw.class.span(),
                        "class `login_submit` needs `login_field` (the login form's field with the login)",
                    );
                    return None;
                }
            },
            other if !is_identifier(other) => {
                self.problem(
                    raw.class.span(),
                    format!(
                        "class `{other}`: a custom class name is lower case letters, digits and `_`"
                    ),
                );
                return None;
            }
            other if !used_in_stages.contains(other) => {
                self.problem(
                    raw.class.span(),
                    format!(
                        "unknown class `{other}`: the built-in classes are {}; a custom class must be given a treatment in some stage's `classes`",
                        BUILTIN_CLASSES.join(", ")
                    ),
                );
                return None;
            }
            other => RouteClass::Other(other.to_string()),
        };
        if let Some(f) = &raw.login_field
            && !matches!(class, RouteClass::LoginSubmit { .. })
        {
            self.problem(
                f.span(),
                "`login_field` belongs only to routes of class `login_submit`",
            );
            ok = false;
        }
        if let Some(f) = &raw.password_field
            && !matches!(class, RouteClass::LoginSubmit { .. })
        {
            self.problem(
                f.span(),
                "`password_field` belongs only to routes of class `login_submit`",
            );
            ok = false;
        }
        let mut methods = Vec::new();
        for m in &raw.methods {
            let up = m.get_ref().trim().to_ascii_uppercase();
            if METHODS.contains(&up.as_str()) {
                methods.push(up);
            } else {
                self.problem(m.span(), format!("unknown HTTP method `{}`", m.get_ref()));
                ok = false;
            }
        }
        let mut paths = Vec::new();
        if raw.paths.get_ref().is_empty() {
            self.problem(raw.paths.span(), "`paths` must list at least one pattern");
            ok = false;
        }
        for p in raw.paths.into_inner() {
            match PathPattern::parse(p.get_ref(), case_insensitive) {
                Ok(pat) => paths.push(pat),
                Err(msg) => {
                    self.problem(p.span(), msg);
                    ok = false;
                }
            }
        }
        let mut query = Vec::new();
        for (name, value) in &raw.query {
            match self.query_rule(name, value, case_insensitive) {
                Some(q) => query.push(q),
                None => ok = false,
            }
        }
        ok.then_some(RouteRule {
            class,
            methods,
            paths,
            query,
        })
    }

    fn query_rule(
        &mut self,
        name: &str,
        value: &Spanned<toml::Value>,
        case_insensitive: bool,
    ) -> Option<QueryRule> {
        let texts: Vec<&str> = match value.get_ref() {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(a) if !a.is_empty() => {
                let texts: Option<Vec<&str>> = a.iter().map(toml::Value::as_str).collect();
                let Some(texts) = texts else {
                    self.problem(
                        value.span(),
                        format!("query `{name}`: every pattern is a string"),
                    );
                    return None;
                };
                texts
            }
            _ => {
                self.problem(
                    value.span(),
                    format!("query `{name}`: write a pattern or a list of patterns, e.g. {name} = \"Grades/*\""),
                );
                return None;
            }
        };
        if name.trim().is_empty() {
            self.problem(value.span(), "a query parameter name must not be empty");
            return None;
        }
        let mut values = Vec::new();
        for t in texts {
            match PathPattern::parse_value(t, case_insensitive) {
                Ok(p) => values.push(p),
                Err(msg) => {
                    self.problem(value.span(), format!("query `{name}`: {msg}"));
                    return None;
                }
            }
        }
        Some(QueryRule {
            name: canonical_name(name, case_insensitive),
            source: name.to_string(),
            values,
        })
    }
}
