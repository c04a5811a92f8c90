//! Doctor records.

use crate::db::DbConnection;
use crate::each;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{like_pattern, lower, prefix_pattern, Listed, Page};
use crate::schema::{doctors, users};
use crate::time::{from_db, now, to_db};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use healthcare_domain::{Doctor, DoctorChanges, DoctorId, NewDoctor, Role, Specialization, UserId};

/// A stored doctor row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = doctors)]
pub struct DoctorRow {
    id: i64,
    user_id: Option<i64>,
    first_name: String,
    last_name: String,
    specialization: String,
    contact_number: String,
    email: String,
    license_number: String,
    hospital: String,
    address: String,
    experience_years: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    archived_at: Option<NaiveDateTime>,
    version: i64,
    hours_version: i64,
    buffer_before_minutes: i32,
    buffer_after_minutes: i32,
}

impl DoctorRow {
    pub(crate) fn into_domain(self) -> StoreResult<Doctor> {
        let _ = self.archived_at;
        // The working hours' version, served with them (`availability::working_hours`).
        let _ = self.hours_version;
        Ok(Doctor {
            id: DoctorId(self.id),
            first_name: self.first_name,
            last_name: self.last_name,
            specialization: self
                .specialization
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("doctor {} specialization", self.id)))?,
            contact_number: self.contact_number,
            email: self.email,
            license_number: self.license_number,
            hospital: self.hospital,
            address: self.address,
            experience_years: self.experience_years,
            user: self.user_id.map(UserId),
            buffer_before_minutes: self.buffer_before_minutes,
            buffer_after_minutes: self.buffer_after_minutes,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            version: self.version,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = doctors)]
struct DoctorInsert<'a> {
    user_id: Option<i64>,
    first_name: &'a str,
    last_name: &'a str,
    specialization: &'a str,
    contact_number: &'a str,
    email: &'a str,
    license_number: &'a str,
    hospital: &'a str,
    address: &'a str,
    experience_years: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    buffer_before_minutes: i32,
    buffer_after_minutes: i32,
}

#[derive(AsChangeset)]
#[diesel(table_name = doctors)]
struct DoctorUpdate<'a> {
    user_id: Option<Option<i64>>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    specialization: Option<&'a str>,
    contact_number: Option<&'a str>,
    email: Option<&'a str>,
    license_number: Option<&'a str>,
    hospital: Option<&'a str>,
    address: Option<&'a str>,
    experience_years: Option<i32>,
    updated_at: NaiveDateTime,
    buffer_before_minutes: Option<i32>,
    buffer_after_minutes: Option<i32>,
}

/// Filters of the doctor list.
#[derive(Debug, Clone, Default)]
pub struct DoctorFilter {
    /// Case-insensitive substring of the first or last name, or a specialization code.
    pub search: Option<String>,
    /// Only this specialization.
    pub specialization: Option<Specialization>,
    /// Case-insensitive start of the first or last name (FHIR's `name`).
    pub name_prefix: Option<String>,
}

/// A linked account must exist and have the doctor role.
fn check_user(conn: &mut DbConnection, user: Option<UserId>) -> StoreResult<()> {
    if let Some(u) = user {
        // Held (PostgreSQL) until the link commits, so a role change of the account waits for
        // it and then sees it (`users::update`).
        let account = users::table.filter(users::id.eq(u.0)).select(users::role);
        let role: Option<String> = match conn {
            DbConnection::Postgresql(c) => account.for_share().first(c).optional()?,
            DbConnection::Sqlite(c) => account.first(c).optional()?,
        };
        match role {
            None => {
                return Err(StoreError::MissingReference {
                    field: "user",
                    id: u.0,
                })
            }
            Some(r) if r != Role::Doctor.as_str() => {
                return Err(StoreError::Invalid {
                    field: "user",
                    message: "The linked account must have the doctor role.".into(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Creates a doctor record.
pub fn create(conn: &mut DbConnection, input: &NewDoctor) -> StoreResult<Doctor> {
    check_user(conn, input.user)?;
    let t = to_db(now());
    let row: DoctorRow = diesel::insert_into(doctors::table)
        .values(DoctorInsert {
            user_id: input.user.map(|u| u.0),
            first_name: &input.first_name,
            last_name: &input.last_name,
            specialization: input.specialization.as_str(),
            contact_number: &input.contact_number,
            email: &input.email,
            license_number: &input.license_number,
            hospital: &input.hospital,
            address: &input.address,
            experience_years: input.experience_years,
            created_at: t,
            updated_at: t,
            buffer_before_minutes: input.buffer_before_minutes,
            buffer_after_minutes: input.buffer_after_minutes,
        })
        .returning(doctors::all_columns)
        .get_result(conn)?;
    row.into_domain()
}

/// A doctor that is not archived (the directory is visible to every role).
pub fn find(conn: &mut DbConnection, id: DoctorId) -> StoreResult<Doctor> {
    // A static query on the concrete connection, so the prepared statement is found by type.
    let row: DoctorRow = on_backend!(conn, |c| doctors::table
        .filter(doctors::id.eq(id.0))
        .filter(doctors::archived_at.is_null())
        .get_result(c))?;
    row.into_domain()
}

/// Several single-doctor reads in one visit to the database: for each id the doctor as
/// [`find`] sees it, or `None` where [`find`] answers not found (archived or no such id). On
/// PostgreSQL one `id = ANY($1)` query for all of them; on SQLite, and for a single read, each
/// is [`find`] itself.
pub fn find_each(conn: &mut DbConnection, ids: &[DoctorId]) -> StoreResult<Vec<Option<Doctor>>> {
    if each::one_by_one(conn, ids) {
        return each::each_alone(conn, ids, find);
    }
    let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<DoctorRow> = on_backend!(conn, |c| doctors::table
        .filter(doctors::id.eq_any(&raw))
        .filter(doctors::archived_at.is_null())
        .load(c))?;
    let mut found = vec![None; ids.len()];
    for row in rows {
        let doctor = row.into_domain()?;
        let id = doctor.id;
        each::place(&mut found, ids, &id, doctor);
    }
    Ok(found)
}

/// The doctor record linked to an account, if any.
pub fn for_user(conn: &mut DbConnection, user: UserId) -> StoreResult<Option<DoctorId>> {
    Ok(doctors::table
        .filter(doctors::user_id.eq(user.0))
        .filter(doctors::archived_at.is_null())
        .select(doctors::id)
        .get_result::<i64>(conn)
        .optional()?
        .map(DoctorId))
}

/// The doctors, by id.
pub fn list(
    conn: &mut DbConnection,
    filter: &DoctorFilter,
    page: Page,
) -> StoreResult<Listed<Doctor>> {
    let build = || {
        let mut q = doctors::table
            .filter(doctors::archived_at.is_null())
            .into_boxed();
        if let Some(s) = filter.specialization {
            q = q.filter(doctors::specialization.eq(s.as_str()));
        }
        if let Some(s) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            let pattern = like_pattern(s);
            q = q.filter(
                lower(doctors::first_name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(doctors::last_name).like(pattern).escape('\\'))
                    .or(doctors::specialization.eq(s.trim().to_uppercase())),
            );
        }
        if let Some(s) = filter
            .name_prefix
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            let pattern = prefix_pattern(s);
            q = q.filter(
                lower(doctors::first_name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(doctors::last_name).like(pattern).escape('\\')),
            );
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let rows: Vec<DoctorRow> = build()
        .order(doctors::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(DoctorRow::into_domain)
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// Applies a partial update.
pub fn update(
    conn: &mut DbConnection,
    id: DoctorId,
    changes: &DoctorChanges,
) -> StoreResult<Doctor> {
    find(conn, id)?;
    if let Some(user) = changes.user {
        check_user(conn, user)?;
    }
    // The version is bumped here, not by the table's trigger, so that the returned row has it.
    let row: DoctorRow = diesel::update(doctors::table.filter(doctors::id.eq(id.0)))
        .set((
            DoctorUpdate {
                user_id: changes.user.map(|u| u.map(|u| u.0)),
                first_name: changes.first_name.as_deref(),
                last_name: changes.last_name.as_deref(),
                specialization: changes.specialization.map(|s| s.as_str()),
                contact_number: changes.contact_number.as_deref(),
                email: changes.email.as_deref(),
                license_number: changes.license_number.as_deref(),
                hospital: changes.hospital.as_deref(),
                address: changes.address.as_deref(),
                experience_years: changes.experience_years,
                updated_at: to_db(now()),
                buffer_before_minutes: changes.buffer_before_minutes,
                buffer_after_minutes: changes.buffer_after_minutes,
            },
            doctors::version.eq(doctors::version + 1),
        ))
        .returning(doctors::all_columns)
        .get_result(conn)?;
    row.into_domain()
}

/// Archives a doctor, refusing while future SCHEDULED appointments remain.
pub fn archive(conn: &mut DbConnection, id: DoctorId) -> StoreResult<()> {
    find(conn, id)?;
    let t = now();
    let count = crate::appointments::future_scheduled(conn, Some(id), None, t)?;
    if count > 0 {
        return Err(StoreError::HasFutureAppointments { count });
    }
    diesel::update(doctors::table.filter(doctors::id.eq(id.0)))
        .set((
            doctors::archived_at.eq(Some(to_db(t))),
            doctors::updated_at.eq(to_db(t)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether a doctor exists and is not archived.
pub fn exists(conn: &mut DbConnection, id: DoctorId) -> StoreResult<bool> {
    let n: i64 = on_backend!(conn, |c| doctors::table
        .filter(doctors::id.eq(id.0))
        .filter(doctors::archived_at.is_null())
        .count()
        .get_result(c))?;
    Ok(n > 0)
}
