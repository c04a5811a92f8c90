//! Conversions between the domain's UTC date-times and the stored `Timestamp` columns.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// A stored timestamp (UTC, no offset), truncated to microseconds as PostgreSQL keeps them.
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

/// A stored timestamp back to UTC.
pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Now, as stored.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
