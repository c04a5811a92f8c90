//! Patient records.

use crate::db::DbConnection;
use crate::each;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{like_pattern, lower, prefix_pattern, Listed, Page};
use crate::schema::{appointments, mappings, patients, users};
use crate::time::{from_db, now, to_db};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use healthcare_domain::{
    age_on, EventType, NewPatient, Patient, PatientChanges, PatientId, Scope, UserId,
};

/// A stored patient row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patients)]
pub struct PatientRow {
    id: i64,
    user_id: Option<i64>,
    first_name: String,
    last_name: String,
    date_of_birth: NaiveDate,
    gender: String,
    contact_number: String,
    email: String,
    address: String,
    medical_history: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    archived_at: Option<NaiveDateTime>,
    version: i64,
}

impl PatientRow {
    fn into_domain(self, today: NaiveDate) -> StoreResult<Patient> {
        let _ = self.archived_at;
        Ok(Patient {
            id: PatientId(self.id),
            first_name: self.first_name,
            last_name: self.last_name,
            age: age_on(self.date_of_birth, today),
            date_of_birth: self.date_of_birth,
            gender: self
                .gender
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("patient {} gender", self.id)))?,
            contact_number: self.contact_number,
            email: self.email,
            address: self.address,
            medical_history: self.medical_history,
            user: self.user_id.map(UserId),
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            version: self.version,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = patients)]
struct PatientInsert<'a> {
    user_id: Option<i64>,
    first_name: &'a str,
    last_name: &'a str,
    date_of_birth: NaiveDate,
    gender: &'a str,
    contact_number: &'a str,
    email: &'a str,
    address: &'a str,
    medical_history: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = patients)]
struct PatientUpdate<'a> {
    user_id: Option<Option<i64>>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    date_of_birth: Option<NaiveDate>,
    gender: Option<&'a str>,
    contact_number: Option<&'a str>,
    email: Option<&'a str>,
    address: Option<&'a str>,
    medical_history: Option<&'a str>,
    updated_at: NaiveDateTime,
}

/// Filters of the patient list.
#[derive(Debug, Clone, Default)]
pub struct PatientFilter {
    /// Case-insensitive substring of the first or last name.
    pub search: Option<String>,
    /// Case-insensitive start of the first or last name (FHIR's `name`).
    pub name_prefix: Option<String>,
    /// Born on or after this day.
    pub born_from: Option<NaiveDate>,
    /// Born before this day.
    pub born_until: Option<NaiveDate>,
}

type Boxed<'a> = patients::BoxedQuery<'a, crate::db::MultiBackend>;

fn scoped<'a>(query: Boxed<'a>, scope: Scope) -> Boxed<'a> {
    let query = query.filter(patients::archived_at.is_null());
    match scope {
        Scope::All => query,
        Scope::OwnedBy(user) => query.filter(patients::user_id.eq(user.0)),
        Scope::DoctorOf(doctor) => query.filter(
            patients::id
                .eq_any(
                    mappings::table
                        .filter(mappings::doctor_id.eq(doctor.0))
                        .filter(mappings::is_active.eq(true))
                        .select(mappings::patient_id),
                )
                .or(patients::id.eq_any(
                    appointments::table
                        .filter(appointments::doctor_id.eq(doctor.0))
                        .filter(appointments::archived_at.is_null())
                        .select(appointments::patient_id),
                )),
        ),
        Scope::Nothing => query.filter(patients::id.lt(0)),
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn check_user(conn: &mut DbConnection, user: Option<UserId>) -> StoreResult<()> {
    if let Some(u) = user {
        let found: i64 = users::table
            .filter(users::id.eq(u.0))
            .count()
            .get_result(conn)?;
        if found == 0 {
            return Err(StoreError::MissingReference {
                field: "user",
                id: u.0,
            });
        }
    }
    Ok(())
}

/// Creates a patient record.
pub fn create(conn: &mut DbConnection, input: &NewPatient) -> StoreResult<Patient> {
    check_user(conn, input.user)?;
    let t = to_db(now());
    let row: PatientRow = diesel::insert_into(patients::table)
        .values(PatientInsert {
            user_id: input.user.map(|u| u.0),
            first_name: &input.first_name,
            last_name: &input.last_name,
            date_of_birth: input.date_of_birth,
            gender: input.gender.as_str(),
            contact_number: &input.contact_number,
            email: &input.email,
            address: &input.address,
            medical_history: &input.medical_history,
            created_at: t,
            updated_at: t,
        })
        .returning(patients::all_columns)
        .get_result(conn)?;
    let patient = row.into_domain(today())?;
    crate::outbox::emit(
        conn,
        EventType::PatientCreated,
        "patient",
        &patient,
        Some(patient.id),
    )?;
    Ok(patient)
}

/// A patient visible in `scope` (archived ones are never found).
pub fn find(conn: &mut DbConnection, id: PatientId, scope: Scope) -> StoreResult<Patient> {
    let row: PatientRow = match scope {
        Scope::All => on_backend!(conn, |c| patients::table
            .find(id.0)
            .filter(patients::archived_at.is_null())
            .get_result(c))?,
        _ => scoped(patients::table.into_boxed(), scope)
            .filter(patients::id.eq(id.0))
            .get_result(conn)?,
    };
    row.into_domain(today())
}

/// Several single-patient reads in one visit to the database: for each `(id, scope)` the
/// patient as [`find`] sees it, or `None` where [`find`] answers not found (archived, not
/// visible in that scope, or no such id). On PostgreSQL the ids of each scope go in one
/// `id = ANY($1)` query with that scope's own `WHERE`; on SQLite, and for a single read, each
/// is [`find`] itself.
pub fn find_each(
    conn: &mut DbConnection,
    keys: &[(PatientId, Scope)],
) -> StoreResult<Vec<Option<Patient>>> {
    if each::one_by_one(conn, keys) {
        return each::each_alone(conn, keys, |c, (id, scope)| find(c, id, scope));
    }
    let today = today();
    let mut found = vec![None; keys.len()];
    for (scope, ids) in each::by_scope(keys, |id| id.0) {
        let rows: Vec<PatientRow> = match (scope, &mut *conn) {
            (Scope::All, DbConnection::Postgresql(c)) => patients::table
                .filter(patients::id.eq_any(&ids))
                .filter(patients::archived_at.is_null())
                .load(c)?,
            (_, c) => scoped(patients::table.into_boxed(), scope)
                .filter(patients::id.eq_any(&ids))
                .load(c)?,
        };
        for row in rows {
            let patient = row.into_domain(today)?;
            each::place(&mut found, keys, &(patient.id, scope), patient);
        }
    }
    Ok(found)
}

/// Whether a patient exists and is not archived (ignores visibility).
pub fn exists(conn: &mut DbConnection, id: PatientId) -> StoreResult<bool> {
    let n: i64 = on_backend!(conn, |c| patients::table
        .filter(patients::id.eq(id.0))
        .filter(patients::archived_at.is_null())
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// The patients visible in `scope`, by id.
pub fn list(
    conn: &mut DbConnection,
    scope: Scope,
    filter: &PatientFilter,
    page: Page,
) -> StoreResult<Listed<Patient>> {
    let build = || {
        let mut q = scoped(patients::table.into_boxed(), scope);
        if let Some(s) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            let pattern = like_pattern(s);
            q = q.filter(
                lower(patients::first_name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(patients::last_name).like(pattern).escape('\\')),
            );
        }
        if let Some(s) = filter
            .name_prefix
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            let pattern = prefix_pattern(s);
            q = q.filter(
                lower(patients::first_name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(patients::last_name).like(pattern).escape('\\')),
            );
        }
        if let Some(d) = filter.born_from {
            q = q.filter(patients::date_of_birth.ge(d));
        }
        if let Some(d) = filter.born_until {
            q = q.filter(patients::date_of_birth.lt(d));
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let rows: Vec<PatientRow> = build()
        .order(patients::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    let today = today();
    let items = rows
        .into_iter()
        .map(|r| r.into_domain(today))
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// Applies a partial update to a patient visible in `scope`.
pub fn update(
    conn: &mut DbConnection,
    id: PatientId,
    scope: Scope,
    changes: &PatientChanges,
) -> StoreResult<Patient> {
    find(conn, id, scope)?;
    if let Some(user) = changes.user {
        check_user(conn, user)?;
    }
    // The version is bumped here, not by the table's trigger, so that the returned row has it.
    let row: PatientRow = diesel::update(patients::table.filter(patients::id.eq(id.0)))
        .set((
            PatientUpdate {
                user_id: changes.user.map(|u| u.map(|u| u.0)),
                first_name: changes.first_name.as_deref(),
                last_name: changes.last_name.as_deref(),
                date_of_birth: changes.date_of_birth,
                gender: changes.gender.map(|g| g.as_str()),
                contact_number: changes.contact_number.as_deref(),
                email: changes.email.as_deref(),
                address: changes.address.as_deref(),
                medical_history: changes.medical_history.as_deref(),
                updated_at: to_db(now()),
            },
            patients::version.eq(patients::version + 1),
        ))
        .returning(patients::all_columns)
        .get_result(conn)?;
    let patient = row.into_domain(today())?;
    crate::outbox::emit(
        conn,
        EventType::PatientUpdated,
        "patient",
        &patient,
        Some(patient.id),
    )?;
    Ok(patient)
}

/// Archives a patient visible in `scope`, refusing while future SCHEDULED appointments remain.
pub fn archive(conn: &mut DbConnection, id: PatientId, scope: Scope) -> StoreResult<()> {
    find(conn, id, scope)?;
    let t = now();
    let count = crate::appointments::future_scheduled(conn, None, Some(id), t)?;
    if count > 0 {
        return Err(StoreError::HasFutureAppointments { count });
    }
    diesel::update(patients::table.filter(patients::id.eq(id.0)))
        .set((
            patients::archived_at.eq(Some(to_db(t))),
            patients::updated_at.eq(to_db(t)),
        ))
        .execute(conn)?;
    Ok(())
}
