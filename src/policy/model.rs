//! The typed policy: what a region's file says once it has been checked.
//! Built only by [`super::load`]; everything here is plain data plus the two
//! questions the glue asks before evaluation: which local date it is in the
//! region, and which class a request's route belongs to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

pub use super::routes::{PathPattern, QueryRule, RouteRule};
use super::routes::{RouteRequest, canonical_name, canonical_path, form_params};
pub use super::texts::{ConfirmPage, ConfirmTexts};
pub use super::trust::{Trust, TrustLevel};

/// One region's policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy's own name (`yaroslavl-2019`), for logs and `explain`.
    pub name: String,
    pub description: Option<String>,
    /// Stage dates are local dates in this zone.
    pub timezone: Tz,
    /// Compare paths and query parameters ignoring case (the default: a
    /// diary on a case-insensitive server serves `/Grades` as `/grades`).
    pub case_insensitive_paths: bool,
    /// Where the «Войти через госуслуги» button goes on the login page: after
    /// the first occurrence of this marker (ASCII case ignored), else before
    /// `</body>`.
    pub esia_button_after: Option<String>,
    /// First match wins; no match is [`RouteClass::Default`].
    pub routes: Vec<RouteRule>,
    /// Sorted by `from` (the loader refuses unsorted files).
    pub stages: Vec<Stage>,
    /// What a password session gets instead of a hidden route.
    pub closed_page: Arc<ClosedPage>,
    /// Bodies for `rewrite`, by route class name.
    pub rewrites: BTreeMap<String, Arc<Rewrite>>,
    /// What an ESIA account below a stage's trust is told, per level wanted.
    pub confirm: ConfirmTexts,
}

impl Policy {
    /// The region's local date at `now`: stages start at local midnight.
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }

    /// The class of a request's route: the first rule whose methods, path
    /// and query conditions match the request's canonical form (see
    /// [`super::routes`]). A request to a login form's path that carries
    /// the form's login or password field in its query string is a login
    /// submission whatever its method: diaries that read `$_REQUEST` or
    /// `Request["login"]` log such a request in.
    pub fn classify(&self, req: &RouteRequest<'_>) -> RouteClass {
        let fold = self.case_insensitive_paths;
        let path = canonical_path(req.path, fold);
        let query = req
            .query
            .map(|q| form_params(q.as_bytes(), fold))
            .unwrap_or_default();
        let in_query = |field: &str| {
            let field = canonical_name(field, fold);
            query.iter().any(|(n, _)| *n == field)
        };
        let login_by_query = self.routes.iter().find(|r| match &r.class {
            RouteClass::LoginSubmit {
                login_field,
                password_field,
            } => {
                r.matches_path(&path)
                    && r.matches_params(&query, req.body)
                    && (in_query(login_field) || in_query(password_field))
            }
            _ => false,
        });
        if let Some(r) = login_by_query {
            return r.class.clone();
        }
        self.routes
            .iter()
            .find(|r| {
                r.matches_method(req.method)
                    && r.matches_path(&path)
                    && r.matches_params(&query, req.body)
            })
            .map(|r| r.class.clone())
            .unwrap_or(RouteClass::Default)
    }

    /// Whether classifying this request needs its body's parameters: a rule
    /// with query conditions applies to its method and path, and the method
    /// may carry a form body.
    pub fn needs_body(&self, method: &str, path: &str) -> bool {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            return false;
        }
        let path = canonical_path(path, self.case_insensitive_paths);
        self.routes
            .iter()
            .any(|r| !r.query.is_empty() && r.matches_method(method) && r.matches_path(&path))
    }

    /// Where the diary's own login page is (the first `login_page` route
    /// with a literal path and literal query values), for sending a browser
    /// there to log in again.
    pub fn login_page_href(&self) -> Option<String> {
        self.routes
            .iter()
            .filter(|r| r.class == RouteClass::LoginPage)
            .find_map(|r| r.literal_href())
    }

    /// The stage in force for `role` on `date` among the stages `consider`
    /// accepts. A known role gets the latest stage naming it; an unknown role
    /// (anonymous visitors, logins the directory does not know) gets the
    /// latest stage of any role, the first listed when several start that day.
    pub fn stage_for(
        &self,
        role: Option<PolicyRole>,
        date: NaiveDate,
        consider: impl Fn(&Stage) -> bool,
    ) -> Option<&Stage> {
        let mut best: Option<&Stage> = None;
        for s in &self.stages {
            if s.from > date || !consider(s) {
                continue;
            }
            if let Some(r) = role
                && !s.roles.contains(r)
            {
                continue;
            }
            if best.is_none_or(|b| s.from > b.from) {
                best = Some(s);
            }
        }
        best
    }
}

/// What kind of route a request is on, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Grade pages (HTML).
    GradesHtml,
    /// The grade API (JSON).
    GradesApi,
    /// The diary's own login page: gets the «Войти через госуслуги» button.
    LoginPage,
    /// The diary's login form submission; `login_field` names the form field
    /// with the login, so the glue can find the account and its role, and
    /// `password_field` the one with the password (a form that repeats
    /// either is refused: the gateway and the diary could read different
    /// values).
    LoginSubmit {
        login_field: String,
        password_field: String,
    },
    /// Never gated, never injected: assets, public news.
    Public,
    /// A class the region named itself; stages say what password sessions
    /// get there (`classes = { reports = "hide" }`).
    Other(String),
    /// Everything no rule matched.
    Default,
}

impl RouteClass {
    /// The name used in policy files, `explain` and metric labels (bounded:
    /// only names the policy declares).
    pub fn name(&self) -> &str {
        match self {
            Self::GradesHtml => "grades_html",
            Self::GradesApi => "grades_api",
            Self::LoginPage => "login_page",
            Self::LoginSubmit { .. } => "login_submit",
            Self::Public => "public",
            Self::Other(name) => name,
            Self::Default => "default",
        }
    }
}

impl fmt::Display for RouteClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The built-in class names a `[[routes]]` entry may use besides declared
/// custom ones.
pub const BUILTIN_CLASSES: [&str; 5] = [
    "grades_html",
    "grades_api",
    "login_page",
    "login_submit",
    "public",
];

/// The four roles the seeds schedule separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyRole {
    Staff,
    Parent,
    Student14Plus,
    StudentUnder14,
}

impl PolicyRole {
    pub const ALL: [PolicyRole; 4] = [
        Self::Staff,
        Self::Parent,
        Self::Student14Plus,
        Self::StudentUnder14,
    ];

    /// The spelling in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Parent => "parent",
            Self::Student14Plus => "student_14_plus",
            Self::StudentUnder14 => "student_under_14",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The policy role of a directory account (`staff`, `parent`,
    /// `student`) on the request's local date `on`; `None` for a role the
    /// policy does not know.
    ///
    /// A student without a birth date counts as 14 or older: the exemptions
    /// the seeds give (Irkutsk keeps passwords for children under 14) are
    /// for children whose age the school has recorded, and an account the
    /// school has not filled in should get the rule that applies to most
    /// students rather than a loophole. The school fixes it by entering the
    /// birth date. A birth date in the future counts as under 14.
    pub fn from(role: &str, birth_date: Option<NaiveDate>, on: NaiveDate) -> Option<Self> {
        match role.trim().to_ascii_lowercase().as_str() {
            "staff" => Some(Self::Staff),
            "parent" => Some(Self::Parent),
            "student" => Some(match birth_date {
                Some(b) if age_on(b, on) < 14 => Self::StudentUnder14,
                _ => Self::Student14Plus,
            }),
            other => Self::parse(other),
        }
    }
}

impl fmt::Display for PolicyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Full years between `birth` and `on`. Negative when `on` is before the
/// birth. Someone born on 29 February becomes a year older on 1 March in
/// years without that day.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years - 1
    } else {
        years
    }
}

/// A set of roles (a stage's `roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleSet(u8);

impl RoleSet {
    pub const ALL: RoleSet = RoleSet(0b1111);

    fn bit(r: PolicyRole) -> u8 {
        match r {
            PolicyRole::Staff => 1,
            PolicyRole::Parent => 2,
            PolicyRole::Student14Plus => 4,
            PolicyRole::StudentUnder14 => 8,
        }
    }

    pub fn insert(&mut self, r: PolicyRole) {
        self.0 |= Self::bit(r);
    }

    pub fn contains(self, r: PolicyRole) -> bool {
        self.0 & Self::bit(r) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = PolicyRole> {
        PolicyRole::ALL
            .into_iter()
            .filter(move |r| self.contains(*r))
    }
}

impl FromIterator<PolicyRole> for RoleSet {
    fn from_iter<I: IntoIterator<Item = PolicyRole>>(iter: I) -> Self {
        let mut s = RoleSet::default();
        for r in iter {
            s.insert(r);
        }
        s
    }
}

/// One `[[stages]]` entry: from `from` (inclusive, local date) until the
/// next stage naming the same role.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: Arc<str>,
    pub from: NaiveDate,
    pub roles: RoleSet,
    /// Sanitised HTML shown on the diary's pages to sessions that did not
    /// come through ESIA.
    pub banner: Option<Arc<str>>,
    pub password_login: PasswordLogin,
    /// What a password session gets on grade pages.
    pub grades_html: Visibility,
    /// What a password session gets on the grade API.
    pub grades_api: Visibility,
    /// What a password session gets on the region's own classes.
    pub classes: BTreeMap<String, Visibility>,
    /// The least ESIA account level let in.
    pub trust: Trust,
    /// Anonymous visitors are sent to ESIA at once (no diary login page).
    pub anonymous_to_esia: bool,
    /// `false`: shadow mode — decided, counted and logged, not enforced.
    pub enforce: bool,
}

impl Stage {
    /// What a password session gets on `route` in this stage; `None` for
    /// routes without a visibility rule (they are shown).
    pub fn visibility(&self, route: &RouteClass) -> Option<Visibility> {
        match route {
            RouteClass::GradesHtml => Some(self.grades_html),
            RouteClass::GradesApi => Some(self.grades_api),
            RouteClass::Other(name) => self.classes.get(name).copied(),
            _ => None,
        }
    }
}

/// Whether the diary's login form may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordLogin {
    Allowed,
    /// Only accounts that have logged in before ("new users only through
    /// ESIA", Yaroslavl).
    ExistingUsers,
    Denied,
}

impl PasswordLogin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ExistingUsers => "existing_users",
            Self::Denied => "denied",
        }
    }
}

/// What a password session gets on a gated route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Show,
    /// The closed page: why, a button to link ESIA, the region's
    /// alternatives.
    Hide,
    /// The configured body for this class (`[rewrite.CLASS]`).
    Rewrite,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Show => "show",
            Self::Hide => "hide",
            Self::Rewrite => "rewrite",
        }
    }
}

/// The page a password session gets on a hidden route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPage {
    pub title: String,
    /// Sanitised HTML.
    pub message: String,
    /// Sanitised HTML, one entry per alternative (paper diary, e-mail).
    pub alternatives: Vec<String>,
}

impl Default for ClosedPage {
    fn default() -> Self {
        Self {
            title: "Оценки доступны после входа через Госуслуги".to_string(),
            message: "Вы вошли по логину и паролю. Текущая успеваемость теперь показывается \
                      только тем, кто вошёл через Госуслуги (ЕСИА)."
                .to_string(),
            alternatives: Vec::new(),
        }
    }
}

/// A configured answer for `rewrite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn age_changes_on_the_birthday_not_before() {
        let b = d("2004-12-02");
        assert_eq!(age_on(b, d("2018-12-01")), 13);
        assert_eq!(age_on(b, d("2018-12-02")), 14);
        assert_eq!(age_on(b, d("2019-01-01")), 14);
        let leap = d("2004-02-29");
        assert_eq!(age_on(leap, d("2018-02-28")), 13);
        assert_eq!(age_on(leap, d("2018-03-01")), 14);
        assert_eq!(age_on(leap, d("2020-02-29")), 16);
        assert!(age_on(d("2030-01-01"), d("2020-01-01")) < 0);
    }

    #[test]
    fn a_student_is_placed_by_age_on_the_request_date() {
        let on = d("2018-12-02");
        assert_eq!(
            PolicyRole::from("student", Some(d("2005-06-01")), on),
            Some(PolicyRole::StudentUnder14)
        );
        assert_eq!(
            PolicyRole::from("student", Some(d("2003-06-01")), on),
            Some(PolicyRole::Student14Plus)
        );
        assert_eq!(
            PolicyRole::from("Student", None, on),
            Some(PolicyRole::Student14Plus)
        );
        assert_eq!(
            PolicyRole::from("student", Some(d("2004-12-02")), on),
            Some(PolicyRole::Student14Plus)
        );
        assert_eq!(
            PolicyRole::from("parent", None, on),
            Some(PolicyRole::Parent)
        );
        assert_eq!(
            PolicyRole::from(" staff ", None, on),
            Some(PolicyRole::Staff)
        );
        assert_eq!(PolicyRole::from("janitor", None, on), None);
    }
}
