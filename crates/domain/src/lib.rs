//! The domain of the healthcare scheduling API: entities, typed ids, the seed's enums, validated
//! inputs and the field-keyed error vocabulary. No I/O, no database, no HTTP.

pub mod availability;
pub mod entities;
pub mod enums;
pub mod errors;
pub mod ids;
pub mod inputs;
pub mod raw;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod scope;
pub mod series;
pub mod timestamps;
pub mod username;
pub mod webhooks;

pub use availability::{SlotQuery, TimeOffRequest, WeeklyInterval, WorkingHours};
pub use entities::{age_on, Appointment, Doctor, Mapping, MappingWithDoctor, Patient, User};
pub use enums::{AppointmentStatus, EventType, Gender, Role, Specialization, UnknownCode};
pub use errors::{msg, FieldErrors, NON_FIELD_ERRORS};
pub use ids::{AppointmentId, DoctorId, MappingId, PatientId, UserId};
pub use inputs::{
    AppointmentChanges, Credentials, DoctorChanges, MappingChanges, NewAppointment, NewDoctor,
    NewMapping, NewPatient, NewUser, PasswordChange, PatientChanges, RefreshRequest, Registration,
    UserChanges,
};
pub use raw::{parse_datetime, Raw, RawObject};
pub use scope::Scope;
pub use username::{mixed_scripts, username_key, Alphabet};
pub use webhooks::{CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChanges};
