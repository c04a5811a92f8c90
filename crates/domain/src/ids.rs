//! Typed identifiers: a patient id cannot be passed where a doctor id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                Self(value)
            }
        }
    )*};
}

id_type!(
    /// Identifier of a user account.
    UserId,
    /// Identifier of a patient record.
    PatientId,
    /// Identifier of a doctor record.
    DoctorId,
    /// Identifier of a doctor-patient mapping.
    MappingId,
    /// Identifier of an appointment.
    AppointmentId,
);
