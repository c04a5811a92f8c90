//! Recurring appointments (docs/scheduling.md "Series"): a series as a client books it and as
//! the API serves it. Expanding its rule is the scheduling crate's (`series::expand`).

use crate::entities::Appointment;
use crate::errors::FieldErrors;
use crate::inputs::{NewAppointment, MAX_DURATION, MAX_NOTE, MIN_DURATION};
use crate::raw::{Mode, RawObject, Reader};
use crate::AppointmentStatus;
use chrono::{DateTime, NaiveTime, Utc};
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

    /// Refuses the series when one of its `starts` falls outside the years an appointment may
    /// start in (`raw::YEARS`), as `POST /api/appointments/` refuses such a start: 400 on
    /// `rrule`.
    pub fn check_starts(starts: &[DateTime<Utc>]) -> Result<(), FieldErrors> {
        use chrono::Datelike;
        if starts
            .iter()
            .all(|start| crate::raw::year_accepted(start.year()))
        {
            return Ok(());
        }
        let mut errors = FieldErrors::new();
        errors.add(
            "rrule",
            "The rule makes occurrences outside 1900-2199 (appointment starts must fall in \
             them): end it sooner with COUNT or UNTIL.",
        );
        Err(errors)
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

/// Which occurrences a change of a series reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SeriesScope {
    /// The named occurrence alone.
    This,
    /// The named occurrence and every later one.
    Following,
    /// Every occurrence.
    All,
}

impl std::str::FromStr for SeriesScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "this" => Ok(Self::This),
            "following" => Ok(Self::Following),
            "all" => Ok(Self::All),
            other => Err(format!("\"{other}\" is not a valid choice.")),
        }
    }
}

/// Why a series change names no occurrence although its scope needs one, and the reverse.
pub const OCCURRENCE_REQUIRED: &str = "This field is required with scope this or following.";
/// Why a series change that changes nothing is refused.
pub const NOTHING_TO_CHANGE: &str =
    "Name at least one of time_of_day, duration_minutes, reason or status.";
/// Why a cancellation of occurrences may not move them.
pub const CANCEL_ALONE: &str =
    "A cancellation cannot move occurrences: leave out time_of_day and duration_minutes.";

/// A change to a series: applied to its future SCHEDULED occurrences that `scope` reaches, all
/// of it or none of it (one conflict fails the whole change).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SeriesUpdate, example = json!({"scope": "following", "occurrence": 12, "time_of_day": "10:30"}))
)]
pub struct SeriesChanges {
    /// `this` (the named occurrence), `following` (it and every later one) or `all`.
    pub scope: SeriesScope,
    /// The occurrence (appointment id) that `this` and `following` start from (ignored with
    /// `all`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, nullable = false))]
    pub occurrence: Option<crate::AppointmentId>,
    /// New start time of day, `HH:MM` in the series' zone; each occurrence keeps its date.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "10:30")
    )]
    pub time_of_day: Option<NaiveTime>,
    /// New length of each occurrence.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::duration_change))]
    pub duration_minutes: Option<i32>,
    /// New reason.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub reason: Option<String>,
    /// `CANCELLED` cancels the occurrences (with `reason` at most).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::cancelled_only))]
    pub status: Option<AppointmentStatus>,
}

impl SeriesChanges {
    /// Parses a change body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let scope = if r.has("scope") {
            r.choice::<SeriesScope>("scope")
        } else {
            r.errors.add("scope", crate::msg::REQUIRED);
            None
        };
        let occurrence = if r.has("occurrence") {
            r.pk("occurrence", true, false)
                .flatten()
                .map(crate::AppointmentId)
        } else {
            None
        };
        let time_of_day = if r.has("time_of_day") {
            let t = r
                .raw_str("time_of_day")
                .and_then(crate::raw::parse_time_of_day);
            if t.is_none() {
                r.errors
                    .add("time_of_day", "Use a time HH:MM between 00:00 and 23:59.");
            }
            t
        } else {
            None
        };
        let duration_minutes = r
            .int_in("duration_minutes", MIN_DURATION, MAX_DURATION, None)
            .and_then(|n| i32::try_from(n).ok());
        let reason = r.optional_text("reason", MAX_NOTE);
        let status = if r.has("status") {
            match r.choice::<AppointmentStatus>("status") {
                Some(AppointmentStatus::Cancelled) => Some(AppointmentStatus::Cancelled),
                Some(_) => {
                    r.errors.add(
                        "status",
                        "Only CANCELLED can be set on a series' occurrences.",
                    );
                    None
                }
                None => None,
            }
        } else {
            None
        };
        match (scope, occurrence) {
            (Some(SeriesScope::This | SeriesScope::Following), None) if !r.has("occurrence") => {
                r.errors.add("occurrence", OCCURRENCE_REQUIRED);
            }
            _ => {}
        }
        let moves = r.has("time_of_day") || r.has("duration_minutes");
        if r.errors.is_empty() {
            if status.is_some() && moves {
                r.errors.add(crate::NON_FIELD_ERRORS, CANCEL_ALONE);
            } else if status.is_none() && !moves && !r.has("reason") {
                r.errors.add(crate::NON_FIELD_ERRORS, NOTHING_TO_CHANGE);
            }
        }
        r.finish(|| Self {
            scope: scope.unwrap_or(SeriesScope::All),
            occurrence,
            time_of_day,
            duration_minutes,
            reason,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Raw;

    fn parse(pairs: Vec<(&str, Raw)>) -> Result<SeriesChanges, FieldErrors> {
        SeriesChanges::parse(&RawObject::from_pairs(pairs))
    }

    #[test]
    fn a_change_names_its_scope_and_something_to_change() {
        let s = |v: &str| Raw::Str(v.into());
        let ok = parse(vec![("scope", s("all")), ("time_of_day", s("10:30"))]).unwrap();
        assert_eq!(ok.scope, SeriesScope::All);
        assert_eq!(ok.time_of_day, NaiveTime::from_hms_opt(10, 30, 0));
        assert!(parse(vec![("time_of_day", s("10:30"))]).is_err());
        assert!(parse(vec![("scope", s("all"))]).is_err());
        assert!(parse(vec![("scope", s("this")), ("reason", s("x"))]).is_err());
        assert!(parse(vec![
            ("scope", s("all")),
            ("occurrence", Raw::Int(3)),
            ("reason", s("x"))
        ])
        .is_ok());
        assert!(parse(vec![("scope", s("all")), ("time_of_day", s("24:00"))]).is_err());
        assert!(parse(vec![("scope", s("all")), ("status", s("COMPLETED"))]).is_err());
        assert!(parse(vec![
            ("scope", s("all")),
            ("status", s("CANCELLED")),
            ("reason", s("x"))
        ])
        .is_ok());
        assert!(parse(vec![
            ("scope", s("all")),
            ("status", s("CANCELLED")),
            ("duration_minutes", Raw::Int(30))
        ])
        .is_err());
        let cancel = parse(vec![
            ("scope", s("following")),
            ("occurrence", Raw::Int(3)),
            ("status", s("CANCELLED")),
        ])
        .unwrap();
        assert_eq!(cancel.occurrence, Some(crate::AppointmentId(3)));
        assert_eq!(cancel.status, Some(AppointmentStatus::Cancelled));
    }
}
