//! Doctor-patient assignments.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::page::{Listed, Page};
use crate::schema::{doctors, mappings, patients};
use crate::time::{from_db, now, to_db};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use healthcare_domain::{
    Doctor, DoctorId, Mapping, MappingChanges, MappingId, NewMapping, PatientId, Scope, UserId,
};

/// A stored mapping row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mappings)]
pub struct MappingRow {
    id: i64,
    doctor_id: i64,
    patient_id: i64,
    reason_for_assignment: String,
    is_active: bool,
    assigned_by: Option<i64>,
    assigned_date: NaiveDateTime,
    created_at: NaiveDateTime,
    deactivated_by: Option<i64>,
    deactivated_at: Option<NaiveDateTime>,
    reactivated_by: Option<i64>,
    reactivated_at: Option<NaiveDateTime>,
}

impl From<MappingRow> for Mapping {
    fn from(r: MappingRow) -> Self {
        Mapping {
            id: MappingId(r.id),
            doctor: DoctorId(r.doctor_id),
            patient: PatientId(r.patient_id),
            reason_for_assignment: r.reason_for_assignment,
            is_active: r.is_active,
            assigned_by: r.assigned_by.map(UserId),
            assigned_date: from_db(r.assigned_date),
            created_at: from_db(r.created_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = mappings)]
struct MappingInsert<'a> {
    doctor_id: i64,
    patient_id: i64,
    reason_for_assignment: &'a str,
    is_active: bool,
    assigned_by: Option<i64>,
    assigned_date: NaiveDateTime,
    created_at: NaiveDateTime,
}

/// Filters of the mapping list.
#[derive(Debug, Clone, Copy, Default)]
pub struct MappingFilter {
    /// Only this doctor's.
    pub doctor: Option<DoctorId>,
    /// Only this patient's.
    pub patient: Option<PatientId>,
    /// Only active (true) or inactive (false) ones.
    pub is_active: Option<bool>,
}

type Boxed<'a> = mappings::BoxedQuery<'a, crate::db::MultiBackend>;

fn scoped<'a>(query: Boxed<'a>, scope: Scope) -> Boxed<'a> {
    match scope {
        Scope::All => query,
        Scope::OwnedBy(user) => query.filter(
            mappings::patient_id.eq_any(
                patients::table
                    .filter(patients::user_id.eq(user.0))
                    .filter(patients::archived_at.is_null())
                    .select(patients::id),
            ),
        ),
        Scope::DoctorOf(doctor) => query.filter(mappings::doctor_id.eq(doctor.0)),
        Scope::Nothing => query.filter(mappings::id.lt(0)),
    }
}

/// Creates a mapping. The patient must be visible in `scope`; an inactive mapping of the same
/// pair is reactivated (same id) instead of duplicated; an active one is a duplicate.
pub fn create(
    conn: &mut DbConnection,
    input: &NewMapping,
    scope: Scope,
    assigned_by: UserId,
) -> StoreResult<Mapping> {
    if !crate::doctors::exists(conn, input.doctor)? {
        return Err(StoreError::MissingReference {
            field: "doctor",
            id: input.doctor.0,
        });
    }
    if crate::patients::find(conn, input.patient, scope).is_err() {
        return Err(StoreError::MissingReference {
            field: "patient",
            id: input.patient.0,
        });
    }
    let t = to_db(now());
    let existing: Option<MappingRow> = mappings::table
        .filter(mappings::doctor_id.eq(input.doctor.0))
        .filter(mappings::patient_id.eq(input.patient.0))
        .get_result(conn)
        .optional()?;
    let row: MappingRow = match existing {
        Some(row) if row.is_active => {
            return Err(StoreError::Duplicate {
                field: "non_field_errors",
            })
        }
        Some(row) => diesel::update(mappings::table.filter(mappings::id.eq(row.id)))
            .set((
                mappings::is_active.eq(input.is_active),
                mappings::reason_for_assignment.eq(&input.reason_for_assignment),
                mappings::assigned_by.eq(Some(assigned_by.0)),
                mappings::assigned_date.eq(t),
            ))
            .returning(mappings::all_columns)
            .get_result(conn)?,
        None => diesel::insert_into(mappings::table)
            .values(MappingInsert {
                doctor_id: input.doctor.0,
                patient_id: input.patient.0,
                reason_for_assignment: &input.reason_for_assignment,
                is_active: input.is_active,
                assigned_by: Some(assigned_by.0),
                assigned_date: t,
                created_at: t,
            })
            .returning(mappings::all_columns)
            .get_result(conn)?,
    };
    Ok(row.into())
}

/// A mapping visible in `scope`.
pub fn find(conn: &mut DbConnection, id: MappingId, scope: Scope) -> StoreResult<Mapping> {
    let row: MappingRow = scoped(mappings::table.into_boxed(), scope)
        .filter(mappings::id.eq(id.0))
        .get_result(conn)?;
    Ok(row.into())
}

/// The mappings visible in `scope`, by id.
pub fn list(
    conn: &mut DbConnection,
    scope: Scope,
    filter: MappingFilter,
    page: Page,
) -> StoreResult<Listed<Mapping>> {
    let build = || {
        let mut q = scoped(mappings::table.into_boxed(), scope);
        if let Some(d) = filter.doctor {
            q = q.filter(mappings::doctor_id.eq(d.0));
        }
        if let Some(p) = filter.patient {
            q = q.filter(mappings::patient_id.eq(p.0));
        }
        if let Some(a) = filter.is_active {
            q = q.filter(mappings::is_active.eq(a));
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let rows: Vec<MappingRow> = build()
        .order(mappings::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    Ok(Listed {
        items: rows.into_iter().map(Mapping::from).collect(),
        total,
    })
}

/// The doctors actively assigned to a patient visible in `scope` (the seed's
/// `/api/mappings/patient/{id}/`).
pub fn doctors_of_patient(
    conn: &mut DbConnection,
    patient: PatientId,
    scope: Scope,
) -> StoreResult<Vec<Doctor>> {
    crate::patients::find(conn, patient, scope)?;
    let rows: Vec<crate::doctors::DoctorRow> = mappings::table
        .inner_join(doctors::table)
        .filter(mappings::patient_id.eq(patient.0))
        .filter(mappings::is_active.eq(true))
        .filter(doctors::archived_at.is_null())
        .select(doctors::all_columns)
        .order(doctors::id.asc())
        .load(conn)?;
    rows.into_iter()
        .map(crate::doctors::DoctorRow::into_domain)
        .collect()
}

/// Applies a partial update to a mapping visible in `scope`.
pub fn update(
    conn: &mut DbConnection,
    id: MappingId,
    scope: Scope,
    changes: &MappingChanges,
) -> StoreResult<Mapping> {
    find(conn, id, scope)?;
    let target = mappings::table.filter(mappings::id.eq(id.0));
    if let Some(reason) = &changes.reason_for_assignment {
        diesel::update(target)
            .set(mappings::reason_for_assignment.eq(reason))
            .execute(conn)?;
    }
    if let Some(active) = changes.is_active {
        diesel::update(target)
            .set(mappings::is_active.eq(active))
            .execute(conn)?;
    }
    find(conn, id, scope)
}

/// Deactivates a mapping visible in `scope` (DELETE: nothing is physically removed).
pub fn deactivate(conn: &mut DbConnection, id: MappingId, scope: Scope) -> StoreResult<()> {
    find(conn, id, scope)?;
    diesel::update(mappings::table.filter(mappings::id.eq(id.0)))
        .set(mappings::is_active.eq(false))
        .execute(conn)?;
    Ok(())
}
