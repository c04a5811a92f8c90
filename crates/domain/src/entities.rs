//! The records as they leave the server (the seed's JSON shapes, plus our own fields).

use crate::enums::{AppointmentStatus, Gender, Role, Specialization};
use crate::ids::{AppointmentId, DoctorId, MappingId, PatientId, UserId};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

/// A login account. The password hash is not part of it and never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"id": 2, "username": "alice", "email": "alice@example.org", "role": "patient", "is_active": true, "date_joined": "2025-12-01T09:00:00Z"}))
)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Login name, unique regardless of case.
    pub username: String,
    /// Contact address ("" when none was given).
    pub email: String,
    /// What the account may do.
    pub role: Role,
    /// Deactivated accounts cannot log in and their tokens stop working.
    pub is_active: bool,
    /// When the account was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub date_joined: DateTime<Utc>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// A patient record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"id": 1, "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10", "gender": "F", "contact_number": "+44 20 1234", "email": "ada@example.org", "address": "London", "medical_history": "", "age": 34, "user": 2, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))
)]
pub struct Patient {
    /// Identifier.
    pub id: PatientId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Gender code.
    pub gender: Gender,
    /// Phone number.
    pub contact_number: String,
    /// Email address ("" when none).
    pub email: String,
    /// Postal address.
    pub address: String,
    /// Free-text medical history.
    pub medical_history: String,
    /// Age in whole years today (computed).
    pub age: i32,
    /// The account that owns this record, if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user: Option<UserId>,
    /// When it was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// A doctor record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"id": 1, "first_name": "Gregory", "last_name": "House", "specialization": "GP", "contact_number": "555 0100", "email": "house@example.org", "license_number": "LIC-1", "hospital": "PPTH", "address": "", "experience_years": 12, "user": null, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))
)]
pub struct Doctor {
    /// Identifier.
    pub id: DoctorId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Specialization code.
    pub specialization: Specialization,
    /// Phone number.
    pub contact_number: String,
    /// Email address.
    pub email: String,
    /// Licence number, unique.
    pub license_number: String,
    /// Hospital or practice.
    pub hospital: String,
    /// Postal address.
    pub address: String,
    /// Years of experience.
    pub experience_years: i32,
    /// The doctor's own login account, if linked.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user: Option<UserId>,
    /// Minutes kept free before each appointment booked from now on (0-120).
    pub buffer_before_minutes: i32,
    /// Minutes kept free after each appointment booked from now on (0-120).
    pub buffer_after_minutes: i32,
    /// When it was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// A doctor-patient assignment, in the seed's shape (`id, patient, doctor, assigned_by,
/// assigned_by_username, assigned_date, reason_for_assignment, is_active, created_at`) plus
/// the reactivation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"id": 1, "patient": 1, "doctor": 1, "assigned_by": 1, "assigned_by_username": "admin", "assigned_date": "2025-12-01", "reason_for_assignment": "", "is_active": true, "created_at": "2025-12-01T09:00:00Z", "reactivated_by": null, "reactivated_at": null}))
)]
pub struct Mapping {
    /// Identifier.
    pub id: MappingId,
    /// The patient.
    pub patient: PatientId,
    /// The doctor.
    pub doctor: DoctorId,
    /// Who first assigned (an account), if known; a reactivation keeps it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub assigned_by: Option<UserId>,
    /// The username of `assigned_by`, null when no account is known.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub assigned_by_username: Option<String>,
    /// The day (UTC) the doctor was first assigned, `YYYY-MM-DD`; a reactivation keeps it.
    pub assigned_date: NaiveDate,
    /// Why the doctor was assigned.
    pub reason_for_assignment: String,
    /// Inactive mappings are kept as history.
    pub is_active: bool,
    /// When the row was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// Who last reactivated the mapping, null when it never was.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reactivated_by: Option<UserId>,
    /// When it was last reactivated, null when it never was.
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reactivated_at: Option<DateTime<Utc>>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// A mapping with its doctor's record as `doctor_details` (the answer of the seed's
/// `/api/mappings/patient/{id}/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MappingWithDoctor {
    /// The mapping, its fields at the top level.
    #[serde(flatten)]
    pub mapping: Mapping,
    /// The assigned doctor, as the doctor endpoints show it.
    pub doctor_details: Doctor,
}

/// An appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"id": 1, "doctor": 1, "patient": 1, "appointment_datetime": "2025-12-20T10:30:00Z", "duration_minutes": 30, "end_datetime": "2025-12-20T11:00:00Z", "reason": "Routine follow-up", "status": "SCHEDULED", "cancellation_reason": "", "created_by": 1, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))
)]
pub struct Appointment {
    /// Identifier.
    pub id: AppointmentId,
    /// The doctor.
    pub doctor: DoctorId,
    /// The patient.
    pub patient: PatientId,
    /// Start, UTC.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub appointment_datetime: DateTime<Utc>,
    /// Length in minutes (5-480).
    pub duration_minutes: i32,
    /// End, UTC (computed: start + duration).
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub end_datetime: DateTime<Utc>,
    /// Why the patient comes.
    pub reason: String,
    /// Lifecycle status.
    pub status: AppointmentStatus,
    /// Why it was cancelled ("" otherwise).
    pub cancellation_reason: String,
    /// Who booked it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub created_by: Option<UserId>,
    /// When it was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Until when a PENDING hold keeps its slot (absent for any other booking).
    #[serde(
        serialize_with = "crate::timestamps::serialize_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    /// The series it is an occurrence of (absent for a single booking).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub series: Option<i64>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// Age in whole years on `today` of someone born on `born`.
pub fn age_on(born: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_serialize_in_the_seed_shape() {
        let at = DateTime::from_timestamp(1_764_579_600, 0).unwrap_or_default();
        let mapping = Mapping {
            id: MappingId(3),
            patient: PatientId(2),
            doctor: DoctorId(1),
            assigned_by: Some(UserId(7)),
            assigned_by_username: Some("admin".into()),
            assigned_date: at.date_naive(),
            reason_for_assignment: String::new(),
            is_active: true,
            created_at: at,
            reactivated_by: None,
            reactivated_at: None,
            version: 1,
        };
        let json = serde_json::to_value(&mapping).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"id": 3, "patient": 2, "doctor": 1, "assigned_by": 7,
                "assigned_by_username": "admin", "assigned_date": "2025-12-01",
                "reason_for_assignment": "", "is_active": true, "created_at": "2025-12-01T09:00:00Z",
                "reactivated_by": null, "reactivated_at": null})
        );
        let doctor = Doctor {
            id: DoctorId(1),
            first_name: "Gregory".into(),
            last_name: "House".into(),
            specialization: Specialization::GeneralPractice,
            contact_number: "555 0100".into(),
            email: String::new(),
            license_number: "LIC-1".into(),
            hospital: "PPTH".into(),
            address: String::new(),
            experience_years: 12,
            user: None,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let nested = MappingWithDoctor {
            mapping,
            doctor_details: doctor.clone(),
        };
        let json = serde_json::to_value(&nested).unwrap_or_default();
        assert_eq!(json["assigned_date"], "2025-12-01");
        assert_eq!(json["doctor"], 1);
        assert_eq!(
            json["doctor_details"],
            serde_json::to_value(&doctor).unwrap_or_default()
        );
    }

    #[test]
    fn age_counts_whole_years() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(age_on(d(2000, 6, 15), d(2025, 6, 14)), 24);
        assert_eq!(age_on(d(2000, 6, 15), d(2025, 6, 15)), 25);
        assert_eq!(age_on(d(2000, 2, 29), d(2025, 2, 28)), 24);
        assert_eq!(age_on(d(2025, 1, 1), d(2025, 1, 1)), 0);
    }
}
