//! The error vocabulary of the domain: field-keyed validation errors in the shape of the seed's
//! framework (`{"field": ["message", ...]}`), ready to become an HTTP 400 body.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The key used for errors that belong to no single field.
pub const NON_FIELD_ERRORS: &str = "non_field_errors";

/// Messages shared by every input type, worded as the seed's framework words them.
pub mod msg {
    /// A required field is absent (or null).
    pub const REQUIRED: &str = "This field is required.";
    /// A text field is empty or white space only.
    pub const BLANK: &str = "This field may not be blank.";
    /// A field that may not be null was null.
    pub const NULL: &str = "This field may not be null.";
    /// A string was expected.
    pub const NOT_STRING: &str = "Not a valid string.";
    /// An integer was expected.
    pub const NOT_INTEGER: &str = "A valid integer is required.";
    /// A boolean was expected.
    pub const NOT_BOOLEAN: &str = "Must be a valid boolean.";
    /// An email address was expected.
    pub const EMAIL: &str = "Enter a valid email address.";
    /// A date was expected.
    pub const DATE_FORMAT: &str =
        "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";
    /// A date-time with an offset was expected.
    pub const DATETIME_FORMAT: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or YYYY-MM-DDThh:mm[:ss[.uuuuuu]]Z.";
    /// The doctor already has a blocking appointment overlapping the requested time.
    pub const DOCTOR_CONFLICT: &str = "Doctor already has an appointment at this time.";
    /// The patient already has a blocking appointment overlapping the requested time.
    pub const PATIENT_CONFLICT: &str = "Patient already has an appointment at this time.";
    /// A hold was confirmed after it expired.
    pub const HOLD_EXPIRED: &str = "This hold has expired.";
    /// A patient asked for one more hold than allowed.
    pub const TOO_MANY_HOLDS: &str =
        "This patient already holds 3 slots: confirm or cancel one of them first.";
}

/// Validation errors keyed by field name, each with one or more messages (`non_field_errors`
/// for rules across fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"non_field_errors": ["Doctor already has an appointment at this time."]}))
)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error on one field.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// One error that belongs to no single field.
    pub fn non_field(message: impl Into<String>) -> Self {
        Self::single(NON_FIELD_ERRORS, message)
    }

    /// Adds a message to a field.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a field has at least one error.
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// The messages of one field.
    pub fn messages(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The errors as a map.
    pub fn as_map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    /// The same errors with field `from` named `to` (a rule written for one field applied to
    /// another, such as the password policy to `new_password`).
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        if let Some(messages) = self.0.remove(from) {
            self.0.entry(to.to_owned()).or_default().extend(messages);
        }
        self
    }

    /// Adds every message of `other` (errors of one request found by two readers, such as a
    /// query's paging and its own fields).
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// `Ok(value)` when no error was recorded, otherwise the errors.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for m in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {m}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}
