//! Record versions, the numbers behind the API's `ETag`s: a trigger adds one to a row's
//! `version` on every UPDATE (migration `retries`), and replacing a doctor's working hours adds
//! one to the doctor's `hours_version`. [`locked`] reads one inside a write, holding the row on
//! PostgreSQL until the transaction ends, so an `If-Match` compared with it stays true until the
//! change commits.

use crate::audit::Resource;
use crate::db::DbConnection;
use crate::error::StoreResult;
use crate::schema::{appointments, doctors, mappings, patients, users, webhooks};
use diesel::prelude::*;

/// Whether records of this kind carry a version (and their answers an `ETag`).
pub const fn is_versioned(resource: Resource) -> bool {
    matches!(
        resource,
        Resource::Patient
            | Resource::Doctor
            | Resource::Mapping
            | Resource::Appointment
            | Resource::User
            | Resource::Webhook
            | Resource::WorkingHours
    )
}

/// Reads the version of one row (`None` when there is no such row, or the kind has none),
/// inside a write: on PostgreSQL `FOR NO KEY UPDATE`, so no other change of the row can commit
/// before this transaction ends; on SQLite the writer's transaction already excludes them.
/// For working hours `id` is the doctor's.
pub fn locked(conn: &mut DbConnection, resource: Resource, id: i64) -> StoreResult<Option<i64>> {
    macro_rules! version_of {
        ($table:ident, $column:ident) => {
            match conn {
                DbConnection::Postgresql(c) => $table::table
                    .find(id)
                    .select($table::$column)
                    .for_no_key_update()
                    .get_result::<i64>(c)
                    .optional()?,
                DbConnection::Sqlite(c) => $table::table
                    .find(id)
                    .select($table::$column)
                    .get_result::<i64>(c)
                    .optional()?,
            }
        };
    }
    Ok(match resource {
        Resource::Patient => version_of!(patients, version),
        Resource::Doctor => version_of!(doctors, version),
        Resource::Mapping => version_of!(mappings, version),
        Resource::Appointment => appointment(conn, id)?,
        Resource::User => version_of!(users, version),
        Resource::Webhook => version_of!(webhooks, version),
        Resource::WorkingHours => version_of!(doctors, hours_version),
        Resource::TimeOff | Resource::Email | Resource::Audit => None,
    })
}

/// An appointment's version as its answers carry it (`appointments::read_version`: a hold past
/// its expiry already has the version of its EXPIRED mark), held as [`locked`] holds it.
fn appointment(conn: &mut DbConnection, id: i64) -> StoreResult<Option<i64>> {
    let columns = (
        appointments::status,
        appointments::expires_at,
        appointments::version,
    );
    let row: Option<(String, Option<chrono::NaiveDateTime>, i64)> = match conn {
        DbConnection::Postgresql(c) => appointments::table
            .find(id)
            .select(columns)
            .for_no_key_update()
            .get_result(c)
            .optional()?,
        DbConnection::Sqlite(c) => appointments::table
            .find(id)
            .select(columns)
            .get_result(c)
            .optional()?,
    };
    Ok(row.map(|(status, expires_at, stored)| {
        crate::appointments::read_version(&status, expires_at, stored)
    }))
}

/// The version of a doctor's working hours (`None`: no such doctor).
pub fn working_hours(conn: &mut DbConnection, doctor: i64) -> StoreResult<Option<i64>> {
    Ok(doctors::table
        .find(doctor)
        .select(doctors::hours_version)
        .get_result(conn)
        .optional()?)
}
