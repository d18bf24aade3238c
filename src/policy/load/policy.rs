//! Checking the policy's top level: name and time zone, the closed page,
//! the `[rewrite.*]` bodies, and the routes and stages in file order (each
//! checked in `routes` and `stages`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use super::Checker;
use super::raw::{RawClosed, RawConfirm, RawConfirmTexts, RawPolicy, RawRewrite};
use super::sanitise::sanitise;
use crate::policy::model::Rewrite as RewriteBody;
use crate::policy::model::{ClosedPage, ConfirmPage, ConfirmTexts, Policy};

impl Checker<'_> {
    pub(super) fn policy(&mut self, raw: RawPolicy) -> Policy {
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
        let confirm = self.confirm_texts(raw.confirm);

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
            confirm,
        }
    }

    fn confirm_texts(&mut self, raw: Option<RawConfirmTexts>) -> ConfirmTexts {
        let mut texts = ConfirmTexts::default();
        let Some(raw) = raw else { return texts };
        if let Some(s) = raw.standard {
            texts.standard = Arc::new(self.confirm_page(s, ConfirmPage::default_standard()));
        }
        if let Some(c) = raw.confirmed {
            texts.confirmed = Arc::new(self.confirm_page(c, ConfirmPage::default_confirmed()));
        }
        texts
    }

    /// One `[confirm.LEVEL]` table over the defaults: what it names
    /// replaces the default wholly (`ways = []` leaves no list).
    fn confirm_page(&mut self, raw: RawConfirm, mut page: ConfirmPage) -> ConfirmPage {
        if let Some(t) = raw.title {
            if t.get_ref().trim().is_empty() {
                self.problem(t.span(), "`title` must not be empty");
            } else {
                page.title = t.get_ref().trim().to_string();
            }
        }
        if let Some(clean) = raw.message.and_then(|m| self.html(&m, "`message`")) {
            page.message = clean;
        }
        if let Some(ways) = raw.ways {
            page.ways = ways.iter().filter_map(|w| self.html(w, "a way")).collect();
        }
        if let Some(notes) = raw.notes {
            page.notes = notes
                .iter()
                .filter_map(|n| self.html(n, "a note"))
                .collect();
        }
        page
    }

    /// A region's HTML text, sanitised; empty once sanitised is an error.
    fn html(&mut self, v: &toml::Spanned<String>, what: &str) -> Option<String> {
        let clean = sanitise(v.get_ref());
        if clean.trim().is_empty() {
            self.problem(v.span(), format!("{what} is empty once sanitised"));
            None
        } else {
            Some(clean.trim().to_string())
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
}
