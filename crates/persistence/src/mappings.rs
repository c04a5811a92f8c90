//! Doctor-patient assignments. Every mapping is read with the assigning account's username
//! (`LEFT JOIN users` in the same query).

use crate::db::DbConnection;
use crate::each;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{Listed, Page};
use crate::schema::{doctors, mappings, patients, users};
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::IntoSql;
use healthcare_domain::{
    DoctorId, EventType, Mapping, MappingChanges, MappingId, MappingWithDoctor, NewMapping,
    PatientId, Scope, UserId,
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
    version: i64,
}

impl MappingRow {
    /// The mapping as served, with the username of the account in `assigned_by` (`None` when
    /// there is none).
    fn into_domain(self, assigned_by_username: Option<String>) -> Mapping {
        Mapping {
            id: MappingId(self.id),
            patient: PatientId(self.patient_id),
            doctor: DoctorId(self.doctor_id),
            assigned_by: self.assigned_by.map(UserId),
            assigned_by_username: self.assigned_by.and(assigned_by_username),
            assigned_date: from_db(self.assigned_date).date_naive(),
            reason_for_assignment: self.reason_for_assignment,
            is_active: self.is_active,
            created_at: from_db(self.created_at),
            reactivated_by: self.reactivated_by.map(UserId),
            reactivated_at: self.reactivated_at.map(from_db),
            version: self.version,
        }
    }
}

/// Who last deactivated and who last reactivated a mapping, and when (`None` for what never
/// happened, or happened before this was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingHistory {
    /// The account that last made the mapping inactive (a DELETE, a PATCH, or creating it
    /// inactive).
    pub deactivated_by: Option<UserId>,
    /// When it was last made inactive.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The account that last made it active again.
    pub reactivated_by: Option<UserId>,
    /// When it was last made active again.
    pub reactivated_at: Option<DateTime<Utc>>,
}

impl From<&MappingRow> for MappingHistory {
    fn from(r: &MappingRow) -> Self {
        Self {
            deactivated_by: r.deactivated_by.map(UserId),
            deactivated_at: r.deactivated_at.map(from_db),
            reactivated_by: r.reactivated_by.map(UserId),
            reactivated_at: r.reactivated_at.map(from_db),
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
    deactivated_by: Option<i64>,
    deactivated_at: Option<NaiveDateTime>,
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

/// Mappings with the account that assigned them: `mappings LEFT JOIN users ON users.id =
/// mappings.assigned_by`.
type WithAssigner = diesel::dsl::LeftJoinOn<
    mappings::table,
    users::table,
    diesel::dsl::Eq<diesel::dsl::Nullable<users::id>, mappings::assigned_by>,
>;

type Boxed<'a> = diesel::dsl::IntoBoxed<'a, WithAssigner, crate::db::MultiBackend>;

/// What a mapping read selects: its columns and the assigning account's username.
type Selection = (
    <mappings::table as diesel::Table>::AllColumns,
    diesel::dsl::Nullable<users::username>,
);

fn selection() -> Selection {
    (mappings::all_columns, users::username.nullable())
}

/// Every mapping with its assigner, as a static query (prepared once per connection).
fn joined() -> WithAssigner {
    mappings::table.left_join(users::table.on(users::id.nullable().eq(mappings::assigned_by)))
}

/// Every mapping with its assigner, ready for filters.
fn with_assigner<'a>() -> Boxed<'a> {
    joined().into_boxed()
}

/// A mapping by id, whatever the scope (after a write that already checked it).
fn load(conn: &mut DbConnection, id: i64) -> StoreResult<Mapping> {
    let (row, username): (MappingRow, Option<String>) = with_assigner()
        .filter(mappings::id.eq(id))
        .select(selection())
        .get_result(conn)?;
    Ok(row.into_domain(username))
}

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

/// Which inactive mappings a caller of [`assign`] may make active again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MayReactivate {
    /// Any (whoever may change mappings: clinic staff and admins).
    Any,
    /// Only one the caller made inactive themselves (a patient may not undo staff's decision).
    OwnDeactivation,
}

/// What [`assign`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// A new mapping of the pair.
    Created(Mapping),
    /// The pair's inactive mapping, active again.
    Reactivated(Mapping),
}

impl Assigned {
    /// The mapping, new or reactivated, borrowed.
    pub fn mapping(&self) -> &Mapping {
        match self {
            Assigned::Created(m) | Assigned::Reactivated(m) => m,
        }
    }

    /// The mapping, new or reactivated.
    pub fn into_mapping(self) -> Mapping {
        match self {
            Assigned::Created(m) | Assigned::Reactivated(m) => m,
        }
    }
}

/// Creates a mapping with every right clinic staff has: [`assign`] with [`MayReactivate::Any`].
pub fn create(
    conn: &mut DbConnection,
    input: &NewMapping,
    scope: Scope,
    assigned_by: UserId,
) -> StoreResult<Mapping> {
    assign(conn, input, scope, assigned_by, MayReactivate::Any).map(Assigned::into_mapping)
}

/// Assigns a doctor to a patient visible in `scope`: a new mapping, or the pair's inactive one
/// reactivated (same id) with its history kept (`assigned_by` and `assigned_date` stay as first
/// assigned, `reason_for_assignment` stays unless `input` gives a non-empty one, and
/// `reactivated_by` / `reactivated_at` are set). An active mapping of the pair, or a request
/// for an inactive one when the pair already has a mapping, is a duplicate; an inactive one
/// `by` may not reactivate ([`MayReactivate`]) is [`StoreError::Forbidden`].
///
/// The permission is decided by the `UPDATE` itself (its `WHERE` names the inactive row and,
/// unless `may` is [`MayReactivate::Any`], the account that deactivated it), so a deactivation
/// committed in between is never overridden. Run it inside a write.
pub fn assign(
    conn: &mut DbConnection,
    input: &NewMapping,
    scope: Scope,
    by: UserId,
    may: MayReactivate,
) -> StoreResult<Assigned> {
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
    let existing: Option<i64> = mappings::table
        .filter(mappings::doctor_id.eq(input.doctor.0))
        .filter(mappings::patient_id.eq(input.patient.0))
        .select(mappings::id)
        .get_result(conn)
        .optional()?;
    let duplicate = StoreError::Duplicate {
        field: "non_field_errors",
    };
    let Some(id) = existing else {
        // Created inactive: its creator is the one who deactivated it.
        let inactive_since = (!input.is_active).then_some((by.0, t));
        let id: i64 = diesel::insert_into(mappings::table)
            .values(MappingInsert {
                doctor_id: input.doctor.0,
                patient_id: input.patient.0,
                reason_for_assignment: &input.reason_for_assignment,
                is_active: input.is_active,
                assigned_by: Some(by.0),
                assigned_date: t,
                created_at: t,
                deactivated_by: inactive_since.map(|(u, _)| u),
                deactivated_at: inactive_since.map(|(_, at)| at),
            })
            .returning(mappings::id)
            .get_result(conn)?;
        let mapping = load(conn, id)?;
        if mapping.is_active {
            emit(conn, EventType::MappingCreated, &mapping)?;
        }
        return Ok(Assigned::Created(mapping));
    };
    if !input.is_active {
        return Err(duplicate);
    }
    let any = may == MayReactivate::Any;
    let target = mappings::table
        .filter(mappings::id.eq(id))
        .filter(mappings::is_active.eq(false))
        .filter(
            mappings::deactivated_by
                .eq(by.0)
                .or(any.into_sql::<diesel::sql_types::Bool>()),
        );
    let reactivated = (
        mappings::is_active.eq(true),
        mappings::reactivated_by.eq(Some(by.0)),
        mappings::reactivated_at.eq(Some(t)),
    );
    let updated: Option<i64> = if input.reason_for_assignment.is_empty() {
        diesel::update(target)
            .set(reactivated)
            .returning(mappings::id)
            .get_result(conn)
            .optional()?
    } else {
        diesel::update(target)
            .set((
                reactivated,
                mappings::reason_for_assignment.eq(&input.reason_for_assignment),
            ))
            .returning(mappings::id)
            .get_result(conn)
            .optional()?
    };
    if let Some(id) = updated {
        let mapping = load(conn, id)?;
        emit(conn, EventType::MappingCreated, &mapping)?;
        return Ok(Assigned::Reactivated(mapping));
    }
    // Nothing changed: the mapping is active already, or inactive by someone else's decision.
    let active: bool = mappings::table
        .filter(mappings::id.eq(id))
        .select(mappings::is_active)
        .get_result(conn)?;
    Err(if active {
        duplicate
    } else {
        StoreError::Forbidden
    })
}

/// A mapping visible in `scope`.
pub fn find(conn: &mut DbConnection, id: MappingId, scope: Scope) -> StoreResult<Mapping> {
    let (row, username): (MappingRow, Option<String>) = match scope {
        // The common cases as static queries on the concrete connection, so the prepared
        // statement is found by type (a boxed query is prepared again on every call).
        Scope::All => on_backend!(conn, |c| joined()
            .filter(mappings::id.eq(id.0))
            .select(selection())
            .get_result(c))?,
        Scope::DoctorOf(doctor) => on_backend!(conn, |c| joined()
            .filter(mappings::id.eq(id.0))
            .filter(mappings::doctor_id.eq(doctor.0))
            .select(selection())
            .get_result(c))?,
        _ => scoped(with_assigner(), scope)
            .filter(mappings::id.eq(id.0))
            .select(selection())
            .get_result(conn)?,
    };
    Ok(row.into_domain(username))
}

/// Several single-mapping reads in one visit to the database: for each `(id, scope)` the
/// mapping as [`find`] sees it, or `None` where [`find`] answers not found (not visible in that
/// scope, or no such id). On PostgreSQL the ids of each scope go in one `id = ANY($1)` query
/// with that scope's own `WHERE`; on SQLite, and for a single read, each is [`find`] itself.
pub fn find_each(
    conn: &mut DbConnection,
    keys: &[(MappingId, Scope)],
) -> StoreResult<Vec<Option<Mapping>>> {
    if each::one_by_one(conn, keys) {
        return each::each_alone(conn, keys, |c, (id, scope)| find(c, id, scope));
    }
    let mut found = vec![None; keys.len()];
    for (scope, ids) in each::by_scope(keys, |id| id.0) {
        let rows: Vec<(MappingRow, Option<String>)> = match (scope, &mut *conn) {
            (Scope::All, DbConnection::Postgresql(c)) => joined()
                .filter(mappings::id.eq_any(&ids))
                .select(selection())
                .load(c)?,
            (Scope::DoctorOf(doctor), DbConnection::Postgresql(c)) => joined()
                .filter(mappings::id.eq_any(&ids))
                .filter(mappings::doctor_id.eq(doctor.0))
                .select(selection())
                .load(c)?,
            (_, c) => scoped(with_assigner(), scope)
                .filter(mappings::id.eq_any(&ids))
                .select(selection())
                .load(c)?,
        };
        for (row, username) in rows {
            let mapping = row.into_domain(username);
            each::place(&mut found, keys, &(mapping.id, scope), mapping);
        }
    }
    Ok(found)
}

/// The mappings visible in `scope`, by id.
pub fn list(
    conn: &mut DbConnection,
    scope: Scope,
    filter: MappingFilter,
    page: Page,
) -> StoreResult<Listed<Mapping>> {
    let build = || {
        let mut q = scoped(with_assigner(), scope);
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
    let rows: Vec<(MappingRow, Option<String>)> = build()
        .select(selection())
        .order(mappings::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    Ok(Listed {
        items: rows
            .into_iter()
            .map(|(row, username)| row.into_domain(username))
            .collect(),
        total,
    })
}

/// The active mappings of a patient visible in `scope`, each with its (unarchived) doctor's
/// record, by mapping id, in one query (the seed's `/api/mappings/patient/{id}/`).
pub fn of_patient(
    conn: &mut DbConnection,
    patient: PatientId,
    scope: Scope,
) -> StoreResult<Vec<MappingWithDoctor>> {
    crate::patients::find(conn, patient, scope)?;
    let rows: Vec<(MappingRow, Option<String>, crate::doctors::DoctorRow)> = mappings::table
        .inner_join(doctors::table)
        .left_join(users::table.on(users::id.nullable().eq(mappings::assigned_by)))
        .filter(mappings::patient_id.eq(patient.0))
        .filter(mappings::is_active.eq(true))
        .filter(doctors::archived_at.is_null())
        .select((
            mappings::all_columns,
            users::username.nullable(),
            doctors::all_columns,
        ))
        .order(mappings::id.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(row, username, doctor)| {
            Ok(MappingWithDoctor {
                mapping: row.into_domain(username),
                doctor_details: doctor.into_domain()?,
            })
        })
        .collect()
}

/// Who last deactivated and reactivated a mapping visible in `scope`, and when.
pub fn history(
    conn: &mut DbConnection,
    id: MappingId,
    scope: Scope,
) -> StoreResult<MappingHistory> {
    let row: MappingRow = scoped(with_assigner(), scope)
        .filter(mappings::id.eq(id.0))
        .select(mappings::all_columns)
        .get_result(conn)?;
    Ok(MappingHistory::from(&row))
}

/// Makes an active mapping inactive, recording who (`by`) and when; nothing for an inactive
/// one (its first deactivation stays on record).
fn set_inactive(conn: &mut DbConnection, id: MappingId, by: UserId) -> StoreResult<()> {
    let changed = diesel::update(
        mappings::table
            .filter(mappings::id.eq(id.0))
            .filter(mappings::is_active.eq(true)),
    )
    .set((
        mappings::is_active.eq(false),
        mappings::deactivated_by.eq(Some(by.0)),
        mappings::deactivated_at.eq(Some(to_db(now()))),
    ))
    .execute(conn)?;
    if changed == 1 {
        let mapping = load(conn, id.0)?;
        emit(conn, EventType::MappingDeactivated, &mapping)?;
    }
    Ok(())
}

/// Writes `kind` about `mapping` into the outbox (in the caller's transaction).
fn emit(conn: &mut DbConnection, kind: EventType, mapping: &Mapping) -> StoreResult<()> {
    crate::outbox::emit(conn, kind, "mapping", mapping, Some(mapping.patient))
}

/// Applies a partial update to a mapping visible in `scope`, made by `by`: a change of
/// `is_active` records who made it and when (`deactivated_*` or `reactivated_*`), once per
/// change (setting the flag it already has changes nothing).
pub fn update(
    conn: &mut DbConnection,
    id: MappingId,
    scope: Scope,
    changes: &MappingChanges,
    by: UserId,
) -> StoreResult<Mapping> {
    find(conn, id, scope)?;
    let target = mappings::table.filter(mappings::id.eq(id.0));
    if let Some(reason) = &changes.reason_for_assignment {
        diesel::update(target)
            .set(mappings::reason_for_assignment.eq(reason))
            .execute(conn)?;
    }
    match changes.is_active {
        Some(false) => set_inactive(conn, id, by)?,
        Some(true) => {
            let changed = diesel::update(target.filter(mappings::is_active.eq(false)))
                .set((
                    mappings::is_active.eq(true),
                    mappings::reactivated_by.eq(Some(by.0)),
                    mappings::reactivated_at.eq(Some(to_db(now()))),
                ))
                .execute(conn)?;
            if changed == 1 {
                let mapping = load(conn, id.0)?;
                emit(conn, EventType::MappingCreated, &mapping)?;
            }
        }
        None => {}
    }
    find(conn, id, scope)
}

/// Deactivates a mapping visible in `scope` (DELETE: nothing is physically removed), recording
/// that `by` did it and when.
pub fn deactivate(
    conn: &mut DbConnection,
    id: MappingId,
    scope: Scope,
    by: UserId,
) -> StoreResult<()> {
    find(conn, id, scope)?;
    set_inactive(conn, id, by)
}
