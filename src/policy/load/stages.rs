//! Checking one `[[stages]]` table: its date (after the stages before it),
//! roles, password login, trust, banner and what each route class shows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use toml::Spanned;

use super::Checker;
use super::raw::RawStage;
use super::sanitise::sanitise;
use crate::policy::model::Rewrite as RewriteBody;
use crate::policy::model::{
    BUILTIN_CLASSES, PasswordLogin, PolicyRole, RoleSet, Stage, Trust, Visibility,
};

impl Checker<'_> {
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

    pub(super) fn stage(
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
