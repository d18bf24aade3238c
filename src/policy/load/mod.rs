//! Reading a policy file: TOML into [`Policy`], every problem reported as
//! `FILE:LINE:COLUMN: what is wrong`, pointing at the offending value.
//! Unknown keys are errors; banner and page HTML is sanitised here, once.
//!
//! Here: the errors, reading and parsing; the file's shape is in `raw`,
//! the checks in `policy` (the top level), `routes` and `stages`, the HTML
//! cleaning in `sanitise`.

mod policy;
mod raw;
mod routes;
mod sanitise;
mod stages;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;
use std::path::Path;

use super::model::Policy;
use raw::RawPolicy;

pub use sanitise::sanitise;

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, in file order; the Display shows one per line.
    #[error("{}", Problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// One problem at a place in the file (1-based line and column, columns
/// counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Problems<'a>(&'a String, &'a Vec<Problem>);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.0, p.line, p.column, p.message)?;
        }
        Ok(())
    }
}

/// Read and check a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &src)
}

/// Check a policy given as text; `file` names it in errors.
pub fn parse(file: &str, src: &str) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
        PolicyError::Invalid {
            file: file.to_string(),
            problems: vec![Problem {
                line,
                column,
                message: e.message().trim().replace('\n', ": "),
            }],
        }
    })?;
    let mut cx = Checker {
        src,
        problems: Vec::new(),
    };
    let policy = cx.policy(raw);
    if cx.problems.is_empty() {
        Ok(policy)
    } else {
        cx.problems.sort_by_key(|p| (p.line, p.column));
        Err(PolicyError::Invalid {
            file: file.to_string(),
            problems: cx.problems,
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

struct Checker<'a> {
    src: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }
}
