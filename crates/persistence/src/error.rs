//! Typed persistence errors: every database invariant violation arrives as its own variant, so
//! callers never parse message strings.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (or not visible to the caller, or archived).
    #[error("not found")]
    NotFound,
    /// The doctor already has an overlapping SCHEDULED appointment.
    #[error("doctor already has an appointment at this time")]
    DoctorConflict,
    /// The patient already has an overlapping SCHEDULED appointment.
    #[error("patient already has an appointment at this time")]
    PatientConflict,
    /// A `fail` series has occurrences that cannot be booked (nothing was booked).
    #[error("{} occurrence(s) of the series cannot be booked", .0.len())]
    SeriesRefused(Vec<crate::series::Refused>),
    /// A change of a series has occurrences it cannot be applied to (nothing was changed).
    #[error("{} occurrence(s) of the series cannot be changed", .0.len())]
    SeriesChangeRefused(Vec<crate::series::Refused>),
    /// Time off refused: this many SCHEDULED appointments fall into it (`keep_appointments`
    /// was not asked for); nothing was stored.
    #[error("{affected} scheduled appointments fall into the time off")]
    TimeOffBlocked {
        /// How many.
        affected: i64,
    },
    /// A hold was confirmed after its `expires_at`.
    #[error("the hold has expired")]
    HoldExpired,
    /// The patient already has [`crate::appointments::MAX_OPEN_HOLDS`] open holds.
    #[error("too many open holds")]
    TooManyHolds,
    /// An idempotency key's reservation passed to another request before this one answered.
    #[error("the idempotency key was taken over")]
    KeyTakenOver,
    /// A ping was asked of a subscription that is not active (it would never be sent).
    #[error("the webhook subscription is not active")]
    WebhookInactive,
    /// `If-Match` named another version than the record's current one.
    #[error("the record has changed (version mismatch)")]
    VersionMismatch,
    /// A unique field already holds this value (`field` is the API field name).
    #[error("duplicate value for {field}")]
    Duplicate {
        /// API field name.
        field: &'static str,
    },
    /// A referenced record does not exist or is archived.
    #[error("{field} {id} does not exist")]
    MissingReference {
        /// API field name.
        field: &'static str,
        /// The id that was given.
        id: i64,
    },
    /// The record cannot be archived while it has future SCHEDULED appointments.
    #[error("record has {count} future scheduled appointments")]
    HasFutureAppointments {
        /// How many.
        count: i64,
    },
    /// A rule refused the change; `field` is the API field (or `non_field_errors`).
    #[error("{field}: {message}")]
    Invalid {
        /// API field name.
        field: &'static str,
        /// Human-readable reason.
        message: String,
    },
    /// The action is not allowed on this record for this caller.
    #[error("forbidden")]
    Forbidden,
    /// Stored data that the domain cannot read (should never happen).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Bad configuration (URL, connection).
    #[error("{0}")]
    Config(String),
    /// An audit event could not be written: the request it records must fail (fail-closed).
    #[error("audit trail unavailable: {0}")]
    AuditUnavailable(String),
    /// No pooled connection became free in time, or one could not be opened.
    #[error("pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The connection to the database server was lost (a restart, a network cut); the pool
    /// replaces that connection, so a retry can succeed.
    #[error("the database connection was lost")]
    ConnectionLost,
    /// The write queue is full: the database is overloaded; try again.
    #[error("the write queue is full")]
    Busy,
    /// PostgreSQL rolled the transaction back to resolve a deadlock or a serialization failure
    /// (SQLSTATE 40P01 / 40001): nothing of it was written, and running it again is safe.
    #[error("the transaction was rolled back by the database to resolve contention")]
    Contention,
    /// Any other database error.
    #[error("database: {0}")]
    Database(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        classify(err)
    }
}

/// Maps constraint names (PostgreSQL) and trigger / constraint messages (SQLite) to variants.
fn classify(err: DieselError) -> StoreError {
    let DieselError::DatabaseError(kind, info) = &err else {
        return match err {
            DieselError::NotFound => StoreError::NotFound,
            other => StoreError::Database(other),
        };
    };
    let name = info.constraint_name().unwrap_or_default();
    let message = info.message();
    let names = |needle: &str| name == needle || message.contains(needle);
    match kind {
        DatabaseErrorKind::ClosedConnection => StoreError::ConnectionLost,
        DatabaseErrorKind::SerializationFailure => StoreError::Contention,
        // Diesel reports SQLSTATE 40P01 as `Unknown`; PostgreSQL's message is the only mark
        // (in the server's `lc_messages` language: English unless configured otherwise).
        DatabaseErrorKind::Unknown if message.starts_with("deadlock detected") => {
            StoreError::Contention
        }
        _ if names("appointments_doctor_no_overlap") => StoreError::DoctorConflict,
        _ if names("appointments_patient_no_overlap") => StoreError::PatientConflict,
        DatabaseErrorKind::UniqueViolation => {
            let field = if names("users_username_key_unique") || names("users.username_key") {
                "username"
            } else if names("doctors_license_number_unique") || names("doctors.license_number") {
                "license_number"
            } else if names("doctors_user_unique") || names("doctors.user_id") {
                "user"
            } else {
                "non_field_errors"
            };
            StoreError::Duplicate { field }
        }
        _ => StoreError::Database(err),
    }
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> StoreError {
        classify(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_contention() {
        let deadlock = database_error(DatabaseErrorKind::Unknown, "deadlock detected");
        assert!(matches!(deadlock, StoreError::Contention), "{deadlock:?}");
        let serialization = database_error(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access due to concurrent update",
        );
        assert!(matches!(serialization, StoreError::Contention));
        let other = database_error(DatabaseErrorKind::Unknown, "division by zero");
        assert!(matches!(other, StoreError::Database(_)), "{other:?}");
    }
}
