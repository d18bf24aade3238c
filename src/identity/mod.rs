//! Identity: the diary's directory of accounts, normalisation of what ESIA
//! and the diary say about a person, and matching. Knows nothing of ESIA's
//! wire format: it receives a [`Person`] already parsed.

pub mod directory;
pub mod matching;
pub mod names;
pub mod schools;
pub mod snils;
pub mod source;
pub mod text;

pub use directory::{Account, Directory, Role};
pub use matching::{MatchOutcome, WithoutSnils, involved_logins, match_person, match_person_with};
pub use snils::Snils;
pub use source::{DirectorySource, Refresh, SourceError};

use chrono::NaiveDate;

use crate::policy::TrustLevel;

/// ESIA's object id of a person: a number, kept as its decimal string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EsiaOid(pub String);

impl std::fmt::Display for EsiaOid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The login of an account in the legacy diary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LegacyLogin(pub String);

impl std::fmt::Display for LegacyLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What ESIA tells about the person who logged in.
#[derive(Debug, Clone)]
pub struct Person {
    pub oid: EsiaOid,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub birth_date: Option<NaiveDate>,
    pub snils: Option<Snils>,
    /// A confirmed («подтверждённая») ESIA account.
    pub trusted: bool,
    /// Children attached to the person's ESIA account (parents only; asked
    /// with the `kid_*` scopes).
    pub children: Vec<Person>,
}

impl Person {
    /// The account's level: confirmed when ESIA says `trusted`; standard
    /// when it holds a SNILS (ESIA hands one out only once checked, and
    /// sends no other sign of a standard account); simplified otherwise.
    pub fn level(&self) -> TrustLevel {
        TrustLevel::of(self.trusted, self.snils.is_some())
    }
}
