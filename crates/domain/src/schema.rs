//! OpenAPI schemas of the input fields that carry a limit (feature `openapi`): the `schema_with`
//! functions of the input types in [`crate::inputs`], built from the same constants the parser
//! ([`crate::raw::Reader`]) enforces, so the document cannot state another limit than the one
//! applied. Rules JSON Schema cannot express are in the descriptions.

use crate::enums::AppointmentStatus;
use crate::inputs::{
    DEFAULT_DURATION, MAX_DURATION, MAX_EMAIL, MAX_EXPERIENCE, MAX_HISTORY, MAX_HOSPITAL,
    MAX_LICENSE, MAX_NAME, MAX_NOTE, MAX_PASSWORD_BYTES, MAX_PHONE, MAX_REFRESH_TOKEN, MAX_SECRET,
    MAX_USERNAME, MIN_DURATION, MIN_EXPERIENCE, MIN_PASSWORD_CHARS,
};
use crate::raw::PHONE_PATTERN;
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
        .default(Some(MIN_EXPERIENCE.into()))
        .build()
}

/// Years of experience, changed.
pub fn experience_change() -> Object {
    integer(MIN_EXPERIENCE, MAX_EXPERIENCE).build()
}

/// A new appointment's length in minutes.
pub fn duration_minutes() -> Object {
    integer(MIN_DURATION, MAX_DURATION)
        .default(Some(DEFAULT_DURATION.into()))
        .build()
}

/// An appointment's length in minutes, changed.
pub fn duration_change() -> Object {
    integer(MIN_DURATION, MAX_DURATION).build()
}

/// The status a new appointment may be given.
pub fn new_status() -> Object {
    of(Type::String, false)
        .enum_values(Some([AppointmentStatus::Scheduled.as_str()]))
        .description(Some(
            "Optional; a new appointment is `SCHEDULED` (the only value accepted here).",
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
