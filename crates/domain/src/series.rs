//! Recurring appointments (docs/scheduling.md "Series"): a series as a client books it and as
//! the API serves it. Expanding its rule is the scheduling crate's (`series::expand`).

use crate::entities::Appointment;
use crate::errors::FieldErrors;
use crate::inputs::NewAppointment;
use crate::raw::{Mode, RawObject, Reader};
use crate::AppointmentStatus;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Longest `rrule`, characters.
pub const MAX_RULE: usize = 500;

/// What a series does with an occurrence that cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Book nothing and answer 409 listing every conflicting occurrence.
    #[default]
    Fail,
    /// Book the free occurrences and list the others in `skipped`.
    Skip,
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            other => Err(format!(
                "\"{other}\" is not a valid choice: use fail or skip."
            )),
        }
    }
}

/// A new series: the first appointment, the rule that repeats it and what to do with
/// occurrences that cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SeriesCreate, example = json!({"doctor": 1, "patient": 1, "appointment_datetime": "2031-03-03T09:00:00Z", "duration_minutes": 45, "reason": "Physiotherapy", "rrule": "FREQ=WEEKLY;COUNT=10", "timezone": "Europe/Berlin", "on_conflict": "skip"}))
)]
pub struct NewSeries {
    /// The doctor.
    pub doctor: crate::DoctorId,
    /// The patient.
    pub patient: crate::PatientId,
    /// The first occurrence's start, as `POST /api/appointments/` reads it.
    #[cfg_attr(feature = "openapi", schema(rename = "appointment_datetime"))]
    pub start: DateTime<Utc>,
    /// Minutes of each occurrence (5-480).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::duration_minutes, required = false))]
    pub duration_minutes: i32,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note, required = false))]
    pub reason: String,
    /// An RFC 5545 RRULE (at most 500 characters): `FREQ` DAILY, WEEKLY or MONTHLY with
    /// `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY`, `BYMONTHDAY`; at most 104 occurrences. Its syntax
    /// is the RFC's, not a JSON Schema's, so no length is given here.
    #[cfg_attr(feature = "openapi", schema(example = "FREQ=WEEKLY;COUNT=10"))]
    pub rrule: String,
    /// IANA zone the rule is expanded in (the wall-clock time holds across DST); default the
    /// doctor's working-hours zone, else UTC.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "Europe/Berlin"))]
    pub timezone: Option<Tz>,
    /// `fail` (default) or `skip`.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub on_conflict: OnConflict,
}

impl NewSeries {
    /// The occurrence that starts at `start`: an ordinary SCHEDULED appointment.
    pub fn occurrence(&self, start: DateTime<Utc>) -> NewAppointment {
        NewAppointment {
            doctor: self.doctor,
            patient: self.patient,
            start,
            duration_minutes: self.duration_minutes,
            reason: self.reason.clone(),
            status: AppointmentStatus::Scheduled,
        }
    }

    /// Parses a create body: the first appointment's fields as `NewAppointment::parse` reads
    /// them (without `status`), then `rrule`, `timezone` and `on_conflict`.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        if body.0.contains_key("status") {
            errors.add("status", "Every occurrence of a series is SCHEDULED.");
        }
        let first = NewAppointment::parse(body)
            .map_err(|e| errors.merge(e))
            .ok();
        let mut r = Reader::new(body, Mode::Create);
        let rrule = r.text("rrule", MAX_RULE);
        let timezone = r.time_zone("timezone");
        let on_conflict = if r.has("on_conflict") {
            r.choice::<OnConflict>("on_conflict")
        } else {
            Some(OnConflict::Fail)
        };
        errors.merge(r.errors);
        match (first, rrule, on_conflict) {
            (Some(first), Some(rrule), Some(on_conflict)) if errors.is_empty() => Ok(Self {
                doctor: first.doctor,
                patient: first.patient,
                start: first.start,
                duration_minutes: first.duration_minutes,
                reason: first.reason,
                rrule,
                timezone,
                on_conflict,
            }),
            _ => Err(errors),
        }
    }
}

/// An occurrence a series did not book, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedOccurrence {
    /// Its start.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub appointment_datetime: DateTime<Utc>,
    /// Why: the seed's conflict message, `Doctor is not available at this time.`, or
    /// `The time is in the past.`
    pub reason: String,
}

/// A series as served: its rule and, in the answer of its creation, what was booked and what
/// was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    /// Identifier.
    pub id: i64,
    /// The doctor.
    pub doctor: crate::DoctorId,
    /// The patient.
    pub patient: crate::PatientId,
    /// The first occurrence's start as asked.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub appointment_datetime: DateTime<Utc>,
    /// Minutes of each occurrence.
    pub duration_minutes: i32,
    /// Why.
    pub reason: String,
    /// The rule.
    pub rrule: String,
    /// The zone it is expanded in.
    pub timezone: String,
    /// Who booked it.
    pub created_by: Option<crate::UserId>,
    /// When.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// The occurrences booked (in the creation's answer), or the series' unarchived
    /// occurrences (in a read), earliest first.
    pub created: Vec<Appointment>,
    /// The occurrences not booked (`skip`); empty in a read.
    pub skipped: Vec<SkippedOccurrence>,
}
