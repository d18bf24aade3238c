//! `policy timeline`: the stages as a table of start dates × roles, each
//! cell a short summary of the stage in force.

use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::policy::model::{PasswordLogin, Policy, PolicyRole, Stage, Visibility};

/// A stage in a table cell: `pw:existing grades:hide/rewrite trust:any`,
/// plus `anon:esia`, `+banner`, other classes and `(shadow)` when they apply.
pub fn stage_summary(stage: &Stage) -> String {
    let pw = match stage.password_login {
        PasswordLogin::Allowed => "allowed",
        PasswordLogin::ExistingUsers => "existing",
        PasswordLogin::Denied => "denied",
    };
    let grades = if stage.grades_html == stage.grades_api {
        stage.grades_html.as_str().to_string()
    } else {
        format!(
            "{}/{}",
            stage.grades_html.as_str(),
            stage.grades_api.as_str()
        )
    };
    let mut s = String::new();
    if !stage.enforce {
        s.push_str("(shadow) ");
    }
    let _ = write!(s, "pw:{pw}");
    // With password login denied, password sessions go to ESIA: what they
    // would see on grade routes does not matter.
    if stage.password_login != PasswordLogin::Denied {
        let _ = write!(s, " grades:{grades}");
        for (class, v) in &stage.classes {
            if *v != Visibility::Show {
                let _ = write!(s, " {class}:{}", v.as_str());
            }
        }
    }
    let _ = write!(s, " trust:{}", stage.trust.as_str());
    if stage.anonymous_to_esia {
        s.push_str(" anon:esia");
    }
    if stage.banner.is_some() {
        s.push_str(" +banner");
    }
    s
}

/// The stages as a table: one row per start date (`YYYY-MM-DD`), one column
/// per role, each cell the stage in force for that role from that date.
pub fn timeline(policy: &Policy) -> String {
    let mut dates: Vec<NaiveDate> = policy.stages.iter().map(|s| s.from).collect();
    dates.dedup();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["date".to_string(), "starting".to_string()];
    header.extend(PolicyRole::ALL.iter().map(|r| r.as_str().to_string()));
    rows.push(header);
    for date in &dates {
        let starting: Vec<&str> = policy
            .stages
            .iter()
            .filter(|s| s.from == *date)
            .map(|s| &*s.name)
            .collect();
        let mut row = vec![date.format("%Y-%m-%d").to_string(), starting.join(", ")];
        for role in PolicyRole::ALL {
            row.push(match policy.stage_for(Some(role), *date, |_| true) {
                Some(stage) => format!("{}: {}", stage.name, stage_summary(stage)),
                None => "-".to_string(),
            });
        }
        rows.push(row);
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{} ({})\n", policy.name, policy.timezone);
    if let Some(desc) = &policy.description {
        let _ = writeln!(out, "{desc}");
    }
    out.push('\n');
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[c].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(
        "\n`-`: no stage yet, everything allowed. pw: password login (allowed, existing = \
         accounts that logged in before, denied); grades: what a password session gets on \
         grade pages/API; trust: least ESIA account level; anon:esia: anonymous visitors go \
         straight to ESIA.\n",
    );
    out
}
