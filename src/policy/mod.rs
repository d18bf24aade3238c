//! policy: a region's dated rules (which routes are grades, the login form,
//! the stages by date and role) and their pure evaluation. The file is read
//! and checked in `load`, typed in `model`, decided in `eval` and printed
//! for operators in `explain`; routes are matched in `routes`. No clock and no I/O besides reading the file.

pub mod eval;
pub mod explain;
pub mod load;
pub mod model;
pub mod routes;
pub mod slot;
pub mod texts;
pub mod trust;

pub use eval::{
    Action, Decision, Input, Outcome, Reason, SessionKind, decide, evaluate, least_trust,
};
pub use explain::main_policy;
pub use load::{PolicyError, Problem, load, parse};
pub use model::{
    ClosedPage, ConfirmPage, ConfirmTexts, PasswordLogin, Policy, PolicyRole, Rewrite, RouteClass,
    Stage, Trust, TrustLevel, Visibility,
};
pub use routes::{BodyParams, RouteRequest};
