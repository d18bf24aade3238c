//! The time the gateway decides by: the system clock in production, an
//! injected one in tests, and for a staging rehearsal the date the region's
//! policy pretends it is. A leaf, like `telemetry`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, NaiveDate, Utc};

/// "Now", injected so that decisions can be tested without waiting.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The date a staging gateway pretends it is, for policy decisions only.
pub type Rehearsal = Arc<ArcSwap<NaiveDate>>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}
