//! The diary's accounts as a school administrator exports them (CSV, UTF-8,
//! header row) or as a read-only SQL query returns them (see
//! [`super::source`]). Bad rows are reported with their row number and
//! skipped; an account whose SNILS is unusable is kept, without a SNILS, and
//! listed for the school's report.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use super::LegacyLogin;
use super::names::NormalFio;
use super::snils::{Snils, SnilsError};
use super::text::CsvEncoding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Staff,
    Parent,
    Student,
}

impl Role {
    /// The role as a bounded metric label: `unknown` when the account is
    /// not (or no longer) in the directory.
    pub fn label(role: Option<Role>) -> &'static str {
        role.map_or("unknown", Role::as_str)
    }

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
    /// The diary says the account has logged in before (an optional
    /// `last_login` column, any non-empty value): for a policy's
    /// `existing_users` from the gateway's first day, before it has seen
    /// anyone log in.
    pub logged_in_before: bool,
    /// The diary logins of this person's children (a parent's row), from
    /// the optional `children` column: how the reports find a parent's
    /// classes, for parents who never logged in too.
    pub children: Vec<LegacyLogin>,
}

/// A row that was skipped, and why. The reason never holds a SNILS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// In a CSV file, the 1-based line number, the header being line 1; in
    /// a query's result, the 1-based row number.
    pub row: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Directory {
    accounts: Vec<Account>,
    /// Positions in `accounts` sorted by login, for [`Directory::by_login`]
    /// (asked on every proxied request): 4 bytes an account, where a map
    /// of logins would cost some 60.
    by_login: Vec<u32>,
    /// Accounts by school, for a report of one school.
    by_school: super::schools::SchoolIndex,
    by_snils: HashMap<String, Vec<usize>>,
    by_fio: HashMap<NormalFio, Vec<usize>>,
    skipped: Vec<RowProblem>,
    /// The encoding a CSV file was read in (`None` for a query).
    encoding: Option<&'static str>,
}

/// The columns every source must give, by name, in any order.
pub const COLUMNS: [&str; 9] = [
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

/// Columns a source may give besides [`COLUMNS`]: `last_login` (the
/// diary saw the account log in) and `children` (the diary logins of a
/// parent's children, separated by spaces, commas or semicolons).
pub const OPTIONAL_COLUMNS: [&str; 2] = ["last_login", "children"];

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
        let key = |i: &u32| self.accounts[*i as usize].login.0.as_str();
        let at = self.by_login.partition_point(|i| key(i) < login);
        self.by_login
            .get(at)
            .filter(|i| key(i) == login)
            .map(|i| &self.accounts[*i as usize])
    }

    /// Sorts the login index, then indexes the schools; after the last
    /// [`Directory::push`]. A stable sort: of repeated logins, the first row
    /// is found.
    fn index_logins(&mut self) {
        let n = u32::try_from(self.accounts.len()).unwrap_or(u32::MAX);
        let mut idx: Vec<u32> = (0..n).collect();
        idx.sort_by(|a, b| {
            self.accounts[*a as usize]
                .login
                .0
                .cmp(&self.accounts[*b as usize].login.0)
        });
        self.by_login = idx;
        // Each account's schools: its own, and its pupils' for a parent.
        let schools = self.accounts.iter().map(|a| {
            std::iter::once(a.school.as_str()).chain(a.children.iter().filter_map(|c| {
                self.by_login(&c.0)
                    .filter(|k| k.role == Role::Student)
                    .map(|k| k.school.as_str())
            }))
        });
        self.by_school = super::schools::SchoolIndex::build(schools);
    }

    /// The accounts of `school` (any case), with the parents of its pupils.
    pub fn school_accounts(&self, school: &str) -> impl Iterator<Item = &Account> {
        self.by_school
            .get(school)
            .iter()
            .filter_map(|i| self.accounts.get(*i as usize))
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

    /// Accounts whose SNILS in the diary is missing or failed its check
    /// (`snils_problem` says why): they cannot be matched by SNILS, and the
    /// school's report lists them so that the profiles get fixed.
    pub fn invalid_snils_accounts(&self) -> Vec<&Account> {
        self.accounts
            .iter()
            .filter(|a| a.snils.is_none() || a.snils_problem.is_some())
            .collect()
    }

    /// The rows the last load skipped, and why.
    pub fn skipped_rows(&self) -> &[RowProblem] {
        &self.skipped
    }

    pub fn from_accounts(accounts: Vec<Account>) -> Self {
        let mut d = Directory::default();
        for a in accounts {
            d.push(a);
        }
        d.index_logins();
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

    pub fn load_csv(
        path: &Path,
        encoding: CsvEncoding,
    ) -> Result<(Self, Vec<RowProblem>), DirectoryError> {
        let bytes =
            std::fs::read(path).map_err(|e| DirectoryError::Read(path.display().to_string(), e))?;
        Self::parse_csv_in(&bytes, &path.display().to_string(), encoding)
    }

    /// A CSV file's bytes, the encoding detected.
    pub fn parse_csv(bytes: &[u8], name: &str) -> Result<(Self, Vec<RowProblem>), DirectoryError> {
        Self::parse_csv_in(bytes, name, CsvEncoding::Detect)
    }

    /// The encoding a CSV file was read in (`UTF-8`, `windows-1251`, ...).
    pub fn encoding(&self) -> Option<&'static str> {
        self.encoding
    }

    pub fn parse_csv_in(
        bytes: &[u8],
        name: &str,
        encoding: CsvEncoding,
    ) -> Result<(Self, Vec<RowProblem>), DirectoryError> {
        let (text, used) = super::text::decode(bytes, encoding)
            .map_err(|e| DirectoryError::Csv(name.into(), e))?;
        let bytes = text.as_bytes();
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter(bytes))
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
        let missing = missing_columns(header.iter());
        if !missing.is_empty() {
            return Err(DirectoryError::Header(
                name.into(),
                COLUMNS.join(","),
                missing.join(","),
            ));
        }
        let col = |c: &str| pos.get(c).copied().unwrap_or(usize::MAX);
        let mut builder = DirectoryBuilder::default();
        for (i, rec) in rdr.records().enumerate() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let row = e.position().map_or(i + 2, |p| p.line() as usize);
                    // The csv error names a line and a byte offset, never a
                    // cell's content.
                    builder.skip(row, format!("unreadable row: {e}"));
                    continue;
                }
            };
            let row = rec.position().map_or(i + 2, |p| p.line() as usize);
            builder.add_row(row, &|c: &str| rec.get(col(c)).unwrap_or("").to_string());
        }
        builder.dir.encoding = Some(used);
        Ok(builder.finish())
    }
}

/// The field separator, told from the header line: a comma, or the
/// semicolon or tab that spreadsheets in Russian locales write.
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&d| (count(d), d == b','))
        .unwrap_or(b',')
}

/// The columns of [`COLUMNS`] missing from a header, in [`COLUMNS`] order.
/// Names are compared trimmed and in lower case.
pub fn missing_columns<'a>(header: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let have: std::collections::HashSet<String> = header
        .into_iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    COLUMNS
        .iter()
        .copied()
        .filter(|c| !have.contains(*c))
        .collect()
}

/// Builds a directory row by row, from any source: bad rows and repeated
/// logins are recorded as [`RowProblem`]s, never fatal.
#[derive(Debug, Default)]
pub struct DirectoryBuilder {
    dir: Directory,
    seen: HashMap<String, usize>,
}

impl DirectoryBuilder {
    /// Adds one row; `get` gives a column's value by its name in
    /// [`COLUMNS`], trimmed, empty when absent or NULL.
    pub fn add_row(&mut self, row: usize, get: &dyn Fn(&str) -> String) {
        match parse_row(get) {
            Ok(acc) => {
                if let Some(first) = self.seen.get(&acc.login.0) {
                    let reason = format!(
                        "login `{}` already on row {first}; this row is skipped",
                        acc.login
                    );
                    self.skip(row, reason);
                    return;
                }
                self.seen.insert(acc.login.0.clone(), row);
                self.dir.push(acc);
            }
            Err(reason) => self.skip(row, reason),
        }
    }

    /// Records a row that could not be read at all.
    pub fn skip(&mut self, row: usize, reason: String) {
        self.dir.skipped.push(RowProblem { row, reason });
    }

    /// The directory, and the rows it skipped (also kept in
    /// [`Directory::skipped_rows`]).
    pub fn finish(mut self) -> (Directory, Vec<RowProblem>) {
        self.dir.index_logins();
        let problems = self.dir.skipped.clone();
        (self.dir, problems)
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
        // A database may give a timestamp at midnight for a date.
        let day = match bd.split_once([' ', 'T']) {
            Some((d, _)) => d,
            None => bd.as_str(),
        };
        Some(
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
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
        logged_in_before: !get("last_login").is_empty(),
        children: get("children")
            .split([' ', ',', ';', '\t'])
            .filter(|l| !l.is_empty())
            .map(|l| LegacyLogin(l.to_string()))
            .collect(),
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
    fn accounts_with_a_bad_or_no_snils_are_listed_for_the_report() {
        let (dir, problems) = Directory::parse_csv(CSV.as_bytes(), "t.csv").expect("parses");
        let listed: Vec<(&str, Option<SnilsError>)> = dir
            .invalid_snils_accounts()
            .iter()
            .map(|a| (a.login.0.as_str(), a.snils_problem.clone()))
            .collect();
        assert_eq!(listed, vec![("bad.snils", Some(SnilsError::Checksum))]);
        assert_eq!(dir.skipped_rows(), problems.as_slice());
        let with_empty = format!("{CSV}no.snils,Орлова,Анна,,,parent,,СШ №5,\n");
        let (dir, _) = Directory::parse_csv(with_empty.as_bytes(), "t.csv").expect("parses");
        let logins: Vec<&str> = dir
            .invalid_snils_accounts()
            .iter()
            .map(|a| a.login.0.as_str())
            .collect();
        assert_eq!(logins, vec!["bad.snils", "no.snils"]);
    }

    #[test]
    fn row_problems_never_show_the_snils_column() {
        let text = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
x,Иванов,Иван,,112-233-445 96,pupil,,СШ №5,\n\
y,Иванов,Иван,,112-233-445 95,student,01.01.2010,СШ №5,\n";
        let (_, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert_eq!(problems.len(), 2);
        for p in &problems {
            assert!(!p.reason.contains("233"), "{}", p.reason);
        }
    }

    #[test]
    fn a_spreadsheet_export_with_semicolons_and_quoted_lines_reads_the_same() {
        let text = "login;last_name;first_name;middle_name;snils;role;birth_date;school;class\n\
ivanova;Иванова;Мария;Петровна;112-233-445 95;parent;1985-03-02;\"СШ №5;\nкорпус 2\";\n\
;Без;Логина;;;parent;;СШ №5;\n";
        let (dir, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert_eq!(dir.accounts().len(), 1);
        assert_eq!(
            dir.by_login("ivanova").map(|a| a.school.as_str()),
            Some("СШ №5;\nкорпус 2")
        );
        // The quoted school spans lines 2 and 3: the bad row is on line 4.
        assert_eq!(problems.iter().map(|p| p.row).collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn a_birth_date_given_as_a_midnight_timestamp_is_a_date() {
        let text = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n\
a,Иванов,Иван,,,student,2010-01-02 00:00:00,СШ №5,5А\n";
        let (dir, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            dir.by_login("a").and_then(|a| a.birth_date),
            NaiveDate::from_ymd_opt(2010, 1, 2)
        );
    }

    #[test]
    fn a_last_login_column_marks_the_accounts_the_diary_saw_log_in() {
        let text = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class,last_login\n\
old,Старов,Иван,,,parent,,СШ №5,,2017-05-20\n\
new,Новиков,Пётр,,,parent,,СШ №5,,\n";
        let (dir, _) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert!(dir.by_login("old").is_some_and(|a| a.logged_in_before));
        assert!(dir.by_login("new").is_some_and(|a| !a.logged_in_before));
        // Without the column nobody is marked.
        let (dir, _) = Directory::parse_csv(CSV.as_bytes(), "t.csv").expect("parses");
        assert!(dir.accounts().iter().all(|a| !a.logged_in_before));
    }

    #[test]
    fn a_parent_row_may_list_the_childrens_logins() {
        let text = "login;last_name;first_name;middle_name;snils;role;birth_date;school;class;children\n\
petrov.parent;Петров;Сергей;;;parent;;СШ №5;;\"petrova.d, petrov.k\"\n\
petrova.d;Петрова;Дарья;;;student;;СШ №5;7Б;\n\
ivanova;Иванова;Мария;;;parent;;СШ №5;\n";
        let (dir, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert!(problems.is_empty(), "{problems:?}");
        let kids: Vec<&str> = dir
            .by_login("petrov.parent")
            .map(|a| a.children.iter().map(|l| l.0.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kids, vec!["petrova.d", "petrov.k"]);
        // Without the column (or the cell), nobody has children listed.
        assert!(
            dir.by_login("ivanova")
                .is_some_and(|a| a.children.is_empty())
        );
    }

    #[test]
    fn a_missing_column_is_an_error_naming_it() {
        let e = Directory::parse_csv(b"login,last_name\n", "t.csv").expect_err("header");
        assert!(e.to_string().contains("snils"), "{e}");
    }

    #[test]
    fn every_account_is_found_by_its_login_in_a_large_directory() {
        let mut text = String::from(
            "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n",
        );
        // Logins out of order, some sharing prefixes.
        let n = 5000u64;
        for i in 0..n {
            let k = (i * 7919) % n;
            text.push_str(&format!("u{k},Иванов,Иван,,,parent,,СШ №{},\n", k % 50));
        }
        let (dir, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert!(problems.is_empty());
        for k in 0..n {
            let login = format!("u{k}");
            assert_eq!(
                dir.by_login(&login).map(|a| a.login.0.as_str()),
                Some(login.as_str())
            );
        }
        for missing in ["", "u", "u5000", "v1", "u00"] {
            assert!(dir.by_login(missing).is_none(), "{missing}");
        }
        // Of repeated logins (accounts given directly), the first is found.
        let mut twice: Vec<Account> = dir.accounts()[..2].to_vec();
        let mut second = twice[0].clone();
        second.school = "другая".into();
        twice.push(second);
        let d = Directory::from_accounts(twice);
        let first = &dir.accounts()[0];
        assert_eq!(
            d.by_login(&first.login.0).map(|a| a.school.as_str()),
            Some(first.school.as_str())
        );
    }
}
