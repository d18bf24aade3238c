//! Which diary accounts and children an ESIA person may use: directory
//! matches (FIO + SNILS) and links made earlier, skipping accounts another
//! ESIA person owns; and, when nothing matched, why ([`Unmatched`]), for
//! the linking page and the school's report.

use serde::{Deserialize, Serialize};

use super::Auth;
use crate::identity::{
    Directory, LegacyLogin, MatchOutcome, Person, Role, match_person, match_person_with,
};
use crate::store::{LinkKind, MatchFailure, StoreError};

/// What the gateway found for a person who just came back from ESIA.
pub struct Found {
    pub own: Vec<LegacyLogin>,
    pub children: Vec<LegacyLogin>,
    pub outcome: MatchOutcome,
}

/// Why a person has no diary account to open. Kept in the session (as
/// [`Unmatched::as_str`], the match outcome labels) for the linking page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// ESIA gave no SNILS (a simplified account, or no consent to it).
    NoSnilsFromEsia,
    /// The SNILS is in the diary, under another name.
    FioDiffers,
    /// Someone of that name is in the diary, without that SNILS.
    SnilsNotInDiary,
    /// Nobody of that name or SNILS.
    Nothing,
    /// The accounts that matched are linked to another ESIA person. Stored
    /// before as the outcome's own label, `one` or `several`.
    #[serde(alias = "one", alias = "several")]
    LinkedElsewhere,
}

impl Unmatched {
    /// Why nothing could be opened after `outcome`.
    pub fn of(outcome: &MatchOutcome) -> Self {
        match outcome {
            MatchOutcome::NoSnilsFromEsia => Self::NoSnilsFromEsia,
            MatchOutcome::FioDiffers => Self::FioDiffers,
            MatchOutcome::SnilsNotInDiary => Self::SnilsNotInDiary,
            MatchOutcome::Nothing => Self::Nothing,
            MatchOutcome::One(_) | MatchOutcome::ByBirthDate(_) | MatchOutcome::Several(_) => {
                Self::LinkedElsewhere
            }
        }
    }

    /// The stored form (and log word).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSnilsFromEsia => "no_snils_from_esia",
            Self::FioDiffers => "fio_differs",
            Self::SnilsNotInDiary => "snils_not_in_diary",
            Self::Nothing => "nothing",
            Self::LinkedElsewhere => "linked_elsewhere",
        }
    }

    /// Read the stored form; anything unknown reads as "nothing found".
    pub fn parse(s: &str) -> Self {
        match s {
            "no_snils_from_esia" => Self::NoSnilsFromEsia,
            "fio_differs" => Self::FioDiffers,
            "snils_not_in_diary" => Self::SnilsNotInDiary,
            "linked_elsewhere" | "one" | "several" => Self::LinkedElsewhere,
            _ => Self::Nothing,
        }
    }

    /// What the person reads about it.
    pub fn text(self) -> &'static str {
        match self {
            Self::NoSnilsFromEsia => {
                "В Госуслугах не указан или не подтверждён СНИЛС, поэтому мы не нашли вас в дневнике автоматически."
            }
            Self::FioDiffers => {
                "Ваш СНИЛС есть в дневнике, но фамилия, имя или отчество записаны там иначе, чем в Госуслугах."
            }
            Self::SnilsNotInDiary => {
                "Человек с вашими ФИО есть в дневнике, но СНИЛС в его профиле не указан или отличается от СНИЛС в Госуслугах."
            }
            Self::Nothing | Self::LinkedElsewhere => {
                "В дневнике нет учётной записи с вашими ФИО и СНИЛС из Госуслуг."
            }
        }
    }
}

pub(crate) fn push_unique(v: &mut Vec<LegacyLogin>, l: LegacyLogin) {
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

impl Auth {
    /// Accounts and children of a person: directory matches and durable
    /// links together, skipping accounts that another ESIA person owns.
    pub async fn find_accounts(
        &self,
        person: &Person,
        request_id: &str,
    ) -> Result<Found, StoreError> {
        let links = self.store.links_of(&person.oid).await?;
        let dir = self.directory.load_full();
        let rule = self.cfg.settings.directory.match_without_snils;
        let outcome = match_person_with(&dir, person, rule);
        let matched: Vec<LegacyLogin> = match &outcome {
            MatchOutcome::One(i) | MatchOutcome::ByBirthDate(i) => {
                dir.get(*i).map(|a| a.login.clone()).into_iter().collect()
            }
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

    /// Keep a failed match for the school's report: who (the name ESIA
    /// gave), when, why, and the directory accounts involved — never the
    /// SNILS.
    pub async fn remember_failure(&self, person: &Person, outcome: &MatchOutcome) {
        let f = MatchFailure {
            at: self.now().timestamp(),
            reason: outcome.label().to_string(),
            oid: person.oid.clone(),
            logins: crate::identity::involved_logins(&self.directory.load(), person),
            display_name: Some(
                [&person.last_name, &person.first_name, &person.middle_name]
                    .map(|s| s.trim())
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        if let Err(e) = self.store.record_match_failure(&f).await {
            tracing::error!(error = %e, "cannot record a failed match");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_reasons_are_the_match_outcome_labels() {
        for (outcome, stored) in [
            (MatchOutcome::NoSnilsFromEsia, "no_snils_from_esia"),
            (MatchOutcome::FioDiffers, "fio_differs"),
            (MatchOutcome::SnilsNotInDiary, "snils_not_in_diary"),
            (MatchOutcome::Nothing, "nothing"),
        ] {
            let u = Unmatched::of(&outcome);
            assert_eq!(u.as_str(), outcome.label());
            assert_eq!(u.as_str(), stored);
            assert_eq!(Unmatched::parse(stored), u);
            assert_eq!(
                serde_json::to_string(&u).expect("json"),
                format!("\"{stored}\"")
            );
        }
        // Sessions written before the enum said `one` or `several` when the
        // matched accounts belonged to someone else.
        for old in ["one", "several"] {
            assert_eq!(Unmatched::parse(old), Unmatched::LinkedElsewhere);
            let read: Unmatched = serde_json::from_str(&format!("\"{old}\"")).expect("json");
            assert_eq!(read, Unmatched::LinkedElsewhere);
        }
        assert_eq!(Unmatched::parse("made up"), Unmatched::Nothing);
        assert_eq!(Unmatched::LinkedElsewhere.text(), Unmatched::Nothing.text());
    }
}
