//! OpenAPI schemas of the input fields that carry a limit (feature `openapi`): the `schema_with`
//! functions of the input types in [`crate::inputs`], built from the same constants the parser
//! ([`crate::raw::Reader`]) enforces, so the document cannot state another limit than the one
//! applied. Rules JSON Schema cannot express are in the descriptions.

use crate::enums::AppointmentStatus;
use crate::inputs::{
    DEFAULT_DURATION, MAX_BUFFER_MINUTES, MAX_DURATION, MAX_EMAIL, MAX_EXPERIENCE, MAX_HISTORY,
    MAX_HOSPITAL, MAX_LICENSE, MAX_NAME, MAX_NOTE, MAX_PASSWORD_BYTES, MAX_PHONE,
    MAX_REFRESH_TOKEN, MAX_SECRET, MAX_USERNAME, MIN_DURATION, MIN_EXPERIENCE, MIN_PASSWORD_CHARS,
};
use crate::raw::PHONE_PATTERN;
use crate::webhooks::{MAX_DESCRIPTION, MAX_REMINDERS, MAX_REMINDER_MINUTES, MAX_URL, MIN_URL};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

fn of(ty: Type, nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([ty, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(ty)
    }
}

/// Required text: trimmed, then 1 to `max` characters.
fn text(max: usize) -> ObjectBuilder {
    of(Type::String, false)
        .min_length(Some(1))
        .max_length(Some(max))
}

/// Optional text: absent, `null` and blank all mean `""`; at most `max` characters.
fn optional_text(max: usize) -> ObjectBuilder {
    of(Type::String, true).max_length(Some(max))
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    of(Type::Integer, false)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int32,
        )))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// A given or family name.
pub fn name() -> Object {
    text(MAX_NAME)
        .description(Some("Trimmed; may not be blank."))
        .build()
}

/// A phone number.
pub fn phone() -> Object {
    text(MAX_PHONE)
        .pattern(Some(PHONE_PATTERN))
        .description(Some("Digits, spaces and `+-()`, with at least one digit."))
        .build()
}

/// An optional email address.
pub fn optional_email() -> Object {
    optional_text(MAX_EMAIL)
        .description(Some(
            "A valid email address, or blank (`\"\"`, also when absent or null).",
        ))
        .build()
}

/// A note: an address, a reason.
pub fn note() -> Object {
    optional_text(MAX_NOTE)
        .description(Some(
            "Optional; may be blank (`\"\"`, also when absent or null).",
        ))
        .build()
}

/// A patient's medical history.
pub fn history() -> Object {
    optional_text(MAX_HISTORY)
        .description(Some(
            "Optional; may be blank (`\"\"`, also when absent or null).",
        ))
        .build()
}

/// A doctor's licence number.
pub fn license_number() -> Object {
    text(MAX_LICENSE)
        .description(Some("Unique among doctors; trimmed; may not be blank."))
        .build()
}

/// A hospital or practice.
pub fn hospital() -> Object {
    text(MAX_HOSPITAL)
        .description(Some("Trimmed; may not be blank."))
        .build()
}

/// Years of experience of a new doctor.
pub fn experience_years() -> Object {
    integer(MIN_EXPERIENCE, MAX_EXPERIENCE)
        .description(Some("Years of experience."))
        .default(Some(MIN_EXPERIENCE.into()))
        .build()
}

const BUFFER: &str = "Minutes the doctor keeps free before (`buffer_before_minutes`) or after \
(`buffer_after_minutes`) each appointment booked or moved from now on (docs/scheduling.md \
\"Doctor buffers\").";

/// A doctor's buffer before or after appointments, in minutes.
pub fn buffer_minutes() -> Object {
    integer(0, MAX_BUFFER_MINUTES)
        .description(Some(BUFFER))
        .default(Some(0.into()))
        .build()
}

/// A doctor's buffer, changed: applies to appointments booked or moved after the change.
pub fn buffer_change() -> Object {
    integer(0, MAX_BUFFER_MINUTES)
        .description(Some(BUFFER))
        .build()
}

/// Years of experience, changed.
pub fn experience_change() -> Object {
    integer(MIN_EXPERIENCE, MAX_EXPERIENCE)
        .description(Some("Years of experience."))
        .build()
}

/// A new appointment's length in minutes.
pub fn duration_minutes() -> Object {
    integer(MIN_DURATION, MAX_DURATION)
        .description(Some("Length in minutes."))
        .default(Some(DEFAULT_DURATION.into()))
        .build()
}

/// An appointment's length in minutes, changed.
pub fn duration_change() -> Object {
    integer(MIN_DURATION, MAX_DURATION)
        .description(Some("Length in minutes."))
        .build()
}

/// The one status a change of a series may set.
pub fn cancelled_only() -> Object {
    of(Type::String, false)
        .enum_values(Some([AppointmentStatus::Cancelled.as_str()]))
        .description(Some(
            "`CANCELLED` cancels the occurrences (not with `time_of_day` or `duration_minutes`).",
        ))
        .build()
}

/// The status a new appointment may be given.
pub fn new_status() -> Object {
    of(Type::String, false)
        .enum_values(Some([
            AppointmentStatus::Scheduled.as_str(),
            AppointmentStatus::Pending.as_str(),
        ]))
        .description(Some(
            "Optional; a new appointment is `SCHEDULED`. `PENDING` holds the slot for \
             `HEALTHCARE_HOLD_SECONDS` (its `expires_at`) until a change to `SCHEDULED` confirms it.",
        ))
        .build()
}

/// The status a change may set: `SCHEDULED` (which confirms a hold) or a final one; `PENDING`
/// and `EXPIRED` are never set by a change.
pub fn changed_status() -> Object {
    of(Type::String, false)
        .enum_values(Some(
            AppointmentStatus::ALL
                .iter()
                .filter(|s| !matches!(s, AppointmentStatus::Pending | AppointmentStatus::Expired))
                .map(|s| s.as_str()),
        ))
        .description(Some(
            "`SCHEDULED` confirms a `PENDING` hold before its `expires_at` (after it: 409 \
             `This hold has expired.`); the other values end the appointment.",
        ))
        .build()
}

/// A username.
pub fn username() -> Object {
    text(MAX_USERNAME)
        .description(Some(
            "Letters, digits and `@.+-_`; one alphabet among Latin, Greek and Cyrillic. Unique \
             regardless of case and Unicode form.",
        ))
        .build()
}

/// A username as typed at login.
pub fn login_name() -> Object {
    text(MAX_USERNAME).description(Some("Trimmed.")).build()
}

/// A new password.
pub fn new_password() -> Object {
    of(Type::String, false)
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_BYTES))
        .description(Some(
            "Not trimmed. At least 8 characters and at most 72 bytes in UTF-8 (so fewer \
             characters when it uses non-ASCII ones); not entirely numeric, not a common \
             password, not similar to the username.",
        ))
        .build()
}

/// A password as typed at login (or as the current password): checked, not judged.
pub fn secret() -> Object {
    text(MAX_SECRET).description(Some("Not trimmed.")).build()
}

/// A refresh token.
pub fn refresh_token() -> Object {
    text(MAX_REFRESH_TOKEN).build()
}

/// A webhook's target.
pub fn webhook_url() -> Object {
    of(Type::String, false)
        .min_length(Some(MIN_URL))
        .max_length(Some(MAX_URL))
        .description(Some(
            "An absolute http or https URL; its host must resolve to public addresses only \
             (no loopback, private or link-local ones).",
        ))
        .build()
}

/// A webhook's description.
pub fn webhook_description() -> Object {
    optional_text(MAX_DESCRIPTION)
        .description(Some(
            "Free text; may be blank (`\"\"`, also when absent or null).",
        ))
        .build()
}

/// The event types a webhook subscribes to (as the server reads them: at least one, each
/// once).
pub fn webhook_events() -> utoipa::openapi::schema::Array {
    use utoipa::ToSchema;
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name(
            crate::enums::EventType::name(),
        ))
        .min_items(Some(1))
        .max_items(Some(crate::enums::EventType::ALL.len()))
        .unique_items(true)
        .description(Some("Event types to deliver (at least one; no repeats)."))
        .build()
}

/// A webhook's reminder offsets, minutes before an appointment's start.
pub fn reminder_minutes() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(integer(1, MAX_REMINDER_MINUTES))
        .max_items(Some(MAX_REMINDERS))
        .unique_items(true)
        .description(Some(
            "Minutes before an appointment's start at which `appointment.reminder` is sent; \
             no repeats. A new subscription without it gets `[1440]` (a day before).",
        ))
        .build()
}

// `example` as the derived schemas write it, so the document has one style.
#[allow(deprecated)]
mod availability_schemas {
    //! The availability inputs keep their fields private (they are built by parsing only), so
    //! their schemas are written here, from the constants [`crate::availability`] parses with.

    use super::{integer, note, of};
    use crate::availability::{
        SlotQuery, TimeOffRequest, WeeklyInterval, WorkingHours, DEFAULT_SLOT_MINUTES,
        MAX_RANGE_DAYS, MAX_SLOT_MINUTES, MAX_STEP_MINUTES, MAX_WEEKLY_ENTRIES, MIN_SLOT_MINUTES,
        WEEKDAYS,
    };
    use std::borrow::Cow;
    use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ArrayBuilder, Schema, Type};
    use utoipa::openapi::{KnownFormat, ObjectBuilder, Ref, RefOr, Required, SchemaFormat};
    use utoipa::{PartialSchema, ToSchema};

    /// `HH:MM`, 00:00 to 23:59.
    const TIME_OF_DAY: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

    fn time_of_day(description: &str) -> ObjectBuilder {
        of(Type::String, false)
            .pattern(Some(TIME_OF_DAY))
            .description(Some(description))
    }

    fn date_time(description: &str) -> ObjectBuilder {
        of(Type::String, false)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(description))
    }

    impl PartialSchema for WeeklyInterval {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .description(Some(
                    "One weekly working interval in the doctor's local time, within one day.",
                ))
                .property(
                    "weekday",
                    of(Type::String, false)
                        .enum_values(Some(WEEKDAYS.iter().map(|(code, _)| *code)))
                        .description(Some("The day of the week (any case is read).")),
                )
                .required("weekday")
                .property("start", time_of_day("Local start, `HH:MM`."))
                .required("start")
                .property(
                    "end",
                    time_of_day("Local end (excluded), `HH:MM`, after `start` on the same day."),
                )
                .required("end")
                .example(Some(
                    serde_json::json!({"weekday": "MON", "start": "09:00", "end": "12:30"}),
                ))
                .into()
        }
    }

    impl ToSchema for WeeklyInterval {}

    impl PartialSchema for WorkingHours {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .description(Some(
                    "A doctor's weekly working hours. `timezone` is an IANA name, required when \
                     `weekly` is not empty; `{\"weekly\": []}` clears the schedule, and a doctor \
                     without one reads as `{\"timezone\": null, \"weekly\": []}`. Intervals of \
                     one day may not overlap.",
                ))
                .property(
                    "timezone",
                    of(Type::String, true).description(Some("IANA time zone of the local times.")),
                )
                .property(
                    "weekly",
                    ArrayBuilder::new()
                        .items(Ref::from_schema_name(WeeklyInterval::name()))
                        .max_items(Some(MAX_WEEKLY_ENTRIES)),
                )
                .required("weekly")
                .example(Some(
                    serde_json::json!({"timezone": "Europe/Berlin", "weekly": [
                    {"weekday": "MON", "start": "09:00", "end": "12:30"},
                    {"weekday": "MON", "start": "13:30", "end": "17:00"},
                    {"weekday": "TUE", "start": "09:00", "end": "12:30"}]}),
                ))
                .into()
        }
    }

    impl ToSchema for WorkingHours {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((WeeklyInterval::name().into(), WeeklyInterval::schema()));
        }
    }

    impl PartialSchema for TimeOffRequest {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .description(Some(
                    "A new period of time off: `start < end`, both with an offset or `Z`, years \
                     1900-2199.",
                ))
                .property("start", date_time("First instant off."))
                .required("start")
                .property("end", date_time("First instant back (excluded)."))
                .required("end")
                .property("reason", note())
                .property(
                    "keep_appointments",
                    of(Type::Boolean, false)
                        .default(Some(false.into()))
                        .description(Some(
                            "Add the time off even though SCHEDULED appointments fall into it \
                             (they stay booked).",
                        )),
                )
                .example(Some(serde_json::json!({"start": "2030-04-01T07:00:00Z",
                    "end": "2030-04-01T15:00:00Z", "reason": "Conference"})))
                .into()
        }
    }

    impl ToSchema for TimeOffRequest {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("TimeOffCreate")
        }
    }

    impl utoipa::IntoParams for SlotQuery {
        fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
            let query = |name: &str, required: bool, schema: ObjectBuilder, description: String| {
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(if required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .schema(Some(schema))
                    .description(Some(description))
                    .build()
            };
            let date = || {
                of(Type::String, false).format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            };
            vec![
                query("date_from", true, date(), "First local date, `YYYY-MM-DD` (years 1900-2199).".to_owned()),
                query("date_to", false, date(), format!(
                    "Last local date, `YYYY-MM-DD` (default: `date_from`; at most {MAX_RANGE_DAYS} days in all; years 1900-2199)."
                )),
                query("duration", false, integer(MIN_SLOT_MINUTES, MAX_SLOT_MINUTES).default(Some(DEFAULT_SLOT_MINUTES.into())),
                    "Slot length in minutes.".to_owned()),
                query("step", false, integer(1, MAX_STEP_MINUTES), "Minutes between slot starts (default: the duration).".to_owned()),
            ]
        }
    }
}
