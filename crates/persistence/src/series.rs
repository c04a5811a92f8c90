//! Recurring appointments (docs/scheduling.md "Series"): a series row and its occurrences,
//! booked in one transaction, each occurrence an ordinary appointment (the same database rules,
//! outbox events and checks as `POST /api/appointments/`) that names its series.

use crate::appointments::{self, Overlap};
use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::schema::appointment_series;
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use healthcare_domain::series::{
    NewSeries, OnConflict, Series, SeriesChanges, SeriesScope, SkippedOccurrence,
};
use healthcare_domain::{
    Appointment, AppointmentChanges, AppointmentId, AppointmentStatus, DoctorId, PatientId, Role,
    Scope, UserId,
};

/// Why an occurrence in the past is not booked.
pub const IN_THE_PAST: &str = "The time is in the past.";

/// An occurrence a `fail` series could not book, or a change of a series could not be applied
/// to: its start, why, and what it ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The occurrence, when it exists already (a change).
    pub occurrence: Option<AppointmentId>,
    /// The occurrence's start (the new one, for a change).
    pub start: DateTime<Utc>,
    /// Why (the seed's conflict message, the availability message, or [`IN_THE_PAST`]).
    pub reason: String,
    /// The bookings it overlaps, as the caller may see them.
    pub hit: Vec<Overlap>,
}

#[derive(Queryable)]
struct SeriesRow {
    id: i64,
    doctor_id: i64,
    patient_id: i64,
    first_start: NaiveDateTime,
    duration_minutes: i32,
    reason: String,
    rrule: String,
    timezone: String,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
}

impl SeriesRow {
    fn into_domain(self, created: Vec<Appointment>, skipped: Vec<SkippedOccurrence>) -> Series {
        Series {
            id: self.id,
            doctor: DoctorId(self.doctor_id),
            patient: PatientId(self.patient_id),
            appointment_datetime: from_db(self.first_start),
            duration_minutes: self.duration_minutes,
            reason: self.reason,
            rrule: self.rrule,
            timezone: self.timezone,
            created_by: self.created_by.map(UserId),
            created_at: from_db(self.created_at),
            created,
            skipped,
        }
    }
}

/// Books the series `input` whose occurrences start at `starts` (expanded in `timezone`), in
/// the caller's write transaction. The patient must be visible in `patients`; the bookings a
/// refused occurrence ran into show their ids where `seen` shows them. All occurrences are
/// booked in one savepoint first; after a refusal each is tried in a savepoint of its own: one
/// that is in the past, outside the doctor's hours or in
/// their time off, or refused by the no-overlap rule is skipped (`skip`), or makes the whole
/// series fail (`fail`: [`StoreError::SeriesRefused`] listing every such occurrence, and the
/// transaction rolls back: nothing is booked).
pub fn create(
    conn: &mut DbConnection,
    input: &NewSeries,
    starts: &[DateTime<Utc>],
    timezone: &str,
    (patients, seen): (Scope, Scope),
    created_by: UserId,
) -> StoreResult<Series> {
    // The parties first, as a booking checks them: a missing one is a 400, not the series
    // row's foreign key failing.
    appointments::check_parties(conn, input.doctor, input.patient, patients)?;
    let t = to_db(now());
    let row: SeriesRow = on_backend!(conn, |c| diesel::insert_into(appointment_series::table)
        .values((
            appointment_series::doctor_id.eq(input.doctor.0),
            appointment_series::patient_id.eq(input.patient.0),
            appointment_series::first_start.eq(to_db(input.start)),
            appointment_series::duration_minutes.eq(input.duration_minutes),
            appointment_series::reason.eq(&input.reason),
            appointment_series::rrule.eq(&input.rrule),
            appointment_series::timezone.eq(timezone),
            appointment_series::created_by.eq(Some(created_by.0)),
            appointment_series::created_at.eq(t),
        ))
        .returning(appointment_series::all_columns)
        .get_result(c))?;
    let series = row.id;
    let current = now();
    let book = |c: &mut DbConnection, start| {
        appointments::book_in(
            c,
            &input.occurrence(start),
            patients,
            created_by,
            Duration::zero(),
            Some(series),
        )
    };
    // The common case first: every occurrence books. All of them in one savepoint (two
    // statements each); the first refusal undoes them and the occurrences are tried again one
    // savepoint each, which lists every refusal.
    if starts.iter().all(|&start| start >= current) {
        let all = crate::db::savepoint(conn, |c| {
            starts.iter().map(|&start| book(c, start)).collect()
        });
        match all {
            Ok(created) => return Ok(row.into_domain(created, Vec::new())),
            Err(e) => {
                refusal(e)?;
            }
        }
    }
    let mut created = Vec::new();
    let mut refused = Vec::new();
    for &start in starts {
        let occurrence = input.occurrence(start);
        let reason = if start < current {
            IN_THE_PAST.to_owned()
        } else {
            // A savepoint, so a refused occurrence leaves the others' work in place.
            let booked = crate::db::savepoint(conn, |c| book(c, start));
            match booked {
                Ok(appointment) => {
                    created.push(appointment);
                    continue;
                }
                Err(e) => refusal(e)?,
            }
        };
        let hit = appointments::overlapping(
            conn,
            input.doctor,
            input.patient,
            (start, occurrence.end()),
            None,
            seen,
        )?;
        refused.push(Refused {
            occurrence: None,
            start,
            reason,
            hit,
        });
    }
    if input.on_conflict == OnConflict::Fail && !refused.is_empty() {
        return Err(StoreError::SeriesRefused(refused));
    }
    let skipped = refused
        .into_iter()
        .map(|r| SkippedOccurrence {
            appointment_datetime: r.start,
            reason: r.reason,
        })
        .collect();
    Ok(row.into_domain(created, skipped))
}

/// The series row, when its patient is visible in `scope` (its doctor's, for a doctor).
fn visible_row(conn: &mut DbConnection, id: i64, scope: Scope) -> StoreResult<SeriesRow> {
    let row: SeriesRow = appointment_series::table
        .find(id)
        .select(appointment_series::all_columns)
        .get_result(conn)?;
    let visible = match scope {
        Scope::All => true,
        Scope::DoctorOf(doctor) => doctor.0 == row.doctor_id,
        _ => crate::patients::find(conn, PatientId(row.patient_id), scope).is_ok(),
    };
    if visible {
        Ok(row)
    } else {
        Err(StoreError::NotFound)
    }
}

/// The series' unarchived occurrences visible in `scope`, earliest first.
fn occurrences(conn: &mut DbConnection, id: i64, scope: Scope) -> StoreResult<Vec<Appointment>> {
    let filter = appointments::AppointmentFilter {
        series: Some(id),
        statuses: AppointmentStatus::ALL.to_vec(),
        order: appointments::AppointmentOrder::StartAsc,
        ..Default::default()
    };
    // At most 104 occurrences: one page holds them all.
    let page = crate::page::Page {
        limit: 1000,
        offset: 0,
    };
    Ok(appointments::list(conn, scope, &filter, page)?.items)
}

/// A series whose patient is visible in `scope`, with its unarchived occurrences.
pub fn find(conn: &mut DbConnection, id: i64, scope: Scope) -> StoreResult<Series> {
    let row = visible_row(conn, id, scope)?;
    let listed = occurrences(conn, id, scope)?;
    Ok(row.into_domain(listed, Vec::new()))
}

/// Why a change of a series names an occurrence it cannot start from.
pub const NOT_AN_OCCURRENCE: &str = "Not an occurrence of this series.";
/// Why a change of a series cannot start from an occurrence that is past or not SCHEDULED.
pub const NOT_CHANGEABLE: &str = "Only a future SCHEDULED occurrence can be changed.";

/// Applies `changes` to the series `id` (visible in `scope`), in the caller's write
/// transaction: to its future SCHEDULED occurrences that the change's scope reaches (`this`:
/// the named one; `following`: it and every later one; `all`), each through
/// [`appointments::update`] (the status lifecycle for `role`, the database rules, the events).
/// A new time of day is read in the series' zone on each occurrence's own date (a time in a
/// DST gap moves forward by the gap). One occurrence refused (a conflict, the doctor's hours or
/// time off, a time in the past) fails the whole change: [`StoreError::SeriesChangeRefused`]
/// lists every one, and the transaction rolls back. The series is never split.
pub fn change(
    conn: &mut DbConnection,
    id: i64,
    changes: &SeriesChanges,
    scope: Scope,
    role: Role,
) -> StoreResult<Series> {
    let row = visible_row(conn, id, scope)?;
    let tz = healthcare_domain::raw::parse_time_zone(&row.timezone)
        .ok_or_else(|| StoreError::Corrupt(format!("series {id} time zone")))?;
    let current = now();
    let all = occurrences(conn, id, scope)?;
    let changeable = |a: &Appointment| {
        a.status == AppointmentStatus::Scheduled && a.appointment_datetime > current
    };
    let from = match (changes.scope, changes.occurrence) {
        (SeriesScope::All, _) => None,
        (_, occurrence) => {
            let named = all
                .iter()
                .find(|a| Some(a.id) == occurrence)
                .ok_or_else(|| invalid("occurrence", NOT_AN_OCCURRENCE))?;
            if !changeable(named) {
                return Err(invalid("occurrence", NOT_CHANGEABLE));
            }
            Some(named)
        }
    };
    let reached = all.iter().filter(|a| changeable(a)).filter(|a| match from {
        None => true,
        Some(named) if changes.scope == SeriesScope::This => a.id == named.id,
        Some(named) => a.appointment_datetime >= named.appointment_datetime,
    });
    let mut planned = Vec::new();
    for occurrence in reached {
        let start = match changes.time_of_day {
            Some(time) => {
                let date = occurrence
                    .appointment_datetime
                    .with_timezone(&tz)
                    .date_naive();
                healthcare_scheduling::series::place(tz, date.and_time(time))
                    .filter(|start| {
                        healthcare_domain::raw::year_accepted(chrono::Datelike::year(start))
                    })
                    .ok_or_else(|| invalid("time_of_day", OUTSIDE_YEARS))?
            }
            None => occurrence.appointment_datetime,
        };
        let minutes = changes
            .duration_minutes
            .unwrap_or(occurrence.duration_minutes);
        let moves = changes.time_of_day.is_some() || changes.duration_minutes.is_some();
        let change = AppointmentChanges {
            start: moves.then_some(start),
            duration_minutes: moves.then_some(minutes),
            reason: changes.reason.clone(),
            status: changes.status,
            ..Default::default()
        };
        let end = start + Duration::minutes(i64::from(minutes));
        planned.push((occurrence, change, (start, end)));
    }
    // Occurrences that move later are changed latest first (and earlier ones earliest first),
    // so that none meets a sibling that has not moved yet.
    if planned
        .first()
        .is_some_and(|(o, _, (_, end))| *end > o.end_datetime)
    {
        planned.reverse();
    }
    let mut refused = Vec::new();
    for (occurrence, change, (start, end)) in planned {
        let reason = if change.start.is_some_and(|s| s < current) {
            IN_THE_PAST.to_owned()
        } else {
            let aid = occurrence.id;
            match crate::db::savepoint(conn, |c| appointments::update(c, aid, scope, &change, role))
            {
                Ok(_) => continue,
                Err(e) => refusal(e)?,
            }
        };
        let hit = appointments::overlapping(
            conn,
            occurrence.doctor,
            occurrence.patient,
            (start, end),
            Some(occurrence.id),
            scope,
        )?;
        refused.push(Refused {
            occurrence: Some(occurrence.id),
            start,
            reason,
            hit,
        });
    }
    if !refused.is_empty() {
        refused.sort_by_key(|r| r.start);
        return Err(StoreError::SeriesChangeRefused(refused));
    }
    let listed = occurrences(conn, id, scope)?;
    Ok(row.into_domain(listed, Vec::new()))
}

/// Why one occurrence was refused, for the answer: the seed's conflict message, or the
/// availability rule's message; any other error is the whole request's.
fn refusal(e: StoreError) -> StoreResult<String> {
    match e {
        StoreError::DoctorConflict => Ok(healthcare_domain::msg::DOCTOR_CONFLICT.to_owned()),
        StoreError::PatientConflict => Ok(healthcare_domain::msg::PATIENT_CONFLICT.to_owned()),
        StoreError::Invalid {
            field: "non_field_errors",
            message,
        } => Ok(message),
        other => Err(other),
    }
}

/// A new time of day that would start an occurrence outside the years a booking may start in
/// (the last day of 2199 west of UTC), or at no time at all.
const OUTSIDE_YEARS: &str =
    "At this time of day an occurrence would start outside 1900-2199 (UTC): choose an earlier time.";

fn invalid(field: &'static str, message: &str) -> StoreError {
    StoreError::Invalid {
        field,
        message: message.into(),
    }
}
