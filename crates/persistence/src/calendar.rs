//! Calendar feeds (docs/api.md "Calendar feeds"): the read-only calendar token an account
//! gives its calendar app (one per account, stored as its SHA-256 only), and the appointments
//! a feed shows.

use crate::appointments::{self, AppointmentFilter, AppointmentOrder};
use crate::db::DbConnection;
use crate::error::StoreResult;
use crate::page::Page;
use crate::schema::{calendar_tokens, doctors};
use crate::time::{now, to_db};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use healthcare_domain::{Appointment, AppointmentStatus, DoctorId, PatientId, Scope, UserId};
use sha2::{Digest, Sha256};

/// How far back a feed reaches, days.
pub const FEED_DAYS_BACK: i64 = 30;
/// How far ahead a feed reaches, days.
pub const FEED_DAYS_AHEAD: i64 = 365;
/// The most events one feed holds (the earliest first).
pub const MAX_FEED_EVENTS: i64 = 5000;

/// The stored form of a token: its SHA-256, hex.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores `token` as the account's calendar token, replacing the one it had (only its digest
/// is kept: the caller shows the token once).
pub fn issue(conn: &mut DbConnection, user: UserId, token: &str) -> StoreResult<()> {
    revoke(conn, user)?;
    diesel::insert_into(calendar_tokens::table)
        .values((
            calendar_tokens::user_id.eq(user.0),
            calendar_tokens::token_sha256.eq(digest(token)),
            calendar_tokens::created_at.eq(to_db(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revokes the account's calendar token; whether it had one.
pub fn revoke(conn: &mut DbConnection, user: UserId) -> StoreResult<bool> {
    let gone = diesel::delete(calendar_tokens::table.filter(calendar_tokens::user_id.eq(user.0)))
        .execute(conn)?;
    Ok(gone > 0)
}

/// The account whose calendar token this is.
pub fn owner(conn: &mut DbConnection, token: &str) -> StoreResult<Option<UserId>> {
    Ok(calendar_tokens::table
        .filter(calendar_tokens::token_sha256.eq(digest(token)))
        .select(calendar_tokens::user_id)
        .first::<i64>(conn)
        .optional()?
        .map(UserId))
}

/// Whose appointments a feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// A doctor's.
    Doctor(DoctorId),
    /// A patient's.
    Patient(PatientId),
}

/// One event of a feed: the appointment and its doctor's last name.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    /// The appointment.
    pub appointment: Appointment,
    /// Its doctor's last name.
    pub doctor_last_name: String,
}

/// The appointments of `feed` visible in `scope` that start from [`FEED_DAYS_BACK`] days
/// before `at` to [`FEED_DAYS_AHEAD`] days after it, earliest first, at most
/// [`MAX_FEED_EVENTS`]; expired holds left out (cancelled ones stay, so calendars drop them).
pub fn events(
    conn: &mut DbConnection,
    feed: Feed,
    scope: Scope,
    at: DateTime<Utc>,
) -> StoreResult<Vec<FeedEvent>> {
    let (doctor, patient) = match feed {
        Feed::Doctor(d) => (Some(d), None),
        Feed::Patient(p) => (None, Some(p)),
    };
    let filter = AppointmentFilter {
        doctor,
        patient,
        statuses: AppointmentStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s != AppointmentStatus::Expired)
            .collect(),
        from: Some(at - Duration::days(FEED_DAYS_BACK)),
        until: Some(at + Duration::days(FEED_DAYS_AHEAD)),
        order: AppointmentOrder::StartAsc,
        ..Default::default()
    };
    let page = Page {
        limit: MAX_FEED_EVENTS,
        offset: 0,
    };
    let found = appointments::list(conn, scope, &filter, page)?.items;
    let mut ids: Vec<i64> = found.iter().map(|a| a.doctor.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: Vec<(i64, String)> = doctors::table
        .filter(doctors::id.eq_any(&ids))
        .select((doctors::id, doctors::last_name))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|appointment| {
            let doctor_last_name = names
                .iter()
                .find(|(id, _)| *id == appointment.doctor.0)
                .map(|(_, name)| name.clone())
                .unwrap_or_default();
            FeedEvent {
                appointment,
                doctor_last_name,
            }
        })
        .collect())
}
