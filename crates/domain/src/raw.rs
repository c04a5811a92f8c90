//! A JSON object read leniently, so every field can be checked and every error reported at once,
//! keyed by field, instead of failing on the first wrong type.

use crate::errors::{msg, FieldErrors};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// One JSON value, read leniently: any value is accepted here, and each field's reader decides
/// what it makes of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array (such as the weekly intervals of working hours).
    Array(Vec<Raw>),
    /// An object (such as one weekly interval).
    Object(RawObject),
}

impl Raw {
    /// The DRF-style name of the JSON type, for "expected pk value, received X" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Raw::Null => "NoneType",
            Raw::Bool(_) => "bool",
            Raw::Int(_) => "int",
            Raw::Float(_) => "float",
            Raw::Str(_) => "str",
            Raw::Array(_) => "list",
            Raw::Object(_) => "dict",
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Raw>()? {
                    items.push(item);
                }
                Ok(Raw::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw, A::Error> {
                RawObject::from_map(map).map(Raw::Object)
            }
        }
        d.deserialize_any(V)
    }
}

/// A request body: a JSON object whose values are read leniently.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawObject(pub BTreeMap<String, Raw>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawObject, A::Error> {
                RawObject::from_map(map)
            }
        }
        d.deserialize_map(V)
            .map_err(|e: D::Error| de::Error::custom(format!("{e}; expected a JSON object")))
    }
}

impl RawObject {
    /// Reads the entries of a JSON object (a repeated key keeps its last value).
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<RawObject, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Raw>()? {
            out.insert(k, v);
        }
        Ok(RawObject(out))
    }

    /// Builds an object from pairs (handy in tests and examples).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Raw)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// Longest email address in characters.
pub const MAX_EMAIL: usize = 254;
/// Longest phone number in characters.
pub const MAX_PHONE: usize = 15;
/// What [`Reader::phone`] accepts, as an ECMA-262 pattern for the OpenAPI document: digits,
/// spaces and `+-()`, with at least one digit.
pub const PHONE_PATTERN: &str = r"^[0-9 +()-]*[0-9][0-9 +()-]*$";

/// Whether absent fields are errors (create) or mean "unchanged" (partial update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every required field must be present.
    Create,
    /// Only the fields present are read.
    Patch,
}

/// Reads typed fields out of a [`RawObject`], collecting field-keyed errors.
pub struct Reader<'a> {
    obj: &'a RawObject,
    mode: Mode,
    /// Errors found so far.
    pub errors: FieldErrors,
}

impl<'a> Reader<'a> {
    /// Starts reading `obj` in `mode`.
    pub fn new(obj: &'a RawObject, mode: Mode) -> Self {
        Self {
            obj,
            mode,
            errors: FieldErrors::new(),
        }
    }

    /// Whether the body names this field at all.
    pub fn has(&self, name: &str) -> bool {
        self.obj.0.contains_key(name)
    }

    /// The untrimmed string value of a field, if it is a string.
    pub fn raw_str(&self, name: &str) -> Option<&'a str> {
        match self.obj.0.get(name) {
            Some(Raw::Str(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    fn value(&mut self, name: &str, required: bool) -> Option<&'a Raw> {
        match self.obj.0.get(name) {
            None => {
                if required && self.mode == Mode::Create {
                    self.errors.add(name, msg::REQUIRED);
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A required text field, trimmed, 1..=max characters.
    pub fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let v = self.value(name, true)?;
        match v {
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            Raw::Str(s) => {
                let t = s.trim();
                if t.is_empty() {
                    self.errors.add(name, msg::BLANK);
                    None
                } else {
                    self.bounded(name, t, max)
                }
            }
            _ => {
                self.errors.add(name, msg::NOT_STRING);
                None
            }
        }
    }

    /// An optional text field (absent, null or blank give ""), at most `max` characters.
    /// In create mode an absent field reads as "", in patch mode as `None` (unchanged).
    pub fn optional_text(&mut self, name: &str, max: usize) -> Option<String> {
        match self.obj.0.get(name) {
            None => (self.mode == Mode::Create).then(String::new),
            Some(Raw::Null) => Some(String::new()),
            Some(Raw::Str(s)) => self.bounded(name, s.trim(), max),
            Some(_) => {
                self.errors.add(name, msg::NOT_STRING);
                None
            }
        }
    }

    fn bounded(&mut self, name: &str, s: &str, max: usize) -> Option<String> {
        if s.chars().count() > max {
            self.errors.add(
                name,
                format!("Ensure this field has no more than {max} characters."),
            );
            None
        } else if s.contains('\0') {
            self.errors.add(name, "Null characters are not allowed.");
            None
        } else {
            Some(s.to_owned())
        }
    }

    /// A required email address.
    pub fn email(&mut self, name: &str) -> Option<String> {
        let s = self.text(name, MAX_EMAIL)?;
        self.check_email(name, s)
    }

    /// An optional email address ("" when absent or blank).
    pub fn optional_email(&mut self, name: &str) -> Option<String> {
        let s = self.optional_text(name, MAX_EMAIL)?;
        if s.is_empty() {
            return Some(s);
        }
        self.check_email(name, s)
    }

    fn check_email(&mut self, name: &str, s: String) -> Option<String> {
        use validator::ValidateEmail;
        if s.validate_email() {
            Some(s)
        } else {
            self.errors.add(name, msg::EMAIL);
            None
        }
    }

    /// A required phone number: 1-15 characters of digits, spaces and `+-()`, with a digit.
    pub fn phone(&mut self, name: &str) -> Option<String> {
        let s = self.text(name, MAX_PHONE)?;
        let allowed = s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'));
        if allowed && s.chars().any(|c| c.is_ascii_digit()) {
            Some(s)
        } else {
            self.errors.add(
                name,
                "Enter a valid phone number: digits, spaces and + - ( ) only.",
            );
            None
        }
    }

    /// A required choice among an enum's codes.
    pub fn choice<T: std::str::FromStr>(&mut self, name: &str) -> Option<T> {
        let v = self.value(name, true)?;
        match v {
            Raw::Str(s) => match s.parse::<T>() {
                Ok(t) => Some(t),
                Err(_) => {
                    self.errors
                        .add(name, format!("\"{}\" is not a valid choice.", s.trim()));
                    None
                }
            },
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            other => {
                self.errors.add(
                    name,
                    format!("\"{}\" is not a valid choice.", display(other)),
                );
                None
            }
        }
    }

    /// An integer within `min..=max`; `default` applies in create mode when absent.
    pub fn int_in(&mut self, name: &str, min: i64, max: i64, default: Option<i64>) -> Option<i64> {
        let v = match self.value(name, default.is_none()) {
            Some(v) => v,
            None => {
                return if self.mode == Mode::Create {
                    default
                } else {
                    None
                }
            }
        };
        if *v == Raw::Null {
            self.errors.add(name, msg::NULL);
            return None;
        }
        self.bounded_int(name, v, min, max)
    }

    /// An optional integer within `min..=max`, read as [`Reader::int_in`] reads one: `Some(None)`
    /// when absent or null, `None` when wrong (the error is recorded).
    pub fn optional_int_in(&mut self, name: &str, min: i64, max: i64) -> Option<Option<i64>> {
        match self.obj.0.get(name) {
            None | Some(Raw::Null) => Some(None),
            Some(v) => self.bounded_int(name, v, min, max).map(Some),
        }
    }

    /// An integer (a whole number, or a string of one) within `min..=max`.
    fn bounded_int(&mut self, name: &str, v: &Raw, min: i64, max: i64) -> Option<i64> {
        let n = match v {
            Raw::Int(n) => Some(*n),
            Raw::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(*f as i64),
            Raw::Str(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            None => {
                self.errors.add(name, msg::NOT_INTEGER);
                None
            }
            Some(n) if n < min => {
                self.errors.add(
                    name,
                    format!("Ensure this value is greater than or equal to {min}."),
                );
                None
            }
            Some(n) if n > max => {
                self.errors.add(
                    name,
                    format!("Ensure this value is less than or equal to {max}."),
                );
                None
            }
            Some(n) => Some(n),
        }
    }

    /// A boolean; `default` applies in create mode when absent.
    pub fn boolean(&mut self, name: &str, default: bool) -> Option<bool> {
        let v = match self.obj.0.get(name) {
            None => return (self.mode == Mode::Create).then_some(default),
            Some(v) => v,
        };
        match v {
            Raw::Bool(b) => Some(*b),
            Raw::Int(1) => Some(true),
            Raw::Int(0) => Some(false),
            Raw::Str(s) if matches!(s.as_str(), "true" | "True" | "1") => Some(true),
            Raw::Str(s) if matches!(s.as_str(), "false" | "False" | "0") => Some(false),
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            _ => {
                self.errors.add(name, msg::NOT_BOOLEAN);
                None
            }
        }
    }

    /// A reference to another record by primary key. `Some(None)` means explicitly null
    /// (only when `nullable`); `None` means absent or invalid.
    pub fn pk(&mut self, name: &str, required: bool, nullable: bool) -> Option<Option<i64>> {
        let v = self.value(name, required)?;
        match v {
            Raw::Null if nullable => Some(None),
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            Raw::Int(n) => Some(Some(*n)),
            Raw::Str(s) => match s.trim().parse::<i64>() {
                Ok(n) => Some(Some(n)),
                Err(_) => {
                    self.errors.add(
                        name,
                        "Incorrect type. Expected pk value, received str.".to_owned(),
                    );
                    None
                }
            },
            other => {
                self.errors.add(
                    name,
                    format!(
                        "Incorrect type. Expected pk value, received {}.",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    /// A required calendar date `YYYY-MM-DD`.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let v = self.value(name, true)?;
        let parsed = match v {
            Raw::Str(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .filter(|_| s.trim().len() == 10),
            _ => None,
        };
        if parsed.is_none() {
            self.errors.add(name, msg::DATE_FORMAT);
        }
        parsed
    }

    /// A required date-time that carries an offset or `Z`, normalised to UTC.
    pub fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let v = self.value(name, true)?;
        let parsed = match v {
            Raw::Str(s) => parse_datetime(s),
            _ => None,
        };
        if parsed.is_none() {
            self.errors.add(name, msg::DATETIME_FORMAT);
        }
        parsed
    }

    /// A calendar date `YYYY-MM-DD` whose year is within [`YEARS`], read as
    /// [`parse_date_filter`] reads query dates (a date-time is refused: the field is a date).
    /// `Some(None)` when absent or null and not `required`; `None` when wrong (the error is
    /// recorded) or when required and absent in create mode ([`msg::REQUIRED`]).
    pub fn date_in_years(&mut self, name: &str, required: bool) -> Option<Option<NaiveDate>> {
        let v = match self.obj.0.get(name) {
            None | Some(Raw::Null) if !required || self.mode == Mode::Patch => return Some(None),
            None => {
                self.errors.add(name, msg::REQUIRED);
                return None;
            }
            Some(v) => v,
        };
        let parsed = match v {
            Raw::Str(s) => parse_date_filter(s),
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                return None;
            }
            _ => Err(DateFilterError::Format),
        };
        match parsed {
            Ok(DateFilter::Date(d)) => Some(Some(d)),
            Ok(DateFilter::Instant(_)) | Err(DateFilterError::Format) => {
                self.errors.add(name, msg::DATE_FORMAT);
                None
            }
            Err(e @ DateFilterError::OutOfRange) => {
                self.errors.add(name, e.to_string());
                None
            }
        }
    }

    /// An optional IANA time zone name ([`parse_time_zone`]); absent or null read as `None`.
    /// Another type is [`msg::NOT_STRING`], an unknown name `Unknown time zone "X".`.
    pub fn time_zone(&mut self, name: &str) -> Option<Tz> {
        match self.obj.0.get(name) {
            None | Some(Raw::Null) => None,
            Some(Raw::Str(s)) => {
                let tz = parse_time_zone(s);
                if tz.is_none() {
                    let shown: String = s.trim().chars().take(ECHO_CHARS).collect();
                    self.errors
                        .add(name, format!("Unknown time zone \"{shown}\"."));
                }
                tz
            }
            Some(_) => {
                self.errors.add(name, msg::NOT_STRING);
                None
            }
        }
    }

    /// A required list of at most `max` items, returned unread (each item is the caller's to
    /// check). Null is [`msg::NULL`]; another type is `Expected a list of items but got type
    /// "X".`, with X the JSON type as [`Raw::type_name`] names it.
    pub fn list(&mut self, name: &str, max: usize) -> Option<&'a [Raw]> {
        let v = self.value(name, true)?;
        match v {
            Raw::Array(items) if items.len() > max => {
                self.errors.add(
                    name,
                    format!("Ensure this list has no more than {max} entries."),
                );
                None
            }
            Raw::Array(items) => Some(items),
            Raw::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            other => {
                self.errors.add(
                    name,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    /// The errors, or `value` when there are none.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(self.errors)
        }
    }
}

fn display(raw: &Raw) -> String {
    match raw {
        Raw::Null => "None".to_owned(),
        Raw::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Raw::Int(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Str(s) => s.clone(),
        Raw::Array(_) => "[]".to_owned(),
        Raw::Object(_) => "{}".to_owned(),
    }
}

/// Parses an RFC 3339 date-time (seconds optional) that carries an offset or `Z`; leap seconds
/// and naive date-times are refused. The result is in UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() > 40 {
        return None;
    }
    let parsed: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        // "2025-12-20T10:30Z" / "2025-12-20T10:30+01:00": insert the missing seconds.
        let (date_time, rest) = s.split_at_checked(16)?;
        if rest.starts_with(':') {
            return None;
        }
        DateTime::parse_from_rfc3339(&format!("{date_time}:00{rest}")).ok()
    })?;
    if parsed.timestamp_subsec_nanos() >= 1_000_000_000 {
        return None;
    }
    Some(parsed.with_timezone(&Utc))
}

/// How many characters of a refused value an error message repeats.
const ECHO_CHARS: usize = 100;

/// Longest IANA time zone name accepted (the longest real one, `America/Argentina/ComodRivadavia`,
/// has 32 characters).
pub const MAX_TIME_ZONE_NAME: usize = 64;

/// Reads an IANA time zone name such as `Europe/Berlin` or `UTC` (exact spelling, surrounding
/// white space ignored, at most [`MAX_TIME_ZONE_NAME`] bytes); `None` when there is no such
/// zone.
pub fn parse_time_zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_TIME_ZONE_NAME {
        return None;
    }
    name.parse::<Tz>().ok()
}

/// Reads a local time of day `HH:MM` (or `HH:MM:00`), `00:00` ..= `23:59`, surrounding white
/// space ignored; `None` for anything else (seconds other than `00`, `24:00`, `9:00`).
pub fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let t = match s.len() {
        5 => NaiveTime::parse_from_str(s, "%H:%M").ok()?,
        8 => NaiveTime::parse_from_str(s, "%H:%M:%S").ok()?,
        _ => return None,
    };
    (t.second() == 0 && t.nanosecond() == 0).then_some(t)
}

/// The years a date or date-time input may fall in (UTC for date-times): 1900-2199. Outside
/// them a value is refused, never clamped or ignored.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// Whether a date or date-time input of this year is accepted ([`YEARS`]).
pub fn year_accepted(year: i32) -> bool {
    YEARS.contains(&year)
}

/// A whole number of a query string (a page size, an offset): its value, or the largest
/// (smallest) `i64` for a number past the range, so a caller clamps a huge page size as it
/// clamps any too large one; `None` for what is not a whole number.
pub fn saturating_int(text: &str) -> Option<i64> {
    use std::num::IntErrorKind;
    match text.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Some(i64::MAX),
        Err(e) if *e.kind() == IntErrorKind::NegOverflow => Some(i64::MIN),
        Err(_) => None,
    }
}

/// A date filter of a query string, as the client wrote it: a calendar date or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFilter {
    /// `YYYY-MM-DD`.
    Date(NaiveDate),
    /// A date-time with an offset or `Z`, in UTC.
    Instant(DateTime<Utc>),
}

/// Why a date filter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateFilterError {
    /// Neither `YYYY-MM-DD` nor a date-time with an offset (or not a real day or time).
    #[error("Enter a date (YYYY-MM-DD) or a date-time with an offset.")]
    Format,
    /// A well-formed date or date-time whose year is outside [`YEARS`].
    #[error("Dates must be between 1900 and 2199.")]
    OutOfRange,
}

/// Year, month and day of a `YYYY-MM-DD` text (four or more year digits, two for month and
/// day), not yet checked as a calendar day.
fn date_parts(s: &str) -> Option<(u64, u32, u32)> {
    let (year, rest) = s.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year) && digits(month) && digits(day))
        || year.len() < 4
        || month.len() != 2
        || day.len() != 2
    {
        return None;
    }
    // More than 19 digits does not fit: a year that large is out of range all the same.
    let year = year.parse::<u64>().unwrap_or(u64::MAX);
    Some((year, month.parse().ok()?, day.parse().ok()?))
}

/// Parses a date filter of a query string (`date_from`, `date_to`, ...): `YYYY-MM-DD` or an
/// RFC 3339 date-time with an offset ([`parse_datetime`]), its year within [`YEARS`]. Every
/// date and date-time query parameter goes through here, so none can slip past the rule (a
/// six-digit year is [`DateFilterError::OutOfRange`], not ignored).
pub fn parse_date_filter(s: &str) -> Result<DateFilter, DateFilterError> {
    let s = s.trim();
    if let Some((year, month, day)) = date_parts(s) {
        let year = i32::try_from(year)
            .ok()
            .filter(|y| year_accepted(*y))
            .ok_or(DateFilterError::OutOfRange)?;
        return NaiveDate::from_ymd_opt(year, month, day)
            .map(DateFilter::Date)
            .ok_or(DateFilterError::Format);
    }
    match parse_datetime(s) {
        Some(t) if year_accepted(t.year()) => Ok(DateFilter::Instant(t)),
        Some(_) => Err(DateFilterError::OutOfRange),
        None => Err(DateFilterError::Format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_filters_are_dates_or_instants_within_the_years() {
        use DateFilterError::{Format, OutOfRange};
        let date = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .map(DateFilter::Date)
                .ok_or(Format)
        };
        assert_eq!(parse_date_filter("2030-04-01"), date(2030, 4, 1));
        assert_eq!(parse_date_filter(" 1900-01-01 "), date(1900, 1, 1));
        assert_eq!(parse_date_filter("2199-12-31"), date(2199, 12, 31));
        assert_eq!(
            parse_date_filter("2030-04-01T10:00:00+02:00"),
            Ok(DateFilter::Instant(
                DateTime::from_timestamp(1_901_260_800, 0).unwrap_or_default()
            ))
        );
        for out in [
            "1899-12-31",
            "2200-01-01",
            "0000-01-01",
            "100000-01-01",
            "99999999999999999999999-01-01",
            "1899-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            // 2199-12-31T23:30 local is 2200-01-01 in UTC.
            "2199-12-31T23:30:00-01:00",
        ] {
            assert_eq!(parse_date_filter(out), Err(OutOfRange), "{out}");
        }
        for bad in [
            "",
            "2030-4-01",
            "2030-04-1",
            "30-04-01",
            "2030-02-30",
            "2030-13-01",
            "+2030-04-01",
            "-2030-04-01",
            "2030-04-01x",
            "01/04/2030",
            "2030-04-01T10:00:00",
            "2030-04-01T24:00:00Z",
            "+275760-01-01",
        ] {
            assert_eq!(parse_date_filter(bad), Err(Format), "{bad}");
        }
    }

    #[test]
    fn whole_numbers_saturate_past_the_range() {
        assert_eq!(saturating_int(" 42 "), Some(42));
        assert_eq!(saturating_int("+7"), Some(7));
        assert_eq!(saturating_int("99999999999999999999"), Some(i64::MAX));
        assert_eq!(saturating_int("-99999999999999999999"), Some(i64::MIN));
        for bad in ["", "1.0", "1e3", "x", "0x10", "--1"] {
            assert_eq!(saturating_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn booleans_take_the_seed_forms_and_refuse_null_as_null() {
        let obj = RawObject::from_pairs([
            ("a", Raw::Str("True".into())),
            ("b", Raw::Int(0)),
            ("c", Raw::Null),
            ("d", Raw::Str("maybe".into())),
        ]);
        let mut reader = Reader::new(&obj, Mode::Patch);
        assert_eq!(reader.boolean("a", false), Some(true));
        assert_eq!(reader.boolean("b", true), Some(false));
        assert_eq!(reader.boolean("c", true), None);
        assert_eq!(reader.boolean("d", true), None);
        assert_eq!(reader.boolean("absent", true), None);
        assert_eq!(reader.errors.messages("c"), [msg::NULL]);
        assert_eq!(reader.errors.messages("d"), [msg::NOT_BOOLEAN]);
    }

    #[test]
    fn containers_keep_their_content_and_nesting_is_bounded() {
        let body: Result<RawObject, _> = serde_json::from_str(
            r#"{"weekly": [{"weekday": "MON", "n": [1, 2.5, null]}], "x": {}}"#,
        );
        let inner = RawObject::from_pairs([
            ("weekday", Raw::Str("MON".into())),
            (
                "n",
                Raw::Array(vec![Raw::Int(1), Raw::Float(2.5), Raw::Null]),
            ),
        ]);
        assert_eq!(
            body.map_err(|e| e.to_string()),
            Ok(RawObject::from_pairs([
                ("weekly", Raw::Array(vec![Raw::Object(inner)])),
                ("x", Raw::Object(RawObject::default())),
            ]))
        );
        // serde_json's recursion limit (128) refuses deeper bodies: a 400, never a stack
        // overflow.
        let nested =
            |depth: usize| format!("{{\"a\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert!(serde_json::from_str::<RawObject>(&nested(100)).is_ok());
        let deep = serde_json::from_str::<RawObject>(&nested(20_000));
        assert!(deep.is_err_and(|e| e.to_string().contains("recursion limit")));
    }

    #[test]
    fn datetimes_need_an_offset_and_a_real_time() {
        assert!(parse_datetime("2025-12-20T10:30:00Z").is_some());
        assert!(parse_datetime("2025-12-20T10:30Z").is_some());
        let plus14 = parse_datetime("2025-12-20T10:30:00+14:00");
        assert_eq!(
            plus14.map(|d| d.to_rfc3339()),
            Some("2025-12-19T20:30:00+00:00".to_owned())
        );
        assert!(parse_datetime("2025-12-20T10:30:00").is_none());
        assert!(parse_datetime("2025-12-20T24:00:00Z").is_none());
        assert!(parse_datetime("2025-12-31T23:59:60Z").is_none());
        assert!(parse_datetime("2025-02-30T10:00:00Z").is_none());
        assert!(parse_datetime("").is_none());
        assert!(parse_datetime("2025-12-20T1é:30Z").is_none());
    }
}
