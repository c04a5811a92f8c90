//! Doctor availability: weekly working hours in the doctor's IANA time zone, time off, the data
//! a free-slot search needs, and the check that a booking lies within working hours.
//!
//! A doctor without a `working_hours` row has no working hours: they can be booked at any time
//! (the behaviour before availability existed) and a free-slot search finds nothing. Time off
//! is configuration, not clinical history: [`delete_time_off`] removes the row.
//!
//! The rules themselves (what "within working hours" means, DST, free slots) live in
//! `healthcare-scheduling`; this module only loads and stores.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{Listed, Page};
use crate::schema::{time_off, working_hours, working_hours_intervals};
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use diesel::prelude::*;
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId, UserId};
use healthcare_scheduling::{
    Availability, Booking, BookingSet, Slot, TimeOff, WeeklyInterval, WeeklySchedule,
};

pub use chrono_tz::Tz;

/// The `non_field_errors` message of a booking outside working hours or inside time off.
pub const NOT_AVAILABLE: &str = "Doctor is not available at this time.";

/// Reads an IANA time zone name (the one reading inputs use, so a stored zone always reads back).
pub use healthcare_domain::raw::parse_time_zone;

fn minute_of(t: NaiveTime) -> i32 {
    // At most 1439: always fits.
    (t.num_seconds_from_midnight() / 60) as i32
}

fn time_of(minute: i32) -> Option<NaiveTime> {
    let m = u32::try_from(minute).ok()?;
    NaiveTime::from_hms_opt(m / 60, m % 60, 0)
}

fn weekday_of(n: i32) -> Option<Weekday> {
    u8::try_from(n).ok().and_then(|n| Weekday::try_from(n).ok())
}

#[derive(Insertable)]
#[diesel(table_name = working_hours)]
struct HoursInsert<'a> {
    doctor_id: i64,
    timezone: &'a str,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = working_hours_intervals)]
struct IntervalInsert {
    doctor_id: i64,
    weekday: i32,
    start_minute: i32,
    end_minute: i32,
}

/// Orders a change of a doctor's time off or working hours against the bookings that check
/// them (PostgreSQL; on SQLite every write already runs one at a time in the writer's IMMEDIATE
/// transaction): both hold the doctor's row (`FOR NO KEY UPDATE`) until they commit, so a time
/// off and a booking inside it cannot both pass their checks at once and both commit. Takes
/// effect inside a transaction, until it ends.
pub(crate) fn lock_doctor(conn: &mut DbConnection, doctor: DoctorId) -> StoreResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        let _: Option<i64> = crate::schema::doctors::table
            .find(doctor.0)
            .select(crate::schema::doctors::id)
            .for_no_key_update()
            .get_result(c)
            .optional()?;
    }
    Ok(())
}

fn require_doctor(conn: &mut DbConnection, doctor: DoctorId) -> StoreResult<()> {
    if crate::doctors::exists(conn, doctor)? {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// A doctor's working hours, `None` when none are set. Entries come in weekday, then start
/// order. Does not check that the doctor exists.
pub fn working_hours(
    conn: &mut DbConnection,
    doctor: DoctorId,
) -> StoreResult<Option<WeeklySchedule>> {
    let zone = time_zone(conn, doctor)?;
    schedule_in_zone(conn, doctor, zone)
}

/// The time zone of a doctor's working hours, `None` when none are set.
fn time_zone(conn: &mut DbConnection, doctor: DoctorId) -> StoreResult<Option<String>> {
    Ok(on_backend!(conn, |c| working_hours::table
        .find(doctor.0)
        .select(working_hours::timezone)
        .get_result(c)
        .optional())?)
}

/// The rest of [`working_hours`] once the doctor's time zone (`None`: no working hours) is known.
fn schedule_in_zone(
    conn: &mut DbConnection,
    doctor: DoctorId,
    zone: Option<String>,
) -> StoreResult<Option<WeeklySchedule>> {
    let Some(zone) = zone else {
        return Ok(None);
    };
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("working hours of doctor {}: {what}", doctor.0));
    let tz = parse_time_zone(&zone).ok_or_else(|| corrupt("time zone"))?;
    let rows: Vec<(i32, i32, i32)> = working_hours_intervals::table
        .filter(working_hours_intervals::doctor_id.eq(doctor.0))
        .order((
            working_hours_intervals::weekday.asc(),
            working_hours_intervals::start_minute.asc(),
            working_hours_intervals::id.asc(),
        ))
        .select((
            working_hours_intervals::weekday,
            working_hours_intervals::start_minute,
            working_hours_intervals::end_minute,
        ))
        .load(conn)?;
    let entries = rows
        .into_iter()
        .map(|(day, start, end)| {
            Some(WeeklyInterval {
                weekday: weekday_of(day)?,
                start: time_of(start)?,
                end: time_of(end)?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| corrupt("interval"))?;
    WeeklySchedule::new(tz, entries)
        .map(Some)
        .map_err(|e| corrupt(&e.to_string()))
}

/// Replaces a doctor's working hours with `schedule`; `None` (or a schedule without entries)
/// clears them, so the doctor is bookable at any time again. Returns what is now stored.
/// `NotFound` when the doctor does not exist or is archived.
pub fn set_working_hours(
    conn: &mut DbConnection,
    doctor: DoctorId,
    schedule: Option<&WeeklySchedule>,
) -> StoreResult<Option<WeeklySchedule>> {
    lock_doctor(conn, doctor)?;
    require_doctor(conn, doctor)?;
    // The working hours' version (their ETag), changed by every replacement.
    use crate::schema::doctors;
    diesel::update(doctors::table.find(doctor.0))
        .set(doctors::hours_version.eq(doctors::hours_version + 1))
        .execute(conn)?;
    diesel::delete(
        working_hours_intervals::table.filter(working_hours_intervals::doctor_id.eq(doctor.0)),
    )
    .execute(conn)?;
    diesel::delete(working_hours::table.filter(working_hours::doctor_id.eq(doctor.0)))
        .execute(conn)?;
    let Some(schedule) = schedule.filter(|s| !s.entries().is_empty()) else {
        return Ok(None);
    };
    diesel::insert_into(working_hours::table)
        .values(HoursInsert {
            doctor_id: doctor.0,
            timezone: schedule.tz().name(),
            updated_at: to_db(now()),
        })
        .execute(conn)?;
    for e in schedule.entries() {
        diesel::insert_into(working_hours_intervals::table)
            .values(IntervalInsert {
                doctor_id: doctor.0,
                weekday: e.weekday.num_days_from_monday() as i32,
                start_minute: minute_of(e.start),
                end_minute: minute_of(e.end),
            })
            .execute(conn)?;
    }
    working_hours(conn, doctor)
}

/// One stored period of time off of a doctor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOffEntry {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub doctor: DoctorId,
    /// First instant off.
    pub start: DateTime<Utc>,
    /// First instant back (excluded).
    pub end: DateTime<Utc>,
    /// Why (free text, may be empty).
    pub reason: String,
    /// Who entered it.
    pub created_by: Option<UserId>,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
}

impl TimeOffEntry {
    /// The range as the scheduling rules take it.
    pub fn as_time_off(&self) -> TimeOff {
        TimeOff {
            start: self.start,
            end: self.end,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = time_off)]
struct TimeOffRow {
    id: i64,
    doctor_id: i64,
    start_at: NaiveDateTime,
    end_at: NaiveDateTime,
    reason: String,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
}

impl From<TimeOffRow> for TimeOffEntry {
    fn from(r: TimeOffRow) -> Self {
        TimeOffEntry {
            id: r.id,
            doctor: DoctorId(r.doctor_id),
            start: from_db(r.start_at),
            end: from_db(r.end_at),
            reason: r.reason,
            created_by: r.created_by.map(UserId),
            created_at: from_db(r.created_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = time_off)]
struct TimeOffInsert<'a> {
    doctor_id: i64,
    start_at: NaiveDateTime,
    end_at: NaiveDateTime,
    reason: &'a str,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
}

/// A new period of time off (already validated: `start < end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeOff {
    /// First instant off.
    pub start: DateTime<Utc>,
    /// First instant back (excluded).
    pub end: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// What [`add_time_off`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddTimeOff {
    /// Stored.
    Added(TimeOffEntry),
    /// Not stored: SCHEDULED appointments of the doctor fall into the period, and the caller
    /// did not ask to keep them.
    Blocked {
        /// How many SCHEDULED, unarchived appointments overlap the period.
        affected: i64,
    },
}

/// Adds time off to a doctor. When SCHEDULED (unarchived) appointments of the doctor overlap
/// the period, nothing is stored and [`AddTimeOff::Blocked`] tells how many, unless
/// `keep_appointments` is set (the appointments then stay as they are). `NotFound` when the
/// doctor does not exist or is archived; `Invalid` on `end` when `start >= end`.
pub fn add_time_off(
    conn: &mut DbConnection,
    doctor: DoctorId,
    input: &NewTimeOff,
    keep_appointments: bool,
    created_by: UserId,
) -> StoreResult<AddTimeOff> {
    lock_doctor(conn, doctor)?;
    require_doctor(conn, doctor)?;
    // Compared as stored (to the microsecond), so the table's CHECK can never fire.
    if to_db(input.start) >= to_db(input.end) {
        return Err(StoreError::Invalid {
            field: "end",
            message: "End must be after start.".into(),
        });
    }
    if !keep_appointments {
        let affected = scheduled_between(conn, doctor, input.start, input.end)?.len();
        if affected > 0 {
            return Ok(AddTimeOff::Blocked {
                affected: affected as i64,
            });
        }
    }
    let row: TimeOffRow = diesel::insert_into(time_off::table)
        .values(TimeOffInsert {
            doctor_id: doctor.0,
            start_at: to_db(input.start),
            end_at: to_db(input.end),
            reason: &input.reason,
            created_by: Some(created_by.0),
            created_at: to_db(now()),
        })
        .returning(time_off::all_columns)
        .get_result(conn)?;
    Ok(AddTimeOff::Added(row.into()))
}

/// A doctor's time off, earliest first (ties by id). Does not check that the doctor exists.
pub fn list_time_off(
    conn: &mut DbConnection,
    doctor: DoctorId,
    page: Page,
) -> StoreResult<Listed<TimeOffEntry>> {
    let total: i64 = time_off::table
        .filter(time_off::doctor_id.eq(doctor.0))
        .count()
        .get_result(conn)?;
    let rows: Vec<TimeOffRow> = time_off::table
        .filter(time_off::doctor_id.eq(doctor.0))
        .order((time_off::start_at.asc(), time_off::id.asc()))
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    Ok(Listed {
        items: rows.into_iter().map(Into::into).collect(),
        total,
    })
}

/// Removes one period of time off of a doctor for good; `NotFound` when the doctor has no
/// such row.
pub fn delete_time_off(conn: &mut DbConnection, doctor: DoctorId, id: i64) -> StoreResult<()> {
    let removed = diesel::delete(
        time_off::table
            .filter(time_off::id.eq(id))
            .filter(time_off::doctor_id.eq(doctor.0)),
    )
    .execute(conn)?;
    if removed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// The doctor's time off that overlaps `[from, until)`.
pub fn time_off_between(
    conn: &mut DbConnection,
    doctor: DoctorId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<Vec<TimeOff>> {
    let rows: Vec<(NaiveDateTime, NaiveDateTime)> = time_off::table
        .filter(time_off::doctor_id.eq(doctor.0))
        .filter(time_off::start_at.lt(to_db(until)))
        .filter(time_off::end_at.gt(to_db(from)))
        .select((time_off::start_at, time_off::end_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(s, e)| TimeOff {
            start: from_db(s),
            end: from_db(e),
        })
        .collect())
}

/// The doctor's unarchived appointments that hold their time (SCHEDULED, and holds that have not
/// expired) and whose range blocked for the doctor (buffers included, [`crate::blocks`])
/// meets `[from, until)`, in one query over the index on `(doctor_id, appointment_datetime)`.
pub fn scheduled_between(
    conn: &mut DbConnection,
    doctor: DoctorId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<BookingSet> {
    let t = to_db(crate::time::now());
    crate::blocks::meeting(
        conn,
        doctor,
        (from, until),
        crate::blocks::Holding::LiveAt(t),
    )?
    .into_iter()
    .map(|row| {
        let slot = Slot::new(from_db(row.start), from_db(row.end))
            .map_err(|e| StoreError::Corrupt(format!("appointment {}: {e}", row.id)))?;
        let blocked = row.blocked_span().filter(|b| *b != slot.span());
        Ok(Booking {
            id: AppointmentId(row.id),
            doctor,
            patient: PatientId(row.patient_id),
            slot,
            status: AppointmentStatus::Scheduled,
            archived: false,
            blocked,
        })
    })
    .collect::<StoreResult<Vec<_>>>()
    .map(BookingSet::new)
}

/// Everything a free-slot search over local dates needs.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Working hours plus the time off that touches the searched dates.
    pub availability: Availability,
    /// The doctor's SCHEDULED, unarchived appointments around the searched dates.
    pub bookings: BookingSet,
}

/// UTC instants that surely cover the local dates `from..=to` in any time zone (offsets lie
/// within ±14 h): from the start of the UTC day before `from` to the end of the day after `to`.
fn covering(from: NaiveDate, to: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let lo = from.pred_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    let hi = to.succ_opt()?.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    Some((lo, hi))
}

/// The doctor's working hours with the time off and bookings around the local dates
/// `from..=to`; `None` when the doctor has no working hours. Does not check that the doctor
/// exists.
pub fn snapshot(
    conn: &mut DbConnection,
    doctor: DoctorId,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Option<Snapshot>> {
    let Some(schedule) = working_hours(conn, doctor)? else {
        return Ok(None);
    };
    let (lo, hi) = covering(from, to).ok_or_else(|| StoreError::Invalid {
        field: "date_from",
        message: "Date out of range.".into(),
    })?;
    let mut availability = Availability::new(schedule);
    availability.time_off = time_off_between(conn, doctor, lo, hi)?;
    availability.buffers = crate::blocks::buffers(conn, doctor)?;
    let bookings = scheduled_between(conn, doctor, lo, hi)?;
    Ok(Some(Snapshot {
        availability,
        bookings,
    }))
}

/// Refuses `[start, end)` with `Invalid { field: "non_field_errors", message: NOT_AVAILABLE }`
/// when the doctor has working hours and the range is not wholly inside them, or touches the
/// doctor's time off. A doctor without working hours accepts any time. Call it inside the write
/// transaction that books, so the check and the write see the same schedule.
pub fn ensure_available(
    conn: &mut DbConnection,
    doctor: DoctorId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<()> {
    let zone = time_zone(conn, doctor)?;
    ensure_available_in_zone(conn, doctor, zone, start, end)
}

/// [`ensure_available`] when the doctor's working-hours time zone (`None`: no working hours,
/// always available) was read already, in the same transaction.
pub fn ensure_available_in_zone(
    conn: &mut DbConnection,
    doctor: DoctorId,
    zone: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(schedule) = schedule_in_zone(conn, doctor, zone)? else {
        return Ok(());
    };
    let refuse = || StoreError::Invalid {
        field: healthcare_domain::NON_FIELD_ERRORS,
        message: NOT_AVAILABLE.into(),
    };
    let slot = Slot::new(start, end).map_err(|_| refuse())?;
    let mut availability = Availability::new(schedule);
    // Time off is read after the doctor's row is held, so one added meanwhile is seen (a
    // booking holds it already: `appointments::hold_parties`; taking it again costs nothing).
    lock_doctor(conn, doctor)?;
    availability.time_off = time_off_between(conn, doctor, start, end)?;
    if availability.is_within_working_hours(&slot) {
        Ok(())
    } else {
        Err(refuse())
    }
}
