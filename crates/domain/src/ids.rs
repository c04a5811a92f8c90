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

/// A record id as a URL or a reference writes it: a positive decimal number in its one form
/// (digits only, no sign, no leading zero), so one record has one URL (`/api/doctors/01/` and
/// `/api/doctors/+1/` name nothing).
pub fn parse_record_id(text: &str) -> Option<i64> {
    let canonical = text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    canonical
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::parse_record_id;

    #[test]
    fn record_ids_have_one_form() {
        assert_eq!(parse_record_id("1"), Some(1));
        assert_eq!(parse_record_id("9223372036854775807"), Some(i64::MAX));
        for other in [
            "",
            "0",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "9223372036854775808",
            "x",
        ] {
            assert_eq!(parse_record_id(other), None, "{other:?}");
        }
    }
}
