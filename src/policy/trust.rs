//! ESIA account levels: what a stage wants ([`Trust`]: `any`, `standard`,
//! `confirmed`), what an account has ([`TrustLevel`]: simplified,
//! standard, confirmed), whether one admits the other, and which of the
//! region's confirmation texts a want picks.

use std::fmt;

use super::texts::{ConfirmPage, ConfirmTexts};

/// The least ESIA account level a stage lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// Any ESIA account (simplified, standard or confirmed).
    Any,
    /// Standard or confirmed accounts: the person's documents and SNILS
    /// were checked («Дневник-ПОО»: «как минимум стандартная»).
    Standard,
    /// Only confirmed accounts (`trusted`, Arkhangelsk 2024).
    Confirmed,
}

impl Trust {
    pub const ALL: [Trust; 3] = [Self::Any, Self::Standard, Self::Confirmed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Standard => "standard",
            Self::Confirmed => "confirmed",
        }
    }

    /// Whether an account of `level` is let in.
    pub fn admits(self, level: TrustLevel) -> bool {
        match self {
            Self::Any => true,
            Self::Standard => level >= TrustLevel::Standard,
            Self::Confirmed => level == TrustLevel::Confirmed,
        }
    }
}

impl ConfirmTexts {
    /// The texts for a stage wanting `need` (`any` never sends anyone to
    /// the page; it reads as `standard`).
    pub fn for_trust(&self, need: Trust) -> &ConfirmPage {
        match need {
            Trust::Confirmed => &self.confirmed,
            Trust::Standard | Trust::Any => &self.standard,
        }
    }
}

/// An ESIA account's level. ESIA says "confirmed" outright (`trusted`,
/// the id token's `lvl = PR`); it has no word for "standard", which is
/// told by what the account holds: a SNILS, which ESIA hands out only once
/// it has checked it. Anything less is a simplified account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TrustLevel {
    /// «Упрощённая»: a name and a phone or an e-mail.
    Simplified,
    /// «Стандартная»: documents and SNILS checked.
    Standard,
    /// «Подтверждённая»: identity confirmed in person, by a bank or a code.
    Confirmed,
}

impl TrustLevel {
    pub const ALL: [TrustLevel; 3] = [Self::Simplified, Self::Standard, Self::Confirmed];

    /// The level of an account ESIA marked `trusted` (or not), holding a
    /// checked SNILS (or not).
    pub fn of(trusted: bool, has_snils: bool) -> Self {
        match (trusted, has_snils) {
            (true, _) => Self::Confirmed,
            (false, true) => Self::Standard,
            (false, false) => Self::Simplified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simplified => "simplified",
            Self::Standard => "standard",
            Self::Confirmed => "confirmed",
        }
    }

    /// As Госуслуги call it, for the person's pages («у вас … учётная запись»).
    pub fn russian(self) -> &'static str {
        match self {
            Self::Simplified => "упрощённая",
            Self::Standard => "стандартная",
            Self::Confirmed => "подтверждённая",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
