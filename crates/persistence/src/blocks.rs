//! The doctor's side of the no-overlap rule with buffers. Each appointment blocks
//! `[start - before, end + after)` for its doctor, stored by the database from the doctor's
//! buffers when its time or doctor last changed (the `buffers` migrations); a booking made now
//! blocks its slot widened by the doctor's buffers now. The rule itself is the database's;
//! this module reads it back: what a 409 names, which expired holds to mark, what free slots
//! must avoid.

use crate::db::DbConnection;
use crate::error::StoreResult;
use crate::schema::{appointment_blocks, doctors};
use crate::time::{from_db, to_db};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use healthcare_domain::{AppointmentStatus, DoctorId};
use healthcare_scheduling::{Buffers, Span, MAX_BUFFER_MINUTES, MAX_SLOT_MINUTES};

/// The doctor's buffers now ([`Buffers::NONE`] for an unknown doctor).
pub fn buffers(conn: &mut DbConnection, doctor: DoctorId) -> StoreResult<Buffers> {
    let row: Option<(i32, i32)> = doctors::table
        .find(doctor.0)
        .select((
            doctors::buffer_before_minutes,
            doctors::buffer_after_minutes,
        ))
        .first(conn)
        .optional()?;
    Ok(row
        .and_then(|(before, after)| Buffers::new(before.into(), after.into()))
        .unwrap_or_default())
}

/// The range `[start, end)` blocks for `doctor` when booked now.
pub fn range_now(
    conn: &mut DbConnection,
    doctor: DoctorId,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> StoreResult<(DateTime<Utc>, DateTime<Utc>)> {
    Ok(match Span::new(start, end) {
        Some(span) => {
            let blocked = buffers(conn, doctor)?.around(span);
            (blocked.start(), blocked.end())
        }
        None => (start, end),
    })
}

/// One of the doctor's appointments whose blocked range meets a range.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct Block {
    /// The appointment.
    pub id: i64,
    /// Its patient.
    pub patient_id: i64,
    /// Its start.
    pub start: NaiveDateTime,
    /// Its end.
    pub end: NaiveDateTime,
    /// The range it blocks for its doctor.
    pub blocked: (NaiveDateTime, NaiveDateTime),
}

/// Which of the doctor's appointments [`meeting`] returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holding {
    /// Those that hold their time at `t`: SCHEDULED, and holds unexpired at `t`.
    LiveAt(NaiveDateTime),
    /// Holds expired at `t` (not yet marked EXPIRED).
    ExpiredAt(NaiveDateTime),
}

/// The doctor's unarchived appointments (`holding` as asked) whose blocked range meets
/// `[from, until)`. No appointment is longer than 480 minutes nor a buffer longer than 120, so
/// only those starting in `(from - 600 min, until + 120 min)` can: the bounds on the index.
pub(crate) fn meeting(
    conn: &mut DbConnection,
    doctor: DoctorId,
    (from, until): (DateTime<Utc>, DateTime<Utc>),
    holding: Holding,
) -> StoreResult<Vec<Block>> {
    use appointment_blocks as b;
    let reach = |minutes| TimeDelta::try_minutes(minutes).unwrap_or_default();
    let earliest = from
        .checked_sub_signed(reach(MAX_SLOT_MINUTES + MAX_BUFFER_MINUTES))
        .unwrap_or(from);
    let latest = until
        .checked_add_signed(reach(MAX_BUFFER_MINUTES))
        .unwrap_or(until);
    let scheduled: &'static str = AppointmentStatus::Scheduled.as_str();
    let pending: &'static str = AppointmentStatus::Pending.as_str();
    let query = b::table
        .filter(b::doctor_id.eq(doctor.0))
        .filter(b::archived_at.is_null())
        .filter(b::appointment_datetime.gt(to_db(earliest)))
        .filter(b::appointment_datetime.lt(to_db(latest)))
        .filter(b::blocked_from.lt(to_db(until)))
        .filter(b::blocked_until.gt(to_db(from)))
        .order((b::appointment_datetime, b::id))
        .select((
            b::id,
            b::patient_id,
            b::appointment_datetime,
            b::end_datetime,
            (b::blocked_from, b::blocked_until),
        ))
        .into_boxed();
    let query = match holding {
        Holding::LiveAt(t) => query.filter(
            b::status
                .eq(scheduled)
                .or(b::status.eq(pending).and(b::expires_at.gt(t))),
        ),
        Holding::ExpiredAt(t) => query
            .filter(b::status.eq(pending))
            .filter(b::expires_at.le(t)),
    };
    Ok(query.load(conn)?)
}

impl Block {
    /// Its blocked range as instants.
    pub(crate) fn blocked_span(&self) -> Option<Span> {
        Span::new(from_db(self.blocked.0), from_db(self.blocked.1))
    }
}
