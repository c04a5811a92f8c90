//! The closed vocabularies of the domain, serialised to the seed's codes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $code:tt),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $code)] $variant),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The code stored in the database and sent over the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)*
                    _ => Err(UnknownCode(s.to_owned())),
                }
            }
        }
    };
}

/// A string that is not one of an enum's codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a valid choice.")]
pub struct UnknownCode(pub String);

code_enum!(
    /// What a webhook subscription can be told (docs/notifications.md "Events").
    EventType {
        /// An appointment was booked (or a hold confirmed).
        AppointmentCreated => "appointment.created",
        /// An appointment's time, duration or doctor changed.
        AppointmentRescheduled => "appointment.rescheduled",
        /// An appointment was cancelled or archived.
        AppointmentCancelled => "appointment.cancelled",
        /// An appointment was marked completed.
        AppointmentCompleted => "appointment.completed",
        /// The patient did not come.
        AppointmentNoShow => "appointment.no_show",
        /// An appointment starts in one of the subscription's `reminder_minutes`.
        AppointmentReminder => "appointment.reminder",
        /// A patient record was created.
        PatientCreated => "patient.created",
        /// A patient record was changed.
        PatientUpdated => "patient.updated",
        /// A doctor was assigned to a patient (or an assignment reactivated).
        MappingCreated => "mapping.created",
        /// An assignment was ended.
        MappingDeactivated => "mapping.deactivated",
        /// A test event (`POST /api/webhooks/{id}/ping/`), sent to that subscription only.
        Ping => "ping",
    }
);

code_enum!(
    /// What an account may do (docs/api.md "Roles").
    Role {
        /// Everything, including user management.
        Admin => "admin",
        /// Clinic staff: all clinical records.
        Staff => "staff",
        /// A doctor whose account is linked to one Doctor record.
        Doctor => "doctor",
        /// A patient account owning Patient records.
        Patient => "patient",
    }
);

code_enum!(
    /// A patient's gender, as the seed encodes it.
    Gender {
        /// Male.
        Male => "M",
        /// Female.
        Female => "F",
        /// Other.
        Other => "O",
    }
);

code_enum!(
    /// A doctor's specialization, as the seed encodes it.
    Specialization {
        /// General practice.
        GeneralPractice => "GP",
        /// Cardiology.
        Cardiology => "CAR",
        /// Neurology.
        Neurology => "NEU",
        /// Pediatrics.
        Pediatrics => "PED",
        /// Orthopedics.
        Orthopedics => "ORTH",
        /// Dermatology.
        Dermatology => "DERM",
        /// Psychiatry.
        Psychiatry => "PSY",
        /// Radiology.
        Radiology => "RAD",
        /// Surgery.
        Surgery => "SUR",
        /// Other.
        Other => "OTH",
    }
);

code_enum!(
    /// Where an appointment stands in its lifecycle.
    AppointmentStatus {
        /// A tentative booking that holds its slot until `expires_at`; confirmed by a change to
        /// SCHEDULED.
        Pending => "PENDING",
        /// Booked.
        Scheduled => "SCHEDULED",
        /// Took place. Final.
        Completed => "COMPLETED",
        /// Called off. Final.
        Cancelled => "CANCELLED",
        /// The patient did not come. Final.
        NoShow => "NO_SHOW",
        /// A hold that was not confirmed in time. Final.
        Expired => "EXPIRED",
    }
);

impl Role {
    /// Admins and staff see and manage every clinical record.
    pub const fn is_clinic_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Staff)
    }
}

impl AppointmentStatus {
    /// Whether an appointment in this status occupies its time slot (a hold only until it
    /// expires).
    pub const fn blocks_time(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Scheduled | AppointmentStatus::Pending
        )
    }

    /// Whether no further status change is allowed.
    pub const fn is_final(self) -> bool {
        !self.blocks_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in AppointmentStatus::ALL {
            assert_eq!(s.as_str().parse::<AppointmentStatus>(), Ok(*s));
        }
        for s in Specialization::ALL {
            assert_eq!(s.as_str().parse::<Specialization>(), Ok(*s));
        }
        assert!("gp".parse::<Specialization>().is_err());
        assert_eq!(Role::Doctor.to_string(), "doctor");
    }
}
