//! Appointments: booking, listing with filters, rescheduling, status changes and archiving.
//! The no-double-booking rule is enforced by the database (exclusion constraints on
//! PostgreSQL, triggers on SQLite); its violations arrive as typed conflicts.

use crate::db::DbConnection;
use crate::each;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{Listed, Page};
use crate::schema::{appointment_counts, appointments, doctors, patients, working_hours};
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use healthcare_domain::{
    Appointment, AppointmentChanges, AppointmentId, AppointmentStatus, DoctorId, EventType,
    NewAppointment, PatientId, Role, Scope, UserId,
};

/// A stored appointment row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointments)]
pub struct AppointmentRow {
    id: i64,
    doctor_id: i64,
    patient_id: i64,
    appointment_datetime: NaiveDateTime,
    duration_minutes: i32,
    end_datetime: NaiveDateTime,
    reason: String,
    status: String,
    cancellation_reason: String,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    archived_at: Option<NaiveDateTime>,
    version: i64,
    expires_at: Option<NaiveDateTime>,
    series_id: Option<i64>,
}

/// At most this many open (PENDING, unexpired) holds per patient.
pub const MAX_OPEN_HOLDS: i64 = 3;

const PENDING: &str = AppointmentStatus::Pending.as_str();
/// How many statuses read as they are stored (all but a hold's two).
const STORED_AS_READ: usize = AppointmentStatus::ALL.len() - 2;
const SCHEDULED: &str = AppointmentStatus::Scheduled.as_str();
const EXPIRED: &str = AppointmentStatus::Expired.as_str();

/// The appointments that hold their time at `t`: SCHEDULED ones, and PENDING holds that have not
/// expired by then (the database rule itself covers every PENDING row; an expired hold in the
/// way is marked EXPIRED by [`expire_holds`] before the booking that meets it is tried again).
#[diesel::dsl::auto_type]
pub(crate) fn blocking_at(t: NaiveDateTime) -> _ {
    let scheduled: &'static str = SCHEDULED;
    let pending: &'static str = PENDING;
    appointments::status.eq(scheduled).or(appointments::status
        .eq(pending)
        .and(appointments::expires_at.gt(t)))
}

/// The version an appointment row is served with: its stored one, or for a hold past its
/// `expires_at` that nothing has marked EXPIRED yet, the next one (the version that marking
/// stores), so the `ETag` of the hold as it read before its expiry no longer matches.
pub(crate) fn read_version(status: &str, expires_at: Option<NaiveDateTime>, stored: i64) -> i64 {
    let expired_unmarked =
        status == PENDING && expires_at.is_none_or(|until| until <= to_db(now()));
    stored + i64::from(expired_unmarked)
}

impl AppointmentRow {
    fn into_domain(self) -> StoreResult<Appointment> {
        let _ = self.archived_at;
        let mut status: AppointmentStatus = self
            .status
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("appointment {} status", self.id)))?;
        // A hold past its end reads as EXPIRED everywhere, before anything marks it so, and
        // with the version that marking will store (`read_version`).
        let version = read_version(&self.status, self.expires_at, self.version);
        if version != self.version {
            status = AppointmentStatus::Expired;
        }
        Ok(Appointment {
            id: AppointmentId(self.id),
            doctor: DoctorId(self.doctor_id),
            patient: PatientId(self.patient_id),
            appointment_datetime: from_db(self.appointment_datetime),
            duration_minutes: self.duration_minutes,
            end_datetime: from_db(self.end_datetime),
            reason: self.reason,
            status,
            cancellation_reason: self.cancellation_reason,
            created_by: self.created_by.map(UserId),
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            expires_at: self.expires_at.map(from_db),
            series: self.series_id,
            version,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = appointments, treat_none_as_default_value = false)]
struct AppointmentInsert<'a> {
    doctor_id: i64,
    patient_id: i64,
    appointment_datetime: NaiveDateTime,
    duration_minutes: i32,
    end_datetime: NaiveDateTime,
    reason: &'a str,
    status: &'a str,
    cancellation_reason: &'a str,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    series_id: Option<i64>,
}

impl<'a> AppointmentInsert<'a> {
    /// The row of a new appointment (in its requested status) created at `t`; a hold's
    /// `expires_at` is `hold` later.
    fn new(
        input: &'a NewAppointment,
        created_by: UserId,
        t: NaiveDateTime,
        hold: Duration,
    ) -> Self {
        Self {
            doctor_id: input.doctor.0,
            patient_id: input.patient.0,
            appointment_datetime: to_db(input.start),
            duration_minutes: input.duration_minutes,
            end_datetime: to_db(input.end()),
            reason: &input.reason,
            status: input.status.as_str(),
            cancellation_reason: "",
            created_by: Some(created_by.0),
            created_at: t,
            updated_at: t,
            expires_at: (input.status == AppointmentStatus::Pending).then(|| t + hold),
            series_id: None,
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = appointments)]
struct AppointmentUpdate<'a> {
    doctor_id: Option<i64>,
    patient_id: Option<i64>,
    appointment_datetime: Option<NaiveDateTime>,
    duration_minutes: Option<i32>,
    end_datetime: Option<NaiveDateTime>,
    reason: Option<&'a str>,
    status: Option<&'a str>,
    cancellation_reason: Option<&'a str>,
    updated_at: NaiveDateTime,
    expires_at: Option<Option<NaiveDateTime>>,
}

/// Order of the appointment list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppointmentOrder {
    /// Earliest first (ties by id).
    #[default]
    StartAsc,
    /// Latest first (ties by id).
    StartDesc,
    /// By id.
    Id,
}

/// Filters of the appointment list.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    /// Only this doctor's.
    pub doctor: Option<DoctorId>,
    /// Only this patient's.
    pub patient: Option<PatientId>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<AppointmentStatus>,
    /// Start at or after.
    pub from: Option<DateTime<Utc>>,
    /// Start strictly before.
    pub until: Option<DateTime<Utc>>,
    /// Only the occurrences of this series.
    pub series: Option<i64>,
    /// Order.
    pub order: AppointmentOrder,
}

type Boxed<'a> = appointments::BoxedQuery<'a, crate::db::MultiBackend>;

fn scoped<'a>(query: Boxed<'a>, scope: Scope) -> Boxed<'a> {
    let query = query.filter(appointments::archived_at.is_null());
    match scope {
        Scope::All => query,
        Scope::OwnedBy(user) => query.filter(
            appointments::patient_id.eq_any(
                patients::table
                    .filter(patients::user_id.eq(user.0))
                    .filter(patients::archived_at.is_null())
                    .select(patients::id),
            ),
        ),
        Scope::DoctorOf(doctor) => query.filter(appointments::doctor_id.eq(doctor.0)),
        Scope::Nothing => query.filter(appointments::id.lt(0)),
    }
}

/// Checks that the doctor exists and the patient exists and is visible in `scope`.
pub(crate) fn check_parties(
    conn: &mut DbConnection,
    doctor: DoctorId,
    patient: PatientId,
    scope: Scope,
) -> StoreResult<()> {
    if !crate::doctors::exists(conn, doctor)? {
        return Err(StoreError::MissingReference {
            field: "doctor",
            id: doctor.0,
        });
    }
    let visible = match scope {
        // Existence alone, without reading the whole record.
        Scope::All => crate::patients::exists(conn, patient)?,
        _ => crate::patients::find(conn, patient, scope).is_ok(),
    };
    if !visible {
        return Err(StoreError::MissingReference {
            field: "patient",
            id: patient.0,
        });
    }
    Ok(())
}

/// What a booking by staff checks first, in one statement (one round trip on PostgreSQL):
/// whether the doctor and the patient exist unarchived, and the doctor's working-hours time
/// zone (`None`: no working hours).
fn booking_facts(
    conn: &mut DbConnection,
    doctor: DoctorId,
    patient: PatientId,
) -> StoreResult<(bool, bool, Option<String>)> {
    Ok(on_backend!(conn, |c| diesel::select((
        exists(
            doctors::table
                .filter(doctors::id.eq(doctor.0))
                .filter(doctors::archived_at.is_null()),
        ),
        exists(
            patients::table
                .filter(patients::id.eq(patient.0))
                .filter(patients::archived_at.is_null()),
        ),
        working_hours::table
            .find(doctor.0)
            .select(working_hours::timezone)
            .single_value(),
    ))
    .get_result(c))?)
}

/// The booking of staff as one statement: the row is inserted only if the doctor and the
/// patient exist unarchived and the doctor keeps no working hours (so nothing but the
/// database's own rules applies); `None` when any of that does not hold. One round trip, and
/// atomic by itself, so it needs no transaction around it on PostgreSQL, where the statement
/// also holds both parties' rows as [`hold_parties`] does.
fn insert_unconstrained(
    conn: &mut DbConnection,
    values: &AppointmentInsert<'_>,
) -> StoreResult<Option<AppointmentRow>> {
    use diesel::dsl::not;
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
    let source = doctors::table
        .inner_join(
            patients::table.on(patients::id
                .eq(values.patient_id)
                .and(patients::archived_at.is_null())),
        )
        .filter(doctors::id.eq(values.doctor_id))
        .filter(doctors::archived_at.is_null())
        .filter(not(exists(
            working_hours::table.filter(working_hours::doctor_id.eq(values.doctor_id)),
        )))
        .select((
            doctors::id,
            patients::id,
            values.appointment_datetime.into_sql::<Timestamp>(),
            values.duration_minutes.into_sql::<Integer>(),
            values.end_datetime.into_sql::<Timestamp>(),
            values.reason.into_sql::<Text>(),
            values.status.into_sql::<Text>(),
            values.cancellation_reason.into_sql::<Text>(),
            values.created_by.into_sql::<Nullable<BigInt>>(),
            values.created_at.into_sql::<Timestamp>(),
            values.updated_at.into_sql::<Timestamp>(),
            values.series_id.into_sql::<Nullable<BigInt>>(),
        ));
    let columns = (
        appointments::doctor_id,
        appointments::patient_id,
        appointments::appointment_datetime,
        appointments::duration_minutes,
        appointments::end_datetime,
        appointments::reason,
        appointments::status,
        appointments::cancellation_reason,
        appointments::created_by,
        appointments::created_at,
        appointments::updated_at,
        appointments::series_id,
    );
    let row = match conn {
        DbConnection::Postgresql(c) => diesel::insert_into(appointments::table)
            .values(source.for_no_key_update())
            .into_columns(columns)
            .returning(appointments::all_columns)
            .get_result(c)
            .optional()?,
        DbConnection::Sqlite(c) => diesel::insert_into(appointments::table)
            .values(source)
            .into_columns(columns)
            .returning(appointments::all_columns)
            .get_result(c)
            .optional()?,
    };
    Ok(row)
}

/// Holds the rows of the doctor and the patient of an appointment that is about to take a
/// slot, on PostgreSQL, until the transaction ends (`FOR NO KEY UPDATE`; the doctor's row
/// first, in every statement that takes both). Two bookings that could collide then never have
/// their rows in the no-overlap indexes at the same time: the second waits for the first to
/// commit and meets a plain conflict. Without it, PostgreSQL's exclusion constraints (index
/// entry first, check second) let simultaneous bookings of one slot wait on each other, and
/// the deadlock detector aborted all but one after a second each instead of answering 409.
/// Holding the doctor's row also orders the booking against a change of that doctor's time off
/// or working hours (`availability::lock_doctor`). Nothing on SQLite, whose writes run one at
/// a time.
fn hold_parties(conn: &mut DbConnection, doctor: DoctorId, patient: PatientId) -> StoreResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        let _: Option<(i64, i64)> = doctors::table
            .inner_join(patients::table.on(patients::id.eq(patient.0)))
            .filter(doctors::id.eq(doctor.0))
            .select((doctors::id, patients::id))
            .for_no_key_update()
            .get_result(c)
            .optional()?;
    }
    Ok(())
}

/// How long a hold keeps its slot unless configured otherwise, seconds.
pub const DEFAULT_HOLD_SECONDS: u32 = 300;

/// [`book`] with holds of [`DEFAULT_HOLD_SECONDS`].
pub fn create(
    conn: &mut DbConnection,
    input: &NewAppointment,
    scope: Scope,
    created_by: UserId,
) -> StoreResult<Appointment> {
    let hold = Duration::seconds(i64::from(DEFAULT_HOLD_SECONDS));
    book(conn, input, scope, created_by, hold)
}

/// Books an appointment (SCHEDULED, or PENDING: a hold that keeps the slot for `hold`). The
/// patient must be visible in `scope`.
///
/// Run it in a write ([`crate::Database::write`]): its `appointment.created` outbox event
/// commits with it. Staff's booking for a doctor without working hours is one statement;
/// otherwise the parties and the doctor's availability are read first and the insert follows,
/// in a savepoint of its own on PostgreSQL that holds the doctor's and the patient's rows from
/// the start ([`hold_parties`]).
pub fn book(
    conn: &mut DbConnection,
    input: &NewAppointment,
    scope: Scope,
    created_by: UserId,
    hold: Duration,
) -> StoreResult<Appointment> {
    book_in(conn, input, scope, created_by, hold, None)
}

/// [`book`], as an occurrence of `series` when it is given.
pub(crate) fn book_in(
    conn: &mut DbConnection,
    input: &NewAppointment,
    scope: Scope,
    created_by: UserId,
    hold: Duration,
    series: Option<i64>,
) -> StoreResult<Appointment> {
    let mut values = AppointmentInsert::new(input, created_by, to_db(now()), hold);
    values.series_id = series;
    let unconstrained = match (scope, input.status) {
        (Scope::All, AppointmentStatus::Scheduled) => insert_unconstrained(conn, &values)?,
        _ => None,
    };
    let appointment = match unconstrained {
        Some(row) => row.into_domain()?,
        // The doctor keeps working hours (or a party is missing, or the caller is a patient):
        // the checks and the insert in one transaction on PostgreSQL, which holds the parties'
        // rows from before the checks on (see `hold_parties`).
        None => crate::db::atomic(conn, |conn| checked_insert(conn, input, scope, &values))?,
    };
    // A hold emits nothing: its confirmation is its `appointment.created`.
    if appointment.status == AppointmentStatus::Scheduled {
        let patient = Some(appointment.patient);
        crate::outbox::emit(
            conn,
            EventType::AppointmentCreated,
            "appointment",
            &appointment,
            patient,
        )?;
    }
    Ok(appointment)
}

/// Marks EXPIRED the holds past their `expires_at` that a booking of `[start, end)` meets on
/// the doctor's side (buffers included) or the patient's, so that they stop blocking (the database rule covers every PENDING row);
/// returns how many. A booking that met the rule runs this and is tried again when it changed
/// anything.
pub fn expire_holds(
    conn: &mut DbConnection,
    doctor: DoctorId,
    patient: PatientId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StoreResult<usize> {
    let t = to_db(now());
    // The doctor's side by the ranges blocked for the doctor (its buffers), the patient's by
    // the times themselves: the two sides of the database rule.
    let blocked = crate::blocks::range_now(conn, doctor, (start, end))?;
    let mut due: Vec<i64> =
        crate::blocks::meeting(conn, doctor, blocked, crate::blocks::Holding::ExpiredAt(t))?
            .into_iter()
            .map(|b| b.id)
            .collect();
    due.extend(
        appointments::table
            .filter(appointments::status.eq(PENDING))
            .filter(appointments::expires_at.le(t))
            .filter(appointments::archived_at.is_null())
            .filter(appointments::patient_id.eq(patient.0))
            .filter(appointments::appointment_datetime.lt(to_db(end)))
            .filter(appointments::end_datetime.gt(to_db(start)))
            .select(appointments::id)
            .load::<i64>(conn)?,
    );
    if due.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        appointments::table
            .filter(appointments::id.eq_any(&due))
            .filter(appointments::status.eq(PENDING))
            .filter(appointments::expires_at.le(t)),
    )
    .set(appointments::status.eq(EXPIRED))
    .execute(conn)?)
}

/// Marks EXPIRED at most `limit` holds past their `expires_at` (the background sweep: a hold
/// already reads as EXPIRED and blocks nothing without it; this keeps the stored status and the
/// list counters in step); returns how many.
pub fn expire_due_holds(conn: &mut DbConnection, limit: i64) -> StoreResult<usize> {
    let t = to_db(now());
    let due: Vec<i64> = appointments::table
        .filter(appointments::status.eq(PENDING))
        .filter(appointments::expires_at.le(t))
        .select(appointments::id)
        .limit(limit)
        .load(conn)?;
    if due.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        appointments::table
            .filter(appointments::id.eq_any(&due))
            .filter(appointments::status.eq(PENDING))
            .filter(appointments::expires_at.le(t)),
    )
    .set(appointments::status.eq(EXPIRED))
    .execute(conn)?)
}

/// What a booking conflict hit: one blocking appointment of the doctor or the patient that
/// overlaps the requested time, and whether the caller may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The doctor's (`true`) or the patient's (`false`) booking.
    pub doctor_side: bool,
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end.
    pub end: DateTime<Utc>,
    /// Its id, when the caller's scope shows it.
    pub id: Option<AppointmentId>,
}

/// The blocking appointments (other than `except`) that a booking of `[start, end)` meets,
/// earliest first, at most 20 on each side: what a 409 names. On the doctor's side the ranges
/// blocked for the doctor count (the doctor's buffers, see [`crate::blocks`]); on the
/// patient's the times themselves. The times named are the appointments' own.
pub fn overlapping(
    conn: &mut DbConnection,
    doctor: DoctorId,
    patient: PatientId,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    except: Option<AppointmentId>,
    scope: Scope,
) -> StoreResult<Vec<Overlap>> {
    let t = to_db(now());
    let except = except.map_or(0, |a| a.0);
    let blocked = crate::blocks::range_now(conn, doctor, (start, end))?;
    let doctor_side: Vec<(i64, NaiveDateTime, NaiveDateTime)> =
        crate::blocks::meeting(conn, doctor, blocked, crate::blocks::Holding::LiveAt(t))?
            .into_iter()
            .filter(|b| b.id != except)
            .take(20)
            .map(|b| (b.id, b.start, b.end))
            .collect();
    let patient_side: Vec<(i64, NaiveDateTime, NaiveDateTime)> = appointments::table
        .filter(appointments::patient_id.eq(patient.0))
        .filter(appointments::archived_at.is_null())
        .filter(blocking_at(t))
        .filter(appointments::appointment_datetime.lt(to_db(end)))
        .filter(appointments::end_datetime.gt(to_db(start)))
        .filter(appointments::id.ne(except))
        .order((appointments::appointment_datetime, appointments::id))
        .limit(20)
        .select((
            appointments::id,
            appointments::appointment_datetime,
            appointments::end_datetime,
        ))
        .load(conn)?;
    let ids: Vec<i64> = doctor_side
        .iter()
        .chain(&patient_side)
        .map(|r| r.0)
        .collect();
    let visible: Vec<i64> = scoped(appointments::table.into_boxed(), scope)
        .filter(appointments::id.eq_any(&ids))
        .select(appointments::id)
        .load(conn)?;
    let mut found: Vec<(NaiveDateTime, i64, Overlap)> =
        [(true, doctor_side), (false, patient_side)]
            .into_iter()
            .flat_map(|(doctor_side, rows)| {
                let visible = &visible;
                rows.into_iter().map(move |(id, s, e)| {
                    let overlap = Overlap {
                        doctor_side,
                        start: from_db(s),
                        end: from_db(e),
                        id: visible.contains(&id).then_some(AppointmentId(id)),
                    };
                    (s, id, overlap)
                })
            })
            .collect();
    // Earliest first; one appointment of both parties: the doctor's side first.
    found.sort_by_key(|(s, id, o)| (*s, *id, !o.doctor_side));
    Ok(found.into_iter().map(|(_, _, o)| o).collect())
}

/// The checks of a booking that is not [`insert_unconstrained`]'s case, then the insert.
fn checked_insert(
    conn: &mut DbConnection,
    input: &NewAppointment,
    scope: Scope,
    values: &AppointmentInsert<'_>,
) -> StoreResult<Appointment> {
    let (doctor, patient) = (input.doctor, input.patient);
    hold_parties(conn, doctor, patient)?;
    if scope == Scope::All {
        let (doctor_ok, patient_ok, zone) = booking_facts(conn, doctor, patient)?;
        let missing = match (doctor_ok, patient_ok) {
            (false, _) => Some(("doctor", doctor.0)),
            (true, false) => Some(("patient", patient.0)),
            (true, true) => None,
        };
        if let Some((field, id)) = missing {
            return Err(StoreError::MissingReference { field, id });
        }
        crate::availability::ensure_available_in_zone(
            conn,
            doctor,
            zone,
            input.start,
            input.end(),
        )?;
    } else {
        check_parties(conn, doctor, patient, scope)?;
        crate::availability::ensure_available(conn, doctor, input.start, input.end())?;
    }
    if input.status == AppointmentStatus::Pending && open_holds(conn, patient)? >= MAX_OPEN_HOLDS {
        return Err(StoreError::TooManyHolds);
    }
    let row: AppointmentRow = on_backend!(conn, |c| diesel::insert_into(appointments::table)
        .values(values)
        .returning(appointments::all_columns)
        .get_result(c))?;
    row.into_domain()
}

/// The patient's holds that have not expired (counted under the patient's row lock on
/// PostgreSQL, [`hold_parties`], so concurrent holds of one patient are counted one by one).
fn open_holds(conn: &mut DbConnection, patient: PatientId) -> StoreResult<i64> {
    Ok(appointments::table
        .filter(appointments::patient_id.eq(patient.0))
        .filter(appointments::status.eq(PENDING))
        .filter(appointments::expires_at.gt(to_db(now())))
        .filter(appointments::archived_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Inserts many SCHEDULED appointments in multi-row statements, for bulk loading (the demo
/// data set): the database still enforces no-overlap and the foreign keys, but the doctors'
/// working hours are not consulted and every party must exist. Returns the number inserted.
pub fn insert_many(
    conn: &mut DbConnection,
    inputs: &[NewAppointment],
    created_by: UserId,
) -> StoreResult<usize> {
    let t = to_db(now());
    let rows: Vec<AppointmentInsert<'_>> = inputs
        .iter()
        .map(|input| AppointmentInsert::new(input, created_by, t, Duration::zero()))
        .collect();
    let mut inserted = 0;
    // 11 parameters a row: 500 rows stay under every backend's bound-parameter limit.
    for chunk in rows.chunks(500) {
        inserted += on_backend!(conn, |c| diesel::insert_into(appointments::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(inserted)
}

/// An appointment visible in `scope`.
pub fn find(conn: &mut DbConnection, id: AppointmentId, scope: Scope) -> StoreResult<Appointment> {
    let row: AppointmentRow = match scope {
        // The common cases as static queries on the concrete connection, so the prepared
        // statement is found by type (a boxed query is prepared again on every call).
        Scope::All => on_backend!(conn, |c| appointments::table
            .find(id.0)
            .filter(appointments::archived_at.is_null())
            .get_result(c))?,
        Scope::DoctorOf(doctor) => on_backend!(conn, |c| appointments::table
            .find(id.0)
            .filter(appointments::archived_at.is_null())
            .filter(appointments::doctor_id.eq(doctor.0))
            .get_result(c))?,
        _ => scoped(appointments::table.into_boxed(), scope)
            .filter(appointments::id.eq(id.0))
            .get_result(conn)?,
    };
    row.into_domain()
}

/// Several single-appointment reads in one visit to the database: for each `(id, scope)` the
/// appointment as [`find`] sees it, or `None` where [`find`] answers not found. On PostgreSQL the
/// ids of each scope go in one `id = ANY($1)` query (one round trip, a cached statement); on
/// SQLite, which has no array parameters, and for a single read, each is [`find`]'s own cached
/// lookup (`id = $1` costs PostgreSQL less than `id = ANY($1)` with one element).
pub fn find_each(
    conn: &mut DbConnection,
    keys: &[(AppointmentId, Scope)],
) -> StoreResult<Vec<Option<Appointment>>> {
    if each::one_by_one(conn, keys) {
        return each::each_alone(conn, keys, |c, (id, scope)| find(c, id, scope));
    }
    let mut found = vec![None; keys.len()];
    for (scope, ids) in each::by_scope(keys, |id| id.0) {
        let rows: Vec<AppointmentRow> = match (scope, &mut *conn) {
            (Scope::All, DbConnection::Postgresql(c)) => appointments::table
                .filter(appointments::id.eq_any(&ids))
                .filter(appointments::archived_at.is_null())
                .load(c)?,
            (Scope::DoctorOf(doctor), DbConnection::Postgresql(c)) => appointments::table
                .filter(appointments::id.eq_any(&ids))
                .filter(appointments::archived_at.is_null())
                .filter(appointments::doctor_id.eq(doctor.0))
                .load(c)?,
            (_, c) => scoped(appointments::table.into_boxed(), scope)
                .filter(appointments::id.eq_any(&ids))
                .load(c)?,
        };
        for row in rows {
            let appointment = row.into_domain()?;
            each::place(&mut found, keys, &(appointment.id, scope), appointment);
        }
    }
    Ok(found)
}

impl AppointmentFilter {
    /// The statuses the filter asks for: its own, or (none named) every status but EXPIRED.
    fn asked(&self) -> Vec<AppointmentStatus> {
        if self.statuses.is_empty() {
            AppointmentStatus::ALL
                .iter()
                .copied()
                .filter(|s| *s != AppointmentStatus::Expired)
                .collect()
        } else {
            self.statuses.clone()
        }
    }

    /// The filter split in two: the statuses stored as they read (counted from
    /// `appointment_counts`), and the holds' two (PENDING and EXPIRED, which a hold changes by
    /// time alone: counted from the appointments themselves); `None` for a side with nothing.
    fn split(&self) -> (Option<Self>, Option<Self>) {
        let (holds, stored): (Vec<_>, Vec<_>) = self
            .asked()
            .into_iter()
            .partition(|s| matches!(s, AppointmentStatus::Pending | AppointmentStatus::Expired));
        let with = |statuses: Vec<AppointmentStatus>| {
            (!statuses.is_empty()).then(|| Self {
                statuses,
                ..self.clone()
            })
        };
        (with(stored), with(holds))
    }
}

/// The appointments of `scope` matching `filter`, with the start bounded by `from` and `until`
/// instead of the filter's own bounds (the counts below split the filter's range).
fn matching<'a>(
    scope: Scope,
    filter: &AppointmentFilter,
    (from, until): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    live: &[i64],
) -> Boxed<'a> {
    let mut q = scoped(appointments::table.into_boxed(), scope);
    if let Some(d) = filter.doctor {
        q = q.filter(appointments::doctor_id.eq(d.0));
    }
    if let Some(p) = filter.patient {
        q = q.filter(appointments::patient_id.eq(p.0));
    }
    if let Some(series) = filter.series {
        q = q.filter(appointments::series_id.eq(series));
    }
    let asked = filter.asked();
    let stored: Vec<&str> = asked
        .iter()
        .filter(|s| !matches!(s, AppointmentStatus::Pending | AppointmentStatus::Expired))
        .map(|s| s.as_str())
        .collect();
    let t = to_db(now());
    // A hold's status as it reads (`into_domain`): PENDING until `expires_at` (the `live`
    // holds, read once per list by [`live_holds`]), EXPIRED after.
    let pending = asked.contains(&AppointmentStatus::Pending) && !live.is_empty();
    let every_stored = stored.len() == STORED_AS_READ;
    q = match (pending, asked.contains(&AppointmentStatus::Expired)) {
        // Every status stored as it reads: the one comparison the planners take best.
        (false, false) if every_stored => q.filter(appointments::status.ne_all([PENDING, EXPIRED])),
        (false, false) => q.filter(appointments::status.eq_any(stored)),
        (true, false) if every_stored => q.filter(
            appointments::status
                .ne_all([PENDING, EXPIRED])
                .or(appointments::id.eq_any(live.to_vec())),
        ),
        (true, false) => q.filter(
            appointments::status
                .eq_any(stored)
                .or(appointments::id.eq_any(live.to_vec())),
        ),
        (false, true) => q.filter(
            appointments::status
                .eq_any(stored)
                .or(appointments::status.eq(EXPIRED))
                .or(appointments::status
                    .eq(PENDING)
                    .and(appointments::expires_at.le(t))),
        ),
        (true, true) => q.filter(
            appointments::status
                .eq_any(stored)
                .or(appointments::status.eq_any([PENDING, EXPIRED])),
        ),
    };
    if let Some(from) = from {
        q = q.filter(appointments::appointment_datetime.ge(to_db(from)));
    }
    if let Some(until) = until {
        q = q.filter(appointments::appointment_datetime.lt(to_db(until)));
    }
    q
}

/// The `day` of `appointment_counts`: days since 1970-01-01 of a UTC midnight.
fn day_number(midnight: DateTime<Utc>) -> i32 {
    let days = midnight.date_naive() - chrono::NaiveDate::default();
    // Dates the API accepts (years 1-9999) are within ±3.7 million days.
    i32::try_from(days.num_days()).unwrap_or(if days.num_days() < 0 {
        i32::MIN
    } else {
        i32::MAX
    })
}

/// The first UTC midnight at or after `t`.
fn midnight_at_or_after(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = t.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
    if floor == t {
        Some(t)
    } else {
        floor.checked_add_signed(Duration::days(1))
    }
}

/// The last UTC midnight at or before `t`.
fn midnight_at_or_before(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(t.date_naive().and_hms_opt(0, 0, 0)?.and_utc())
}

/// How many appointments of `scope` match `filter` (X-Total-Count).
///
/// Exact. Lists that are not narrowed to a patient are counted from `appointment_counts` (kept
/// by triggers, one row per doctor, UTC day and status) for the whole days of the range, and from
/// the appointments themselves only for a partial first or last day; so the cost grows with the
/// days in the range, not with the appointments in it.
fn count(
    conn: &mut DbConnection,
    scope: Scope,
    filter: &AppointmentFilter,
    live: &[i64],
) -> StoreResult<i64> {
    let (stored, holds) = filter.split();
    let mut total = match stored {
        Some(stored) => count_stored(conn, scope, &stored)?,
        None => 0,
    };
    if let Some(holds) = holds {
        // Live holds only, and none: nothing to read.
        if holds.statuses != [AppointmentStatus::Pending] || !live.is_empty() {
            total += matching(scope, &holds, (holds.from, holds.until), live)
                .count()
                .get_result::<i64>(conn)?;
        }
    }
    Ok(total)
}

/// The ids of the holds that have not expired: few at any time, read through their partial
/// index (`appointments_pending_idx`, whose condition the query repeats as a literal so that
/// both planners use it with a cached statement). A list reads them once and then matches live
/// holds by id, so a list with none costs what it cost before holds existed.
fn live_holds(conn: &mut DbConnection) -> StoreResult<Vec<i64>> {
    use diesel::dsl::sql;
    use diesel::sql_types::Bool;
    let t = to_db(now());
    Ok(on_backend!(conn, |c| appointments::table
        .filter(sql::<Bool>("status = 'PENDING'"))
        .filter(appointments::expires_at.gt(t))
        .filter(appointments::archived_at.is_null())
        .select(appointments::id)
        .load(c))?)
}

/// [`count`] of a filter that names statuses stored as they read.
fn count_stored(
    conn: &mut DbConnection,
    scope: Scope,
    filter: &AppointmentFilter,
) -> StoreResult<i64> {
    let exact = |conn: &mut DbConnection, from, until| -> StoreResult<i64> {
        Ok(matching(scope, filter, (from, until), &[])
            .count()
            .get_result(conn)?)
    };
    let doctor_scope = match scope {
        Scope::All => None,
        Scope::DoctorOf(d) => Some(d),
        Scope::OwnedBy(_) | Scope::Nothing => {
            return exact(conn, filter.from, filter.until);
        }
    };
    if filter.patient.is_some() || filter.series.is_some() {
        return exact(conn, filter.from, filter.until);
    }
    let whole_from = match filter.from {
        Some(t) => match midnight_at_or_after(t) {
            Some(m) => Some(m),
            None => return exact(conn, filter.from, filter.until),
        },
        None => None,
    };
    let whole_until = match filter.until {
        Some(t) => match midnight_at_or_before(t) {
            Some(m) => Some(m),
            None => return exact(conn, filter.from, filter.until),
        },
        None => None,
    };
    if let (Some(a), Some(b)) = (whole_from, whole_until) {
        if a >= b {
            return exact(conn, filter.from, filter.until);
        }
    }
    let mut total = 0;
    if let (Some(from), Some(m)) = (filter.from, whole_from) {
        if from < m {
            total += exact(conn, Some(from), Some(m))?;
        }
    }
    if let (Some(until), Some(m)) = (filter.until, whole_until) {
        if m < until {
            total += exact(conn, Some(m), Some(until))?;
        }
    }
    let mut q = appointment_counts::table
        .select(diesel::dsl::sum(appointment_counts::n))
        .into_boxed::<crate::db::MultiBackend>();
    for doctor in [filter.doctor, doctor_scope].into_iter().flatten() {
        q = q.filter(appointment_counts::doctor_id.eq(doctor.0));
    }
    match filter.statuses.as_slice() {
        [] => {}
        every if every.len() == STORED_AS_READ => {
            q = q.filter(appointment_counts::status.ne_all([PENDING, EXPIRED]))
        }
        [one] => q = q.filter(appointment_counts::status.eq(one.as_str())),
        many => {
            q = q.filter(
                appointment_counts::status
                    .eq_any(many.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            )
        }
    }
    if let Some(m) = whole_from {
        q = q.filter(appointment_counts::day.ge(day_number(m)));
    }
    if let Some(m) = whole_until {
        q = q.filter(appointment_counts::day.lt(day_number(m)));
    }
    let whole_days: Option<i64> = q.get_result(conn)?;
    Ok(total + whole_days.unwrap_or(0))
}

/// The appointments visible in `scope` that match `filter`.
pub fn list(
    conn: &mut DbConnection,
    scope: Scope,
    filter: &AppointmentFilter,
    page: Page,
) -> StoreResult<Listed<Appointment>> {
    let live = if filter.asked().contains(&AppointmentStatus::Pending) {
        live_holds(conn)?
    } else {
        Vec::new()
    };
    let total = count(conn, scope, filter, &live)?;
    let build = || matching(scope, filter, (filter.from, filter.until), &live);
    let ordered = match filter.order {
        AppointmentOrder::StartAsc => build().order((
            appointments::appointment_datetime.asc(),
            appointments::id.asc(),
        )),
        AppointmentOrder::StartDesc => build().order((
            appointments::appointment_datetime.desc(),
            appointments::id.desc(),
        )),
        AppointmentOrder::Id => build().order(appointments::id.asc()),
    };
    let rows: Vec<AppointmentRow> = ordered.limit(page.limit).offset(page.offset).load(conn)?;
    let items = rows
        .into_iter()
        .map(AppointmentRow::into_domain)
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// Applies a change to an appointment visible in `scope`, enforcing the status lifecycle
/// (who may make which transition, final states final, only SCHEDULED may move). Runs inside
/// the caller's write transaction, so the checks see the row as it is written.
pub fn update(
    conn: &mut DbConnection,
    id: AppointmentId,
    scope: Scope,
    changes: &AppointmentChanges,
    role: Role,
) -> StoreResult<Appointment> {
    let current = find(conn, id, scope)?;
    if changes.status == Some(AppointmentStatus::Scheduled)
        && current.status == AppointmentStatus::Expired
    {
        return Err(StoreError::HoldExpired);
    }
    if changes.moves() {
        healthcare_scheduling::may_reschedule(current.status).map_err(|e| StoreError::Invalid {
            field: "non_field_errors",
            message: e.to_string(),
        })?;
    }
    if let Some(to) = changes.status {
        healthcare_scheduling::transition(current.status, to, role).map_err(lifecycle_error)?;
    }
    let doctor = changes.doctor.unwrap_or(current.doctor);
    let patient = changes.patient.unwrap_or(current.patient);
    if changes.doctor.is_some() || changes.patient.is_some() {
        check_parties(conn, doctor, patient, scope)?;
    }
    if changes.status.unwrap_or(current.status).blocks_time() {
        hold_parties(conn, doctor, patient)?;
    }
    let start = changes.start.unwrap_or(current.appointment_datetime);
    let minutes = changes.duration_minutes.unwrap_or(current.duration_minutes);
    let end = start + Duration::minutes(i64::from(minutes));
    let moved = changes.moves();
    // A new time or another doctor must fit that doctor's working hours (when they have any);
    // a change of patient alone, or a "move" to the same time, keeps what was already agreed.
    if doctor != current.doctor
        || start != current.appointment_datetime
        || minutes != current.duration_minutes
    {
        crate::availability::ensure_available(conn, doctor, start, end)?;
    }
    let t = now();
    // A hold leaves PENDING without its `expires_at`; one that expired meanwhile (by the clock,
    // or marked so by a competing booking) is not changed: "This hold has expired."
    let leaves_hold = current.status == AppointmentStatus::Pending
        && changes
            .status
            .is_some_and(|s| s != AppointmentStatus::Pending);
    let not_expired = appointments::status
        .ne(PENDING)
        .or(appointments::expires_at.gt(to_db(t)));
    let row: Option<AppointmentRow> = diesel::update(
        appointments::table
            .filter(appointments::id.eq(id.0))
            .filter(appointments::status.ne(EXPIRED))
            .filter(not_expired),
    )
    // The version is bumped here, not by the table's trigger, so that the returned row has it.
    .set((
        AppointmentUpdate {
            doctor_id: changes.doctor.map(|d| d.0),
            patient_id: changes.patient.map(|p| p.0),
            appointment_datetime: moved.then(|| to_db(start)),
            duration_minutes: moved.then_some(minutes),
            end_datetime: moved.then(|| to_db(end)),
            reason: changes.reason.as_deref(),
            status: changes.status.map(|s| s.as_str()),
            cancellation_reason: changes.cancellation_reason.as_deref(),
            updated_at: to_db(t),
            expires_at: leaves_hold.then_some(None),
        },
        appointments::version.eq(appointments::version + 1),
    ))
    .returning(appointments::all_columns)
    .get_result(conn)
    .optional()?;
    let appointment = match row {
        Some(row) => row.into_domain()?,
        None if current.status == AppointmentStatus::Pending => {
            return Err(StoreError::HoldExpired)
        }
        None => return Err(StoreError::NotFound),
    };
    if let Some(kind) = crate::outbox::appointment_change(&current, &appointment) {
        let patient = Some(appointment.patient);
        crate::outbox::emit(conn, kind, "appointment", &appointment, patient)?;
    }
    Ok(appointment)
}

fn lifecycle_error(e: healthcare_scheduling::TransitionError) -> StoreError {
    match e {
        healthcare_scheduling::TransitionError::NotAllowed { .. } => StoreError::Forbidden,
        other => StoreError::Invalid {
            field: "status",
            message: other.to_string(),
        },
    }
}

/// Archives an appointment visible in `scope`: it leaves lists and frees its slot.
pub fn archive(conn: &mut DbConnection, id: AppointmentId, scope: Scope) -> StoreResult<()> {
    let mut appointment = find(conn, id, scope)?;
    let t = now();
    diesel::update(appointments::table.filter(appointments::id.eq(id.0)))
        .set((
            appointments::archived_at.eq(Some(to_db(t))),
            appointments::updated_at.eq(to_db(t)),
        ))
        .execute(conn)?;
    appointment.updated_at = t;
    // A hold was never announced, so its end is not either.
    if !matches!(
        appointment.status,
        AppointmentStatus::Pending | AppointmentStatus::Expired
    ) {
        let patient = Some(appointment.patient);
        crate::outbox::emit(
            conn,
            EventType::AppointmentCancelled,
            "appointment",
            &appointment,
            patient,
        )?;
    }
    Ok(())
}

/// Number of unarchived appointments of a doctor or a patient that end after `t` and hold their
/// time (SCHEDULED, or a hold that has not expired).
pub fn future_scheduled(
    conn: &mut DbConnection,
    doctor: Option<DoctorId>,
    patient: Option<PatientId>,
    t: DateTime<Utc>,
) -> StoreResult<i64> {
    let mut q = appointments::table
        .filter(blocking_at(to_db(now())))
        .filter(appointments::archived_at.is_null())
        .filter(appointments::end_datetime.gt(to_db(t)))
        .into_boxed();
    if let Some(d) = doctor {
        q = q.filter(appointments::doctor_id.eq(d.0));
    }
    if let Some(p) = patient {
        q = q.filter(appointments::patient_id.eq(p.0));
    }
    Ok(q.count().get_result(conn)?)
}
