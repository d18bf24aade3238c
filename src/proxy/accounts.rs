//! After ESIA: which diary accounts a person may use (matched by FIO +
//! SNILS, or linked earlier), choosing one, linking one by the diary login
//! and password (rate-limited, never storing the password), and a parent's
//! children. Each handler returns a [`Reply`]; the Pingora glue writes it.

use std::collections::HashMap;
use std::time::Duration;

use super::Gateway;
use super::diary_check::Checked;
use super::login::Reply;
use crate::config::GATE_PREFIX;
use crate::identity::{Directory, LegacyLogin, MatchOutcome, Person, Role, match_person};
use crate::pages::accounts::{self as account_pages, AccountView};
use crate::pages::{self, Page};
use crate::store::{
    AccountLink, LinkKind, LinkSource, LoginMethod, LoginRecord, MatchFailure, Reserved,
    SessionRecord, StoreError,
};
use crate::telemetry::metrics;

/// What the gateway found for a person who just came back from ESIA.
pub struct Found {
    pub own: Vec<LegacyLogin>,
    pub children: Vec<LegacyLogin>,
    pub outcome: MatchOutcome,
}

/// The session cookie's id with its record.
pub struct Current {
    pub id: String,
    pub record: SessionRecord,
}

fn push_unique(v: &mut Vec<LegacyLogin>, l: LegacyLogin) {
    if !v.contains(&l) {
        v.push(l);
    }
}

/// Children of an ESIA person who match exactly one student account.
pub fn children_by_snils(dir: &Directory, person: &Person) -> Vec<LegacyLogin> {
    let mut out = Vec::new();
    for kid in &person.children {
        if let MatchOutcome::One(i) = match_person(dir, kid)
            && let Some(a) = dir.get(i)
            && a.role == Role::Student
        {
            push_unique(&mut out, a.login.clone());
        }
    }
    out
}

/// Russian text for why nothing matched.
pub fn unmatched_text(reason: &str) -> &'static str {
    match reason {
        "no_snils_from_esia" => {
            "В Госуслугах не указан или не подтверждён СНИЛС, поэтому мы не нашли вас в дневнике автоматически."
        }
        "fio_differs" => {
            "Ваш СНИЛС есть в дневнике, но фамилия, имя или отчество записаны там иначе, чем в Госуслугах."
        }
        "snils_not_in_diary" => {
            "Человек с вашими ФИО есть в дневнике, но СНИЛС в его профиле не указан или отличается от СНИЛС в Госуслугах."
        }
        _ => "В дневнике нет учётной записи с вашими ФИО и СНИЛС из Госуслуг.",
    }
}

pub(crate) fn csrf_ok(record: &SessionRecord, form: &HashMap<String, String>) -> bool {
    let given = form.get("csrf").map(String::as_bytes).unwrap_or(b"");
    let want = record.csrf.as_bytes();
    !want.is_empty()
        && given.len() == want.len()
        && given
            .iter()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Gateway {
    /// Accounts and children of a person: directory matches and durable
    /// links together, skipping accounts that another ESIA person owns.
    pub(crate) async fn find_accounts(
        &self,
        person: &Person,
        request_id: &str,
    ) -> Result<Found, StoreError> {
        let links = self.store.links_of(&person.oid).await?;
        let dir = self.directory.load_full();
        let outcome = match_person(&dir, person);
        let matched: Vec<LegacyLogin> = match &outcome {
            MatchOutcome::One(i) => dir.get(*i).map(|a| a.login.clone()).into_iter().collect(),
            MatchOutcome::Several(v) => v
                .iter()
                .filter_map(|i| dir.get(*i).map(|a| a.login.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let mut own = Vec::new();
        for login in matched {
            match self.store.owner_of(&login).await? {
                Some(owner) if owner != person.oid => {
                    tracing::warn!(request_id, login = %login, "matched account is linked to another ESIA person; skipped");
                }
                _ => push_unique(&mut own, login),
            }
        }
        let mut children = children_by_snils(&dir, person);
        for l in &links {
            if dir.by_login(&l.login.0).is_none() {
                continue;
            }
            match l.kind {
                LinkKind::Own => push_unique(&mut own, l.login.clone()),
                LinkKind::Child => push_unique(&mut children, l.login.clone()),
            }
        }
        Ok(Found {
            own,
            children,
            outcome,
        })
    }

    /// Keep a failed match for the school's report: who, when, why, and the
    /// directory accounts involved — never the SNILS.
    pub(crate) async fn remember_failure(&self, person: &Person, outcome: &MatchOutcome) {
        let f = MatchFailure {
            at: (self.clock)().timestamp(),
            reason: outcome.label().to_string(),
            oid: person.oid.clone(),
            logins: crate::identity::involved_logins(&self.directory.load(), person),
        };
        if let Err(e) = self.store.record_match_failure(&f).await {
            tracing::error!(error = %e, "cannot record a failed match");
        }
    }

    /// Make `login` the account in use, with its role; a parent with one
    /// child looks at that child at once.
    pub(crate) async fn activate(
        &self,
        record: &mut SessionRecord,
        login: &LegacyLogin,
        request_id: &str,
    ) {
        let dir = self.directory.load();
        record.role = dir.by_login(&login.0).map(|a| a.role);
        record.active = Some(login.clone());
        record.child = None;
        if record.role == Some(Role::Parent) && record.children.len() == 1 {
            record.child = record.children.first().cloned();
        }
        let r = LoginRecord {
            login: login.clone(),
            method: LoginMethod::Esia,
            at: (self.clock)().timestamp(),
        };
        if let Err(e) = self.store.record_login(&r).await {
            tracing::error!(error = %e, "cannot record the login");
        }
        metrics::get()
            .account_logins
            .with_label_values(&["esia", crate::identity::Role::label(record.role)])
            .inc();
        tracing::info!(target: "audit", event = "account_active", request_id, login = %login, oid = %record.oid);
    }

    /// Where the person goes next: choose, link, pick a child, or on.
    pub(crate) fn next_step(&self, record: &SessionRecord) -> String {
        match &record.active {
            None if record.accounts.is_empty() => format!("{GATE_PREFIX}/link"),
            None => format!("{GATE_PREFIX}/accounts"),
            Some(_)
                if record.role == Some(Role::Parent)
                    && record.children.len() > 1
                    && record.child.is_none() =>
            {
                format!("{GATE_PREFIX}/children")
            }
            Some(_) => record
                .return_to
                .clone()
                .unwrap_or_else(|| self.cfg.settings.gateway.default_return.clone()),
        }
    }

    pub(crate) async fn save(&self, current: &Current) -> Result<(), StoreError> {
        let ttl = Duration::from_secs(self.cfg.settings.session.ttl_seconds);
        self.store
            .put_session(&current.id, &current.record, ttl)
            .await
    }

    fn go(&self, path: &str) -> Reply {
        Reply::Redirect {
            location: self.absolute(path),
            cookies: Vec::new(),
        }
    }

    fn page(page: Page) -> Reply {
        Reply::Page {
            page,
            cookies: Vec::new(),
        }
    }

    async fn save_and_go(&self, current: &Current, request_id: &str) -> Reply {
        if let Err(e) = self.save(current).await {
            tracing::error!(request_id, error = %e, "cannot save the session");
            return Self::page(pages::esia_unavailable());
        }
        self.go(&self.next_step(&current.record))
    }

    fn views(
        &self,
        logins: &[LegacyLogin],
        removable: &[LegacyLogin],
        current: Option<&LegacyLogin>,
    ) -> Vec<AccountView> {
        let dir = self.directory.load();
        logins
            .iter()
            .map(|l| {
                let a = dir.by_login(&l.0);
                AccountView {
                    login: l.0.clone(),
                    name: a
                        .map(|a| format!("{} {} {}", a.last_name, a.first_name, a.middle_name))
                        .unwrap_or_else(|| l.0.clone())
                        .trim()
                        .to_string(),
                    role: a.map(|a| a.role.russian()).unwrap_or("учётная запись"),
                    school: a.map(|a| a.school.clone()).unwrap_or_default(),
                    class: a.map(|a| a.class.clone()).unwrap_or_default(),
                    removable: removable.contains(l),
                    current: current == Some(l),
                }
            })
            .collect()
    }

    async fn password_links(&self, current: &Current, kind: LinkKind) -> Vec<LegacyLogin> {
        self.store
            .links_of(&current.record.oid)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.kind == kind && l.source == LinkSource::Password)
            .map(|l| l.login)
            .collect()
    }

    /// The login a form of the gateway's pages names, after its csrf token
    /// is checked; `Err` is the answer to give instead.
    fn form_login(
        &self,
        current: &Current,
        form: &HashMap<String, String>,
        back: &str,
    ) -> Result<LegacyLogin, Reply> {
        if !csrf_ok(&current.record, form) {
            return Err(Self::page(account_pages::form_expired()));
        }
        form.get("login")
            .map(|l| LegacyLogin(l.clone()))
            .ok_or_else(|| self.go(&format!("{GATE_PREFIX}{back}")))
    }

    /// GET `/accounts`.
    pub async fn accounts_page(&self, current: &Current) -> Reply {
        if current.record.accounts.is_empty() {
            return self.go(&format!("{GATE_PREFIX}/link"));
        }
        let removable = self.password_links(current, LinkKind::Own).await;
        let views = self.views(
            &current.record.accounts,
            &removable,
            current.record.active.as_ref(),
        );
        Self::page(account_pages::choose_account(
            &views,
            &current.record.csrf,
            self.checker.is_some(),
        ))
    }

    /// POST `/accounts/select`.
    pub async fn select_account(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        request_id: &str,
    ) -> Reply {
        let login = match self.form_login(&current, form, "/accounts") {
            Ok(l) => l,
            Err(reply) => return reply,
        };
        // Only an account this person may use; anything else is a forgery.
        if !current.record.accounts.contains(&login) {
            tracing::warn!(request_id, "account choice outside the person's accounts");
            return Self::page(account_pages::form_expired());
        }
        self.activate(&mut current.record, &login, request_id).await;
        self.save_and_go(&current, request_id).await
    }

    /// POST `/accounts/unlink`: only accounts linked by password can go.
    pub async fn unlink_account(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        request_id: &str,
    ) -> Reply {
        let login = match self.form_login(&current, form, "/accounts") {
            Ok(l) => l,
            Err(reply) => return reply,
        };
        if !self
            .password_links(&current, LinkKind::Own)
            .await
            .contains(&login)
        {
            return Self::page(account_pages::form_expired());
        }
        match self
            .store
            .remove_link(&current.record.oid, &login, LinkKind::Own)
            .await
        {
            Ok(_) => {
                metrics::get()
                    .links
                    .with_label_values(&["unlink", "ok"])
                    .inc();
                tracing::info!(target: "audit", event = "link_removed", request_id, login = %login, oid = %current.record.oid);
            }
            Err(e) => {
                tracing::error!(request_id, error = %e, "cannot remove a link");
                return Self::page(pages::esia_unavailable());
            }
        }
        current.record.accounts.retain(|l| *l != login);
        if current.record.active.as_ref() == Some(&login) {
            current.record.active = None;
            current.record.child = None;
        }
        self.save_and_go(&current, request_id).await
    }

    /// GET `/link`.
    pub fn link_page(&self, current: &Current) -> Reply {
        if self.checker.is_none() {
            return Self::page(account_pages::linking_disabled());
        }
        let reason = current
            .record
            .unmatched_reason
            .as_deref()
            .map(unmatched_text);
        Self::page(account_pages::link_form(reason, None, &current.record.csrf))
    }

    /// Check a diary login and password, counting failures per ESIA person
    /// and per client address. `Err` carries the page to show instead.
    ///
    /// An attempt is reserved under both limits before the diary is asked,
    /// so requests sent all at once cannot all pass a check made before any
    /// of them is counted: at most `max_failures` of them reach the diary.
    /// Only a wrong password keeps its reservation; a right one, or a diary
    /// that did not answer, gives it back.
    async fn check_password(
        &self,
        current: &Current,
        form: &HashMap<String, String>,
        client: &str,
        request_id: &str,
    ) -> Result<LegacyLogin, Page> {
        let Some((checker, settings)) = self
            .checker
            .as_ref()
            .zip(self.cfg.settings.diary_login.as_ref())
        else {
            return Err(account_pages::linking_disabled());
        };
        let login = form.get("login").map(|s| s.trim()).unwrap_or("");
        let password = form.get("password").map(String::as_str).unwrap_or("");
        let fail = |msg: &str| {
            Err(account_pages::link_form(
                None,
                Some(msg),
                &current.record.csrf,
            ))
        };
        if login.is_empty() || password.is_empty() {
            // Nothing goes to the diary, so nothing is counted.
            return fail("Введите логин и пароль.");
        }
        let keys = [
            format!("link-fail:oid:{}", current.record.oid),
            format!("link-fail:ip:{client}"),
        ];
        let window = Duration::from_secs(settings.window_seconds);
        let mut reserved: Vec<&str> = Vec::with_capacity(keys.len());
        for k in &keys {
            match self
                .store
                .rate_reserve(k, settings.max_failures, window)
                .await
            {
                Ok(Reserved::Granted { .. }) => reserved.push(k),
                Ok(Reserved::Refused { seconds_left }) => {
                    self.release_attempts(&reserved, request_id).await;
                    metrics::get()
                        .links
                        .with_label_values(&["check", "rate_limited"])
                        .inc();
                    tracing::warn!(request_id, "manual linking refused: too many failures");
                    return Err(account_pages::rate_limited(
                        seconds_left.div_ceil(60).max(1),
                    ));
                }
                Err(e) => {
                    self.release_attempts(&reserved, request_id).await;
                    tracing::error!(request_id, error = %e, "rate limit reservation failed");
                    return Err(pages::esia_unavailable());
                }
            }
        }
        match checker.check(login, password).await {
            Ok(Checked::Valid) => {
                // A success is not a failure: the attempt does not count.
                self.release_attempts(&reserved, request_id).await;
                Ok(LegacyLogin(login.to_string()))
            }
            Ok(Checked::Invalid) => {
                // The reservation stays: it is the failure's count.
                metrics::get()
                    .links
                    .with_label_values(&["check", "wrong_password"])
                    .inc();
                tracing::info!(
                    request_id,
                    "diary login or password wrong at manual linking"
                );
                fail("Неверный логин или пароль дневника. Проверьте раскладку и регистр букв.")
            }
            Err(e) => {
                // Not the person's fault: the attempt does not count.
                self.release_attempts(&reserved, request_id).await;
                metrics::get()
                    .links
                    .with_label_values(&["check", "diary_unreachable"])
                    .inc();
                tracing::warn!(request_id, error = %e, "diary login form unreachable");
                Err(account_pages::diary_login_unavailable())
            }
        }
    }

    /// Give back attempts reserved by [`Self::check_password`]. A failure
    /// only leaves the person counted once too often until the window ends,
    /// so it is logged, not shown.
    async fn release_attempts(&self, keys: &[&str], request_id: &str) {
        for k in keys {
            if let Err(e) = self.store.rate_release(k).await {
                tracing::error!(request_id, error = %e, "cannot give back a reserved attempt");
            }
        }
    }

    /// POST `/link`.
    pub async fn link_account(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        client: &str,
        request_id: &str,
    ) -> Reply {
        if !csrf_ok(&current.record, form) {
            return Self::page(account_pages::form_expired());
        }
        let login = match self
            .check_password(&current, form, client, request_id)
            .await
        {
            Ok(l) => l,
            Err(page) => return Self::page(page),
        };
        if self.directory.load().by_login(&login.0).is_none() {
            tracing::warn!(request_id, login = %login, "linked login is not in the directory");
            return Self::page(pages::no_match(
                "Эта учётная запись есть в дневнике, но ещё не попала в справочник шлюза.",
            ));
        }
        let link = AccountLink {
            oid: current.record.oid.clone(),
            login: login.clone(),
            kind: LinkKind::Own,
            source: LinkSource::Password,
            created_at: (self.clock)().timestamp(),
        };
        match self.store.put_link(&link).await {
            Ok(()) => {}
            Err(StoreError::AlreadyLinked) => {
                metrics::get()
                    .links
                    .with_label_values(&["link", "already_linked"])
                    .inc();
                tracing::warn!(request_id, login = %login, "login already linked to another ESIA person");
                return Self::page(account_pages::already_linked());
            }
            Err(e) => {
                tracing::error!(request_id, error = %e, "cannot store the link");
                return Self::page(pages::esia_unavailable());
            }
        }
        metrics::get()
            .links
            .with_label_values(&["link", "ok"])
            .inc();
        tracing::info!(target: "audit", event = "link_made", request_id, login = %login, oid = %current.record.oid);
        push_unique(&mut current.record.accounts, login.clone());
        current.record.unmatched_reason = None;
        self.activate(&mut current.record, &login, request_id).await;
        self.save_and_go(&current, request_id).await
    }

    /// GET `/children`.
    pub async fn children_page(&self, current: &Current, error: Option<&str>) -> Reply {
        let removable = self.password_links(current, LinkKind::Child).await;
        let views = self.views(
            &current.record.children,
            &removable,
            current.record.child.as_ref(),
        );
        Self::page(account_pages::children(
            &views,
            &current.record.csrf,
            error,
            self.checker.is_some(),
        ))
    }

    /// POST `/children/select`.
    pub async fn select_child(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        request_id: &str,
    ) -> Reply {
        let login = match self.form_login(&current, form, "/children") {
            Ok(l) => l,
            Err(reply) => return reply,
        };
        if !current.record.children.contains(&login) {
            return Self::page(account_pages::form_expired());
        }
        tracing::info!(target: "audit", event = "child_chosen", request_id, child = %login, oid = %current.record.oid);
        current.record.child = Some(login);
        self.save_and_go(&current, request_id).await
    }

    /// POST `/children/attach`: a child's diary login and password.
    pub async fn attach_child(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        client: &str,
        request_id: &str,
    ) -> Reply {
        if !csrf_ok(&current.record, form) {
            return Self::page(account_pages::form_expired());
        }
        let login = match self
            .check_password(&current, form, client, request_id)
            .await
        {
            Ok(l) => l,
            Err(_) => {
                // The linking form is the wrong page here: show the list
                // with the reason instead.
                return self
                    .children_page(
                        &current,
                        Some("Не удалось привязать: неверный логин или пароль ребёнка, или попыток было слишком много — попробуйте позже."),
                    )
                    .await;
            }
        };
        let is_student = self
            .directory
            .load()
            .by_login(&login.0)
            .is_some_and(|a| a.role == Role::Student);
        if !is_student {
            metrics::get()
                .links
                .with_label_values(&["child", "not_a_student"])
                .inc();
            return self
                .children_page(
                    &current,
                    Some("Это не учётная запись ученика. Введите логин и пароль, которые школа выдала ребёнку."),
                )
                .await;
        }
        let link = AccountLink {
            oid: current.record.oid.clone(),
            login: login.clone(),
            kind: LinkKind::Child,
            source: LinkSource::Password,
            created_at: (self.clock)().timestamp(),
        };
        if let Err(e) = self.store.put_link(&link).await {
            tracing::error!(request_id, error = %e, "cannot store the child link");
            return Self::page(pages::esia_unavailable());
        }
        metrics::get()
            .links
            .with_label_values(&["child", "ok"])
            .inc();
        tracing::info!(target: "audit", event = "child_linked", request_id, child = %login, oid = %current.record.oid);
        push_unique(&mut current.record.children, login.clone());
        current.record.child = Some(login);
        if let Err(e) = self.save(&current).await {
            tracing::error!(request_id, error = %e, "cannot save the session");
        }
        self.go(&format!("{GATE_PREFIX}/children"))
    }

    /// POST `/children/remove`: only children attached by password.
    pub async fn remove_child(
        &self,
        mut current: Current,
        form: &HashMap<String, String>,
        request_id: &str,
    ) -> Reply {
        let login = match self.form_login(&current, form, "/children") {
            Ok(l) => l,
            Err(reply) => return reply,
        };
        if !self
            .password_links(&current, LinkKind::Child)
            .await
            .contains(&login)
        {
            return Self::page(account_pages::form_expired());
        }
        if let Err(e) = self
            .store
            .remove_link(&current.record.oid, &login, LinkKind::Child)
            .await
        {
            tracing::error!(request_id, error = %e, "cannot remove the child link");
            return Self::page(pages::esia_unavailable());
        }
        tracing::info!(target: "audit", event = "child_unlinked", request_id, child = %login, oid = %current.record.oid);
        current.record.children.retain(|l| *l != login);
        if current.record.child.as_ref() == Some(&login) {
            current.record.child = None;
        }
        if let Err(e) = self.save(&current).await {
            tracing::error!(request_id, error = %e, "cannot save the session");
        }
        self.go(&format!("{GATE_PREFIX}/children"))
    }
}
