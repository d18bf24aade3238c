//! The region's words on the gateway's own pages, from the policy in
//! force: how to raise an ESIA account (`[confirm.*]`), the ways to get
//! grades without ESIA (`[closed_grades] alternatives`), and whether the
//! diary's own login page is still a way in. And the one check made
//! before anyone is asked for a diary password: an ESIA account below the
//! least trust any role is let in with can use no diary account at all,
//! so its person is told how to raise it first — not asked to link an
//! account and then refused.

use std::sync::Arc;

use super::Auth;
use super::error::{EsiaKind, GateError, Step};
use crate::pages::{self, Page};
use crate::policy::slot::{ActivePolicy, PolicySlot};
use crate::policy::{
    Action, ConfirmTexts, Input, RouteClass, SessionKind, Trust, TrustLevel, evaluate, least_trust,
};

impl Auth {
    /// Read the policy in force from `slot` for the gateway's own pages
    /// (the diary's requests get theirs from the proxy, per request).
    pub fn with_policy(mut self, slot: PolicySlot) -> Self {
        self.policy = Some(slot);
        self
    }

    /// The policy in force, if any.
    pub fn policy(&self) -> Option<Arc<ActivePolicy>> {
        self.policy.as_ref().and_then(|s| s.load_full())
    }

    /// The confirmation page for an account of `level` where `need` is
    /// wanted, in the words of `p` (the neutral defaults without a policy).
    pub fn confirm_page(&self, p: Option<&ActivePolicy>, need: Trust, level: TrustLevel) -> Page {
        let defaults = ConfirmTexts::default();
        let texts = p.map_or(&defaults, |p| &p.policy.confirm);
        pages::policy::confirm_account(texts.for_trust(need), need, level)
    }

    /// The confirmation page when an account of `level` is below the least
    /// trust of every role today; `None` when some role would let it in.
    pub fn confirm_first(&self, level: TrustLevel) -> Option<Page> {
        let p = self.policy()?;
        let need = least_trust(&p.policy, self.policy_date(&p));
        (!need.admits(level)).then(|| self.confirm_page(Some(&p), need, level))
    }

    /// The region's ways to get grades without ESIA.
    pub fn alternatives(&self) -> Vec<String> {
        self.policy()
            .map(|p| p.policy.closed_page.alternatives.clone())
            .unwrap_or_default()
    }

    /// The diary's own login page, when an anonymous visitor is shown it
    /// today (a stage that sends anonymous visitors to ESIA, or no policy
    /// at all, makes it a way back to ESIA, not a way out).
    pub fn diary_login_href(&self) -> Option<String> {
        let p = self.policy()?;
        let href = p.policy.login_page_href()?;
        let input = Input {
            date: self.policy_date(&p),
            route: RouteClass::LoginPage,
            session: SessionKind::Anonymous,
            role: None,
            existing_user: false,
        };
        (evaluate(&p.policy, &input).enforced.action == Action::Show).then_some(href)
    }

    /// The page for a failure, with the region's words where it has any.
    pub(super) fn page_for(&self, err: &GateError, step: Step) -> Page {
        match err {
            GateError::Esia {
                kind: EsiaKind::ConsentRefused,
                ..
            } => pages::consent_refused(&self.alternatives(), self.diary_login_href().as_deref()),
            _ => err.page(step),
        }
    }
}
