//! The diary's accounts as a school administrator exports them (CSV, UTF-8,
//! header row). Bad rows are reported with their row number and skipped.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use super::LegacyLogin;
use super::names::NormalFio;
use super::snils::{Snils, SnilsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Staff,
    Parent,
    Student,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "staff" => Some(Self::Staff),
            "parent" => Some(Self::Parent),
            "student" => Some(Self::Student),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Parent => "parent",
            Self::Student => "student",
        }
    }

    /// How the role is called on the user's pages.
    pub fn russian(self) -> &'static str {
        match self {
            Self::Staff => "сотрудник",
            Self::Parent => "родитель",
            Self::Student => "учащийся",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub login: LegacyLogin,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub fio: NormalFio,
    pub snils: Option<Snils>,
    /// Why the SNILS in the diary is unusable, when it is.
    pub snils_problem: Option<SnilsError>,
    pub role: Role,
    pub birth_date: Option<NaiveDate>,
    pub school: String,
    pub class: String,
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// 1-based line number in the file, the header being line 1.
    pub row: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Directory {
    accounts: Vec<Account>,
    by_snils: HashMap<String, Vec<usize>>,
    by_fio: HashMap<NormalFio, Vec<usize>>,
}

const COLUMNS: [&str; 9] = [
    "login",
    "last_name",
    "first_name",
    "middle_name",
    "snils",
    "role",
    "birth_date",
    "school",
    "class",
];

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: the header must name the columns {1}; missing: {2}")]
    Header(String, String, String),
    #[error("{0}: {1}")]
    Csv(String, String),
}

impl Directory {
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn get(&self, i: usize) -> Option<&Account> {
        self.accounts.get(i)
    }

    pub fn by_login(&self, login: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.login.0 == login)
    }

    pub fn with_snils(&self, snils: &Snils) -> &[usize] {
        self.by_snils
            .get(snils.digits())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn with_fio(&self, fio: &NormalFio) -> &[usize] {
        self.by_fio.get(fio).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn from_accounts(accounts: Vec<Account>) -> Self {
        let mut d = Directory::default();
        for a in accounts {
            d.push(a);
        }
        d
    }

    fn push(&mut self, a: Account) {
        let i = self.accounts.len();
        if let Some(s) = &a.snils {
            self.by_snils
                .entry(s.digits().to_string())
                .or_default()
                .push(i);
        }
        self.by_fio.entry(a.fio.clone()).or_default().push(i);
        self.accounts.push(a);
    }

    pub fn load_csv(path: &Path) -> Result<(Self, Vec<RowProblem>), DirectoryError> {
        let bytes =
            std::fs::read(path).map_err(|e| DirectoryError::Read(path.display().to_string(), e))?;
        Self::parse_csv(&bytes, &path.display().to_string())
    }

    pub fn parse_csv(bytes: &[u8], name: &str) -> Result<(Self, Vec<RowProblem>), DirectoryError> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header = rdr
            .headers()
            .map_err(|e| DirectoryError::Csv(name.into(), e.to_string()))?
            .clone();
        let pos: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_lowercase(), i))
            .collect();
        let missing: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| !pos.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return Err(DirectoryError::Header(
                name.into(),
                COLUMNS.join(","),
                missing.join(","),
            ));
        }
        let col = |c: &str| pos.get(c).copied().unwrap_or(usize::MAX);
        let mut dir = Directory::default();
        let mut problems = Vec::new();
        let mut seen = HashMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let row = i + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    problems.push(RowProblem {
                        row,
                        reason: format!("unreadable row: {e}"),
                    });
                    continue;
                }
            };
            let get = |c: &str| rec.get(col(c)).unwrap_or("").to_string();
            match parse_row(&get) {
                Ok(acc) => {
                    if let Some(first) = seen.insert(acc.login.0.clone(), row) {
                        problems.push(RowProblem {
                            row,
                            reason: format!(
                                "login `{}` already on row {first}; this row is skipped",
                                acc.login
                            ),
                        });
                        continue;
                    }
                    dir.push(acc);
                }
                Err(reason) => problems.push(RowProblem { row, reason }),
            }
        }
        Ok((dir, problems))
    }
}

fn parse_row(get: &dyn Fn(&str) -> String) -> Result<Account, String> {
    let login = get("login");
    if login.is_empty() {
        return Err("empty login".into());
    }
    let (last, first, middle) = (get("last_name"), get("first_name"), get("middle_name"));
    if last.is_empty() || first.is_empty() {
        return Err(format!(
            "account `{login}`: last_name and first_name are required"
        ));
    }
    let role_s = get("role");
    let role = Role::parse(&role_s).ok_or_else(|| {
        format!("account `{login}`: role `{role_s}` is not one of staff, parent, student")
    })?;
    let bd = get("birth_date");
    let birth_date = if bd.is_empty() {
        None
    } else {
        Some(
            NaiveDate::parse_from_str(&bd, "%Y-%m-%d")
                .map_err(|_| format!("account `{login}`: birth_date `{bd}` is not YYYY-MM-DD"))?,
        )
    };
    // A bad SNILS does not skip the account: it can still be linked by
    // login and password, and the school sees it in the report.
    let raw = get("snils");
    let (snils, snils_problem) = if raw.is_empty() {
        (None, None)
    } else {
        match Snils::parse(&raw) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        }
    };
    Ok(Account {
        fio: NormalFio::new(&last, &first, &middle),
        login: LegacyLogin(login),
        last_name: last,
        first_name: first,
        middle_name: middle,
        snils,
        snils_problem,
        role,
        birth_date,
        school: get("school"),
        class: get("class"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,1985-03-02,СШ №5,\n\
,Без,Логина,,,parent,,СШ №5,\n\
bad.role,Петров,Пётр,,,teacher,,СШ №5,\n\
bad.date,Петров,Пётр,,,staff,02.03.1985,СШ №5,\n\
bad.snils,Сидоров,Иван,,112-233-445 96,student,2010-01-01,СШ №5,5А\n\
ivanova,Иванова,Мария,Петровна,,parent,,СШ №5,\n";

    #[test]
    fn bad_rows_are_reported_with_their_number_and_skipped() {
        let (dir, problems) = Directory::parse_csv(CSV.as_bytes(), "t.csv").expect("parses");
        assert_eq!(dir.accounts().len(), 2);
        let rows: Vec<usize> = problems.iter().map(|p| p.row).collect();
        assert_eq!(rows, vec![3, 4, 5, 7]);
        let bad = dir.by_login("bad.snils").expect("kept");
        assert_eq!(bad.snils_problem, Some(SnilsError::Checksum));
        assert!(bad.snils.is_none());
    }

    #[test]
    fn a_missing_column_is_an_error_naming_it() {
        let e = Directory::parse_csv(b"login,last_name\n", "t.csv").expect_err("header");
        assert!(e.to_string().contains("snils"), "{e}");
    }
}
