//! Reading a policy file: TOML into [`Policy`], every problem reported as
//! `FILE:LINE:COLUMN: what is wrong`, pointing at the offending value.
//! Unknown keys are errors; banner and page HTML is sanitised here, once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::model::Rewrite as RewriteBody;
use super::model::{
    BUILTIN_CLASSES, ClosedPage, PasswordLogin, PathPattern, Policy, PolicyRole, QueryRule,
    RoleSet, RouteClass, RouteRule, Stage, Trust, Visibility,
};
use super::routes::canonical_name;

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, in file order; the Display shows one per line.
    #[error("{}", Problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// One problem at a place in the file (1-based line and column, columns
/// counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Problems<'a>(&'a String, &'a Vec<Problem>);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.0, p.line, p.column, p.message)?;
        }
        Ok(())
    }
}

/// Read and check a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &src)
}

/// Check a policy given as text; `file` names it in errors.
pub fn parse(file: &str, src: &str) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
        PolicyError::Invalid {
            file: file.to_string(),
            problems: vec![Problem {
                line,
                column,
                message: e.message().trim().replace('\n', ": "),
            }],
        }
    })?;
    let mut cx = Checker {
        src,
        problems: Vec::new(),
    };
    let policy = cx.policy(raw);
    if cx.problems.is_empty() {
        Ok(policy)
    } else {
        cx.problems.sort_by_key(|p| (p.line, p.column));
        Err(PolicyError::Invalid {
            file: file.to_string(),
            problems: cx.problems,
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    description: Option<String>,
    timezone: Spanned<String>,
    #[serde(default = "yes")]
    case_insensitive_paths: bool,
    esia_button_after: Option<Spanned<String>>,
    closed_grades: Option<RawClosed>,
    #[serde(default)]
    rewrite: BTreeMap<String, Spanned<RawRewrite>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    stages: Vec<Spanned<RawStage>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClosed {
    title: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    #[serde(default)]
    alternatives: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRewrite {
    status: Option<Spanned<u16>>,
    content_type: Option<Spanned<String>>,
    body: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    class: Spanned<String>,
    #[serde(default)]
    methods: Vec<Spanned<String>>,
    paths: Spanned<Vec<Spanned<String>>>,
    /// `name = "pattern"` or `name = ["pattern", ...]`: parameters (query
    /// string or form body) that must match.
    #[serde(default)]
    query: BTreeMap<String, Spanned<toml::Value>>,
    login_field: Option<Spanned<String>>,
    password_field: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: Spanned<String>,
    from: Spanned<toml::Value>,
    roles: Spanned<Vec<Spanned<String>>>,
    banner: Option<Spanned<String>>,
    password_login: Spanned<PasswordLogin>,
    grades_html: Option<Spanned<Visibility>>,
    grades_api: Option<Spanned<Visibility>>,
    #[serde(default)]
    classes: BTreeMap<String, Spanned<Visibility>>,
    trust: Option<Trust>,
    anonymous_to_esia: Option<bool>,
    enforce: Option<bool>,
}

struct Checker<'a> {
    src: &'a str,
    problems: Vec<Problem>,
}

/// Tags a banner or page text may use: simple formatting and links.
const ALLOWED_TAGS: [&str; 12] = [
    "a", "b", "strong", "i", "em", "u", "br", "p", "span", "small", "ul", "li",
];

/// HTML a region wrote, cut down to simple formatting and links.
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::empty()
        .add_tags(ALLOWED_TAGS)
        .add_tag_attributes("a", ["href", "title"])
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

impl Checker<'_> {
    fn problem(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }

    fn policy(&mut self, raw: RawPolicy) -> Policy {
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.problem(raw.name.span(), "`name` must not be empty");
        }
        let timezone = match raw.timezone.get_ref().parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                self.problem(
                    raw.timezone.span(),
                    format!(
                        "unknown time zone `{}`: use an IANA name such as `Europe/Moscow` or `Asia/Irkutsk`",
                        raw.timezone.get_ref()
                    ),
                );
                chrono_tz::UTC
            }
        };
        let esia_button_after = raw.esia_button_after.and_then(|m| {
            if m.get_ref().trim().is_empty() {
                self.problem(m.span(), "`esia_button_after` must not be empty");
                None
            } else {
                Some(m.into_inner())
            }
        });
        let closed_page = Arc::new(self.closed(raw.closed_grades));

        // Custom classes are the names used by routes that are not built in;
        // each must be used by some stage, so that a typo in a built-in name
        // (`grade_html`) is caught instead of silently matching nothing.
        let mut used_in_stages: BTreeSet<String> = BTreeSet::new();
        for s in &raw.stages {
            used_in_stages.extend(s.get_ref().classes.keys().cloned());
        }
        let mut routes = Vec::new();
        let mut declared: BTreeSet<String> = BTreeSet::new();
        for r in raw.routes {
            if let Some(rule) = self.route(r, raw.case_insensitive_paths, &used_in_stages) {
                declared.insert(rule.class.name().to_string());
                routes.push(rule);
            }
        }

        let mut rewrites = BTreeMap::new();
        for (class, rw) in raw.rewrite {
            let span = rw.span();
            if !declared.contains(&class) {
                self.problem(
                    span.clone(),
                    format!("`[rewrite.{class}]`: no route has class `{class}`"),
                );
            }
            if let Some(body) = self.rewrite(&class, rw.into_inner()) {
                rewrites.insert(class, Arc::new(body));
            }
        }

        let mut stages = Vec::new();
        for s in raw.stages {
            if let Some(stage) = self.stage(s, &declared, &rewrites, &stages) {
                stages.push(stage);
            }
        }

        Policy {
            name,
            description: raw.description,
            timezone,
            case_insensitive_paths: raw.case_insensitive_paths,
            esia_button_after,
            routes,
            stages,
            closed_page,
            rewrites,
        }
    }

    fn closed(&mut self, raw: Option<RawClosed>) -> ClosedPage {
        let mut page = ClosedPage::default();
        let Some(raw) = raw else { return page };
        if let Some(t) = raw.title {
            if t.get_ref().trim().is_empty() {
                self.problem(t.span(), "`title` must not be empty");
            } else {
                page.title = t.into_inner();
            }
        }
        if let Some(m) = raw.message {
            let clean = sanitise(m.get_ref());
            if clean.trim().is_empty() {
                self.problem(m.span(), "`message` is empty once sanitised");
            } else {
                page.message = clean;
            }
        }
        for a in raw.alternatives {
            let clean = sanitise(a.get_ref());
            if clean.trim().is_empty() {
                self.problem(a.span(), "an alternative is empty once sanitised");
            } else {
                page.alternatives.push(clean);
            }
        }
        page
    }

    fn rewrite(&mut self, class: &str, raw: RawRewrite) -> Option<RewriteBody> {
        let status = match raw.status {
            Some(s) if !(200..=599).contains(s.get_ref()) => {
                self.problem(
                    s.span(),
                    format!("`[rewrite.{class}]` status {} is not 200–599", s.get_ref()),
                );
                return None;
            }
            Some(s) => s.into_inner(),
            None => 200,
        };
        let content_type = match raw.content_type {
            Some(ct) => {
                let v = ct.get_ref();
                if v.trim().is_empty() || http::HeaderValue::from_str(v).is_err() {
                    self.problem(
                        ct.span(),
                        format!("`[rewrite.{class}]` content_type `{v}` is not a header value"),
                    );
                    return None;
                }
                ct.into_inner()
            }
            None => "application/json; charset=utf-8".to_string(),
        };
        if content_type.to_ascii_lowercase().contains("json")
            && let Err(e) = serde_json::from_str::<serde_json::Value>(raw.body.get_ref())
        {
            self.problem(
                raw.body.span(),
                format!("`[rewrite.{class}]` body is not valid JSON: {e}"),
            );
            return None;
        }
        Some(RewriteBody {
            status,
            content_type,
            body: Bytes::from(raw.body.into_inner()),
        })
    }

    fn route(
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

    fn date(&mut self, v: &Spanned<toml::Value>) -> Option<NaiveDate> {
        let text = match v.get_ref() {
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            toml::Value::Datetime(_) => {
                self.problem(
                    v.span(),
                    "`from` is a date alone (YYYY-MM-DD, a local date in the policy's time zone), without a time",
                );
                return None;
            }
            toml::Value::String(s) => s.clone(),
            _ => {
                self.problem(v.span(), "`from` must be a date: from = 2019-01-01");
                return None;
            }
        };
        match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    v.span(),
                    format!("`from` = `{text}` is not a date (YYYY-MM-DD): {e}"),
                );
                None
            }
        }
    }

    fn visibility_ok(
        &mut self,
        class: &str,
        v: &Spanned<Visibility>,
        declared: &BTreeSet<String>,
        rewrites: &BTreeMap<String, Arc<RewriteBody>>,
    ) -> bool {
        let mut ok = true;
        if *v.get_ref() == Visibility::Rewrite && !rewrites.contains_key(class) {
            self.problem(
                v.span(),
                format!("`rewrite` for `{class}` needs a `[rewrite.{class}]` table with the body"),
            );
            ok = false;
        }
        if *v.get_ref() != Visibility::Show && !declared.contains(class) {
            self.problem(
                v.span(),
                format!(
                    "`{}` for `{class}`, but no route has class `{class}`",
                    v.get_ref().as_str()
                ),
            );
            ok = false;
        }
        ok
    }

    fn stage(
        &mut self,
        raw: Spanned<RawStage>,
        declared: &BTreeSet<String>,
        rewrites: &BTreeMap<String, Arc<RewriteBody>>,
        earlier: &[Stage],
    ) -> Option<Stage> {
        let raw = raw.into_inner();
        let mut ok = true;
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.problem(raw.name.span(), "stage `name` must not be empty");
            ok = false;
        } else if earlier.iter().any(|s| *s.name == *name) {
            self.problem(
                raw.name.span(),
                format!("a stage named `{name}` is already defined"),
            );
            ok = false;
        }
        let from = self.date(&raw.from);
        if let (Some(from), Some(last)) = (from, earlier.last())
            && from < last.from
        {
            self.problem(
                raw.from.span(),
                format!(
                    "stages must be listed in date order: `{name}` starts {from}, before `{}` ({})",
                    last.name, last.from
                ),
            );
            ok = false;
        }
        let mut roles = RoleSet::default();
        if raw.roles.get_ref().is_empty() {
            self.problem(raw.roles.span(), "`roles` must name at least one role");
            ok = false;
        }
        for r in raw.roles.get_ref() {
            let spelled = r.get_ref().as_str();
            let found: Vec<PolicyRole> = if spelled == "all" {
                PolicyRole::ALL.to_vec()
            } else if let Some(role) = PolicyRole::parse(spelled) {
                vec![role]
            } else {
                self.problem(
                    r.span(),
                    format!(
                        "unknown role `{spelled}`: expected staff, parent, student_14_plus, student_under_14 or all"
                    ),
                );
                ok = false;
                continue;
            };
            for role in found {
                if roles.contains(role) {
                    self.problem(r.span(), format!("role `{role}` is listed twice"));
                    ok = false;
                }
                roles.insert(role);
                if let Some(from) = from
                    && let Some(other) = earlier
                        .iter()
                        .find(|s| s.from == from && s.roles.contains(role))
                {
                    self.problem(
                        r.span(),
                        format!(
                            "stages overlap: `{}` already starts {from} for `{role}`",
                            other.name
                        ),
                    );
                    ok = false;
                }
            }
        }
        let banner = match raw.banner {
            Some(b) => {
                let clean = sanitise(b.get_ref());
                if clean.trim().is_empty() {
                    self.problem(
                        b.span(),
                        "`banner` is empty once sanitised (allowed: simple formatting and links)",
                    );
                    ok = false;
                    None
                } else {
                    Some(Arc::from(clean))
                }
            }
            None => None,
        };
        let mut grades_html = Visibility::Show;
        if let Some(v) = &raw.grades_html {
            ok &= self.visibility_ok("grades_html", v, declared, rewrites);
            grades_html = *v.get_ref();
        }
        let mut grades_api = Visibility::Show;
        if let Some(v) = &raw.grades_api {
            ok &= self.visibility_ok("grades_api", v, declared, rewrites);
            grades_api = *v.get_ref();
        }
        let mut classes = BTreeMap::new();
        for (class, v) in &raw.classes {
            if BUILTIN_CLASSES.contains(&class.as_str()) {
                self.problem(
                    v.span(),
                    format!(
                        "`classes` is for the region's own classes; `{class}` is built in (use `grades_html`/`grades_api`)"
                    ),
                );
                ok = false;
                continue;
            }
            ok &= self.visibility_ok(class, v, declared, rewrites);
            classes.insert(class.clone(), *v.get_ref());
        }
        let password_login = *raw.password_login.get_ref();
        if password_login != PasswordLogin::Allowed && !declared.contains("login_submit") {
            self.problem(
                raw.password_login.span(),
                format!(
                    "password_login = \"{}\" needs a route of class `login_submit` (the diary's login form)",
                    password_login.as_str()
                ),
            );
            ok = false;
        }
        let from = from?;
        ok.then(|| Stage {
            name: Arc::from(name),
            from,
            roles,
            banner,
            password_login,
            grades_html,
            grades_api,
            classes,
            trust: raw.trust.unwrap_or(Trust::Any),
            anonymous_to_esia: raw.anonymous_to_esia.unwrap_or(false),
            enforce: raw.enforce.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "test"
timezone = "Europe/Moscow"

[[routes]]
class = "grades_html"
methods = ["GET"]
paths = ["/grades"]

[[routes]]
class = "login_submit"
methods = ["POST"]
paths = ["/login"]
login_field = "login"

[[stages]]
name = "cutover"
from = 2019-01-01
roles = ["all"]
password_login = "existing_users"
grades_html = "hide"
"#;

    fn problems(src: &str) -> String {
        match parse("p.toml", src) {
            Ok(_) => panic!("accepted:\n{src}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_minimal_policy_loads() {
        let p = parse("p.toml", MINIMAL).unwrap();
        assert_eq!(p.name, "test");
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.stages[0].roles, RoleSet::ALL);
        assert!(p.stages[0].enforce);
        assert_eq!(
            p.classify(&crate::policy::RouteRequest::get("POST", "/login")),
            RouteClass::LoginSubmit {
                login_field: "login".into(),
                password_field: "password".into()
            }
        );
        assert_eq!(
            p.classify(&crate::policy::RouteRequest::get("GET", "/grades/")),
            RouteClass::GradesHtml
        );
        assert_eq!(
            p.classify(&crate::policy::RouteRequest::get("HEAD", "/grades")),
            RouteClass::GradesHtml
        );
        assert_eq!(
            p.classify(&crate::policy::RouteRequest::get("POST", "/grades")),
            RouteClass::Default
        );
    }

    #[test]
    fn an_unknown_key_is_reported_with_line_and_column() {
        let src = MINIMAL.replace(
            "grades_html = \"hide\"",
            "grades_html = \"hide\"\ncolour = 1",
        );
        let e = problems(&src);
        assert!(e.starts_with("p.toml:22:1: unknown field `colour`"), "{e}");
    }

    #[test]
    fn a_bad_date_is_reported_with_line_and_column() {
        let e = problems(&MINIMAL.replace("2019-01-01", "2019-13-01"));
        assert!(e.starts_with("p.toml:18:13: invalid date-time"), "{e}");
        assert!(e.contains("date"), "{e}");
        let e = problems(&MINIMAL.replace("2019-01-01", "\"2019-02-30\""));
        assert!(
            e.starts_with("p.toml:18:8: `from` = `2019-02-30` is not a date"),
            "{e}"
        );
        let e = problems(&MINIMAL.replace("2019-01-01", "2019-01-01T10:00:00"));
        assert!(e.starts_with("p.toml:18:8: `from` is a date alone"), "{e}");
    }

    #[test]
    fn an_unknown_role_is_reported_at_the_role() {
        let e = problems(&MINIMAL.replace("[\"all\"]", "[\"parent\", \"teacher\"]"));
        assert_eq!(
            e,
            "p.toml:19:20: unknown role `teacher`: expected staff, parent, student_14_plus, student_under_14 or all"
        );
    }

    #[test]
    fn an_unknown_value_names_the_choices() {
        let e = problems(&MINIMAL.replace("\"existing_users\"", "\"sometimes\""));
        assert!(
            e.starts_with("p.toml:20:18: unknown variant `sometimes`"),
            "{e}"
        );
        assert!(e.contains("existing_users"), "{e}");
    }

    #[test]
    fn unsorted_and_overlapping_stages_are_refused() {
        let later = "\n[[stages]]\nname = \"early\"\nfrom = 2018-10-01\nroles = [\"parent\"]\npassword_login = \"allowed\"\n";
        let e = problems(&format!("{MINIMAL}{later}"));
        assert!(
            e.contains(":25:8: stages must be listed in date order"),
            "{e}"
        );
        let same = "\n[[stages]]\nname = \"again\"\nfrom = 2019-01-01\nroles = [\"staff\"]\npassword_login = \"allowed\"\n";
        let e = problems(&format!("{MINIMAL}{same}"));
        assert!(
            e.contains(":26:10: stages overlap: `cutover` already starts 2019-01-01 for `staff`"),
            "{e}"
        );
        let dup = "\n[[stages]]\nname = \"cutover\"\nfrom = 2019-02-01\nroles = [\"staff\"]\npassword_login = \"allowed\"\n";
        let e = problems(&format!("{MINIMAL}{dup}"));
        assert!(
            e.contains(":24:8: a stage named `cutover` is already defined"),
            "{e}"
        );
    }

    #[test]
    fn bad_globs_and_classes_are_refused() {
        let e = problems(&MINIMAL.replace("paths = [\"/grades\"]", "paths = [\"grades\"]"));
        assert!(
            e.starts_with("p.toml:8:10: path pattern `grades` must start with `/`"),
            "{e}"
        );
        let e = problems(&MINIMAL.replace("class = \"grades_html\"", "class = \"grade_html\""));
        assert!(
            e.starts_with("p.toml:6:9: unknown class `grade_html`"),
            "{e}"
        );
        let e = problems(&MINIMAL.replace("login_field = \"login\"\n", ""));
        assert!(e.contains("needs `login_field`"), "{e}");
        let e = problems(&MINIMAL.replace("[\"GET\"]", "[\"FETCH\"]"));
        assert!(
            e.starts_with("p.toml:7:12: unknown HTTP method `FETCH`"),
            "{e}"
        );
    }

    #[test]
    fn rewrite_needs_its_body_and_the_body_must_be_json() {
        let src = MINIMAL.replace("grades_html = \"hide\"", "grades_html = \"rewrite\"");
        let e = problems(&src);
        assert!(e.contains("needs a `[rewrite.grades_html]` table"), "{e}");
        let bad = format!("{src}\n[rewrite.grades_html]\nbody = '{{\"grades\": [}}'\n");
        let e = problems(&bad);
        assert!(e.contains("body is not valid JSON"), "{e}");
        let good =
            format!("{src}\n[rewrite.grades_html]\nstatus = 403\nbody = '{{\"grades\": []}}'\n");
        let p = parse("p.toml", &good).unwrap();
        assert_eq!(p.rewrites["grades_html"].status, 403);
    }

    #[test]
    fn several_problems_are_all_reported_in_file_order() {
        let src = MINIMAL
            .replace("Europe/Moscow", "Europe/Yaroslavl")
            .replace("[\"all\"]", "[\"nobody\"]");
        let e = problems(&src);
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(
            lines[0].starts_with("p.toml:3:12: unknown time zone"),
            "{e}"
        );
        assert!(
            lines[1].starts_with("p.toml:19:10: unknown role `nobody`"),
            "{e}"
        );
    }

    #[test]
    fn banners_keep_formatting_and_links_only() {
        let src = MINIMAL.replace(
            "grades_html = \"hide\"",
            "grades_html = \"hide\"\nbanner = '<b>Внимание!</b> <a href=\"https://esia.gosuslugi.ru\" onclick=\"x()\">ЕСИА</a><script>alert(1)</script><img src=x onerror=y>'",
        );
        let p = parse("p.toml", &src).unwrap();
        let banner = p.stages[0].banner.as_deref().unwrap();
        assert!(banner.contains("<b>Внимание!</b>"), "{banner}");
        assert!(
            banner.contains("href=\"https://esia.gosuslugi.ru\""),
            "{banner}"
        );
        assert!(
            !banner.contains("script") && !banner.contains("onclick"),
            "{banner}"
        );
        assert!(
            !banner.contains("img") && !banner.contains("onerror"),
            "{banner}"
        );
        let js = sanitise("<a href=\"javascript:alert(1)\">x</a>");
        assert!(!js.contains("javascript"), "{js}");
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("a\nбв=1", 6), (2, 3));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
