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
use healthcare_domain::series::{NewSeries, OnConflict, Series, SkippedOccurrence};
use healthcare_domain::{Appointment, DoctorId, PatientId, Scope, UserId};

/// Why an occurrence in the past is not booked.
pub const IN_THE_PAST: &str = "The time is in the past.";

/// An occurrence a `fail` series could not book: its start, why, and what it ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The occurrence's start.
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
/// refused occurrence ran into show their ids where `seen` shows them. Each occurrence is
/// tried in a savepoint of its own: one that is in the past, outside the doctor's hours or in
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
    let mut created = Vec::new();
    let mut refused = Vec::new();
    let current = now();
    for &start in starts {
        let occurrence = input.occurrence(start);
        let reason = if start < current {
            IN_THE_PAST.to_owned()
        } else {
            // A savepoint, so a refused occurrence leaves the others' work in place.
            let booked = crate::db::savepoint(conn, |c| {
                appointments::book_in(
                    c,
                    &occurrence,
                    patients,
                    created_by,
                    Duration::zero(),
                    Some(series),
                )
            });
            match booked {
                Ok(appointment) => {
                    created.push(appointment);
                    continue;
                }
                Err(StoreError::DoctorConflict) => {
                    healthcare_domain::msg::DOCTOR_CONFLICT.to_owned()
                }
                Err(StoreError::PatientConflict) => {
                    healthcare_domain::msg::PATIENT_CONFLICT.to_owned()
                }
                Err(StoreError::Invalid {
                    field: "non_field_errors",
                    message,
                }) => message,
                Err(other) => return Err(other),
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
        refused.push(Refused { start, reason, hit });
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

/// A series whose patient is visible in `scope`, with its unarchived occurrences.
pub fn find(conn: &mut DbConnection, id: i64, scope: Scope) -> StoreResult<Series> {
    let row: SeriesRow = appointment_series::table
        .find(id)
        .select(appointment_series::all_columns)
        .get_result(conn)?;
    let patient = PatientId(row.patient_id);
    let visible = match scope {
        Scope::All => true,
        Scope::DoctorOf(doctor) => doctor.0 == row.doctor_id,
        _ => crate::patients::find(conn, patient, scope).is_ok(),
    };
    if !visible {
        return Err(StoreError::NotFound);
    }
    let filter = appointments::AppointmentFilter {
        series: Some(id),
        statuses: healthcare_domain::AppointmentStatus::ALL.to_vec(),
        order: appointments::AppointmentOrder::StartAsc,
        ..Default::default()
    };
    // At most 104 occurrences: one page holds them all.
    let page = crate::page::Page {
        limit: 1000,
        offset: 0,
    };
    let listed = appointments::list(conn, scope, &filter, page)?;
    Ok(row.into_domain(listed.items, Vec::new()))
}
