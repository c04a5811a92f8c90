//! Doctor availability inputs: the weekly working hours of `PUT /api/doctors/{id}/working-hours/`,
//! the time off of `POST /api/doctors/{id}/time-off/` and the free-slot query of
//! `GET /api/doctors/{id}/slots/`.
//!
//! As in [`crate::inputs`], each is parsed from a [`RawObject`] through a [`Reader`], so a wrong
//! type answers the same field-keyed message as on every other resource ("parse, don't
//! validate"). Their fields are private: `parse` is the only way to build one, and a value is
//! known to be well formed. Whether a weekly schedule's intervals overlap is the scheduling
//! crate's rule (`WeeklySchedule::from_input`).

use crate::errors::FieldErrors;
use crate::inputs::{DEFAULT_DURATION, MAX_DURATION, MAX_NOTE, MIN_DURATION};
use crate::raw::{parse_time_of_day, year_accepted, Mode, Raw, RawObject, Reader};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SubsecRound, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Most intervals one weekly schedule may hold.
pub const MAX_WEEKLY_ENTRIES: usize = 200;
/// Default length of a free slot, minutes (the default appointment length).
pub const DEFAULT_SLOT_MINUTES: i64 = DEFAULT_DURATION;
/// Shortest free slot asked for, minutes (the shortest appointment).
pub const MIN_SLOT_MINUTES: i64 = MIN_DURATION;
/// Longest free slot asked for, minutes (the longest appointment).
pub const MAX_SLOT_MINUTES: i64 = MAX_DURATION;
/// Longest free-slot date range, in days counting both ends.
pub const MAX_RANGE_DAYS: i64 = 31;
/// Largest step between free-slot starts, minutes (one day).
pub const MAX_STEP_MINUTES: i64 = 1440;

/// Messages of the availability inputs (the shared ones are in [`crate::msg`]).
pub mod msg {
    /// `timezone` is missing or null while `weekly` has entries.
    pub const TIME_ZONE_REQUIRED: &str = "This field is required when weekly is not empty.";
    /// A time off's `end` is not after its `start`.
    pub const END_BEFORE_START: &str = "End must be after start.";
    /// A time off instant outside the years inputs accept.
    pub const INSTANT_YEARS: &str = "Date-times must be between 1900 and 2199.";
    /// A free-slot `date_to` before `date_from`.
    pub const RANGE_INVERTED: &str = "The end date must not be before the start date.";
    /// A free-slot range longer than [`super::MAX_RANGE_DAYS`].
    pub const RANGE_TOO_LONG: &str = "The date range may span at most 31 days.";
}

/// The weekday codes of inputs and outputs, Monday first.
pub const WEEKDAYS: [(&str, Weekday); 7] = [
    ("MON", Weekday::Mon),
    ("TUE", Weekday::Tue),
    ("WED", Weekday::Wed),
    ("THU", Weekday::Thu),
    ("FRI", Weekday::Fri),
    ("SAT", Weekday::Sat),
    ("SUN", Weekday::Sun),
];

/// The code of a weekday: `MON` .. `SUN`.
pub fn weekday_code(day: Weekday) -> &'static str {
    WEEKDAYS[day.num_days_from_monday() as usize].0
}

/// Reads a weekday code, in any case, surrounding white space ignored.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let code = s.trim().to_ascii_uppercase();
    WEEKDAYS.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
}

/// One weekly working interval `[start, end)` in local time, within one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeeklyInterval {
    /// The day of the week.
    pub weekday: Weekday,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (excluded); must be after `start`, same day.
    pub end: NaiveTime,
}

/// A doctor's weekly working hours as a `PUT .../working-hours/` body states them:
/// `{"timezone": "Europe/Berlin", "weekly": [{"weekday": "MON", "start": "09:00", "end": "12:30"}, ...]}`.
///
/// Either empty (`{"weekly": []}`: clear the hours; a `timezone`, if sent, is still checked) or
/// a known IANA time zone with 1..=[`MAX_WEEKLY_ENTRIES`] intervals, each with a weekday and
/// two `HH:MM` times. Whether the intervals are in order and apart is checked when they become
/// a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    schedule: Option<(Tz, Vec<WeeklyInterval>)>,
}

impl WorkingHours {
    /// Parses a working-hours body. Errors are keyed `timezone` and `weekly`; an entry's
    /// errors name it by its 0-based index (`"entry 2: weekday must be one of MON, ..."`).
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let tz = r.time_zone("timezone");
        let mut weekly = Vec::new();
        if let Some(items) = r.list("weekly", MAX_WEEKLY_ENTRIES) {
            for (index, item) in items.iter().enumerate() {
                if let Some(entry) = read_entry(index, item, &mut r.errors) {
                    weekly.push(entry);
                }
            }
        }
        r.finish(|| ())?;
        if weekly.is_empty() {
            return Ok(Self { schedule: None });
        }
        match tz {
            Some(tz) => Ok(Self {
                schedule: Some((tz, weekly)),
            }),
            None => Err(FieldErrors::single("timezone", msg::TIME_ZONE_REQUIRED)),
        }
    }

    /// The time zone of the local times; `None` when the body clears the hours.
    pub fn time_zone(&self) -> Option<Tz> {
        self.schedule.as_ref().map(|(tz, _)| *tz)
    }

    /// The intervals in the order sent (empty when the body clears the hours).
    pub fn weekly(&self) -> &[WeeklyInterval] {
        self.schedule.as_ref().map_or(&[], |(_, weekly)| weekly)
    }

    /// The time zone and the intervals, or `None` to clear the hours.
    pub fn into_parts(self) -> Option<(Tz, Vec<WeeklyInterval>)> {
        self.schedule
    }
}

fn read_entry(index: usize, item: &Raw, errors: &mut FieldErrors) -> Option<WeeklyInterval> {
    let Raw::Object(item) = item else {
        errors.add(
            "weekly",
            format!("entry {index}: expected an object with weekday, start and end."),
        );
        return None;
    };
    let weekday = match item.0.get("weekday") {
        Some(Raw::Str(s)) => parse_weekday(s),
        _ => None,
    };
    if weekday.is_none() {
        let missing = missing_in(item, "weekday");
        errors.add(
            "weekly",
            format!(
                "entry {index}: weekday {missing}must be one of MON, TUE, WED, THU, FRI, SAT, SUN."
            ),
        );
    }
    let mut time = |name: &str| {
        let t = match item.0.get(name) {
            Some(Raw::Str(s)) => parse_time_of_day(s),
            _ => None,
        };
        if t.is_none() {
            let missing = missing_in(item, name);
            errors.add(
                "weekly",
                format!(
                    "entry {index}: {name} {missing}must be a time HH:MM between 00:00 and 23:59."
                ),
            );
        }
        t
    };
    let start = time("start");
    let end = time("end");
    Some(WeeklyInterval {
        weekday: weekday?,
        start: start?,
        end: end?,
    })
}

/// `"is required and "` when a weekly entry leaves `name` out (or null), so its message says so.
fn missing_in(item: &RawObject, name: &str) -> &'static str {
    match item.0.get(name) {
        None | Some(Raw::Null) => "is required and ",
        Some(_) => "",
    }
}

/// A period of time off as a `POST .../time-off/` body states it:
/// `{"start", "end", "reason"?, "keep_appointments"?}`.
///
/// `start < end`, both date-times with an offset in 1900..=2199, kept to the second in UTC;
/// `reason` at most [`MAX_NOTE`] characters (default `""`); `keep_appointments` default false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOffRequest {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    reason: String,
    keep_appointments: bool,
}

/// A date-time with an offset, 1900..=2199, kept to the second (as appointments are).
fn read_instant(r: &mut Reader<'_>, name: &str) -> Option<DateTime<Utc>> {
    let t = r.datetime(name)?;
    if year_accepted(t.year()) {
        Some(t.trunc_subsecs(0))
    } else {
        r.errors.add(name, msg::INSTANT_YEARS);
        None
    }
}

impl TimeOffRequest {
    /// Parses a time-off body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let start = read_instant(&mut r, "start");
        let end = read_instant(&mut r, "end");
        let reason = r.optional_text("reason", MAX_NOTE);
        let keep = r.boolean("keep_appointments", false);
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                r.errors.add("end", msg::END_BEFORE_START);
            }
        }
        match (start, end, reason, keep) {
            (Some(start), Some(end), Some(reason), Some(keep_appointments))
                if r.errors.is_empty() =>
            {
                Ok(Self {
                    start,
                    end,
                    reason,
                    keep_appointments,
                })
            }
            _ => Err(r.errors),
        }
    }

    /// First instant off, UTC, whole seconds.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// First instant back (excluded), after [`TimeOffRequest::start`].
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Why (`""` when not given).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether to store the period even though SCHEDULED appointments fall into it.
    pub fn keep_appointments(&self) -> bool {
        self.keep_appointments
    }
}

/// A free-slot search as the query of `GET .../slots/` states it:
/// `date_from` (required), `date_to` (default `date_from`), `duration`, `step`.
///
/// Both dates are `YYYY-MM-DD` in 1900..=2199, `date_from <= date_to`, at most
/// [`MAX_RANGE_DAYS`] days counting both ends; `duration` in
/// [`MIN_SLOT_MINUTES`]..=[`MAX_SLOT_MINUTES`] (default [`DEFAULT_SLOT_MINUTES`]); `step` in
/// 1..=[`MAX_STEP_MINUTES`] (default: the duration). Paging (`limit`, `offset`) is read as on
/// every list, by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotQuery {
    from: NaiveDate,
    to: NaiveDate,
    duration: i64,
    step: Option<i64>,
}

impl SlotQuery {
    /// Parses the query, given as an object of strings (the last value of each parameter; a
    /// blank value counts as absent).
    pub fn parse(query: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(query, Mode::Create);
        let from = r.date_in_years("date_from", true);
        let to = r.date_in_years("date_to", false);
        let duration = r.int_in(
            "duration",
            MIN_SLOT_MINUTES,
            MAX_SLOT_MINUTES,
            Some(DEFAULT_SLOT_MINUTES),
        );
        let step = r.optional_int_in("step", 1, MAX_STEP_MINUTES);
        let (Some(Some(from)), Some(to), Some(duration), Some(step), true) =
            (from, to, duration, step, r.errors.is_empty())
        else {
            return Err(r.errors);
        };
        let to = to.unwrap_or(from);
        if to < from {
            r.errors.add("date_to", msg::RANGE_INVERTED);
        } else if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            r.errors.add("date_to", msg::RANGE_TOO_LONG);
        }
        r.finish(|| Self {
            from,
            to,
            duration,
            step,
        })
    }

    /// First local date searched.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// Last local date searched (included).
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Slot length, minutes.
    pub fn duration(&self) -> i64 {
        self.duration
    }

    /// Minutes between slot starts; `None` for the duration.
    pub fn step(&self) -> Option<i64> {
        self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Raw {
        Raw::Str(v.to_owned())
    }

    fn obj<const N: usize>(pairs: [(&str, Raw); N]) -> Raw {
        Raw::Object(RawObject::from_pairs(pairs))
    }

    fn interval(day: &str, start: &str, end: &str) -> Raw {
        obj([("weekday", s(day)), ("start", s(start)), ("end", s(end))])
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn the_range_message_names_the_limit() {
        assert!(msg::RANGE_TOO_LONG.contains(&format!(" {MAX_RANGE_DAYS} days")));
    }

    #[test]
    fn working_hours_parse() {
        let body = RawObject::from_pairs([
            ("timezone", s(" Europe/Berlin ")),
            (
                "weekly",
                Raw::Array(vec![
                    interval("TUE", "09:00", "12:30"),
                    interval(" mon ", "09:00:00", "12:30"),
                ]),
            ),
        ]);
        let hours = WorkingHours::parse(&body).map_err(|e| e.to_string());
        let hours = hours.as_ref();
        assert_eq!(
            hours.map(WorkingHours::time_zone),
            Ok(Some(chrono_tz::Europe::Berlin))
        );
        assert_eq!(
            hours.map(WorkingHours::weekly),
            Ok(&[
                WeeklyInterval {
                    weekday: Weekday::Tue,
                    start: hm(9, 0),
                    end: hm(12, 30)
                },
                WeeklyInterval {
                    weekday: Weekday::Mon,
                    start: hm(9, 0),
                    end: hm(12, 30)
                },
            ][..])
        );
        // An empty list clears, with or without a zone; the zone is still checked.
        let clear = WorkingHours::parse(&RawObject::from_pairs([("weekly", Raw::Array(vec![]))]));
        assert_eq!(clear.map(WorkingHours::into_parts), Ok(None));
        let bad_zone =
            RawObject::from_pairs([("timezone", s("X")), ("weekly", Raw::Array(vec![]))]);
        let e = WorkingHours::parse(&bad_zone).err().unwrap_or_default();
        assert_eq!(e.messages("timezone"), ["Unknown time zone \"X\"."]);
    }

    #[test]
    fn working_hours_errors_use_the_shared_messages() {
        let parse = |pairs: Vec<(&str, Raw)>| {
            WorkingHours::parse(&RawObject::from_pairs(pairs))
                .err()
                .unwrap_or_default()
        };
        let e = parse(vec![("timezone", Raw::Int(5)), ("weekly", Raw::Int(5))]);
        assert_eq!(e.messages("timezone"), [crate::msg::NOT_STRING]);
        assert_eq!(
            e.messages("weekly"),
            ["Expected a list of items but got type \"int\"."]
        );
        let e = parse(vec![("weekly", Raw::Object(RawObject::default()))]);
        assert_eq!(
            e.messages("weekly"),
            ["Expected a list of items but got type \"dict\"."]
        );
        assert_eq!(parse(vec![]).messages("weekly"), [crate::msg::REQUIRED]);
        assert_eq!(
            parse(vec![("weekly", Raw::Null)]).messages("weekly"),
            [crate::msg::NULL]
        );
        let many = vec![interval("MON", "09:00", "10:00"); MAX_WEEKLY_ENTRIES + 1];
        assert_eq!(
            parse(vec![("timezone", s("UTC")), ("weekly", Raw::Array(many))]).messages("weekly"),
            ["Ensure this list has no more than 200 entries."]
        );
        let e = parse(vec![(
            "weekly",
            Raw::Array(vec![
                interval("MONDAY", "9", "24:00"),
                Raw::Int(7),
                obj([("weekday", Raw::Int(1)), ("start", s("10:00:30"))]),
            ]),
        )]);
        assert_eq!(
            e.messages("weekly"),
            [
                "entry 0: weekday must be one of MON, TUE, WED, THU, FRI, SAT, SUN.",
                "entry 0: start must be a time HH:MM between 00:00 and 23:59.",
                "entry 0: end must be a time HH:MM between 00:00 and 23:59.",
                "entry 1: expected an object with weekday, start and end.",
                "entry 2: weekday must be one of MON, TUE, WED, THU, FRI, SAT, SUN.",
                "entry 2: start must be a time HH:MM between 00:00 and 23:59.",
                "entry 2: end is required and must be a time HH:MM between 00:00 and 23:59.",
            ]
        );
        // Shape errors first; the zone is required only once the entries are well formed.
        assert!(!e.has("timezone"));
        let e = parse(vec![(
            "weekly",
            Raw::Array(vec![interval("MON", "09:00", "10:00")]),
        )]);
        assert_eq!(e.messages("timezone"), [msg::TIME_ZONE_REQUIRED]);
    }

    #[test]
    fn time_off_parse() {
        let body = RawObject::from_pairs([
            ("start", s("2030-04-02T00:00:00.9+02:00")),
            ("end", s("2030-04-03T00:00:00+02:00")),
            ("keep_appointments", Raw::Bool(true)),
        ]);
        let t = TimeOffRequest::parse(&body).map_err(|e| e.to_string());
        assert_eq!(
            t.as_ref().map(|t| (
                t.start().to_rfc3339(),
                t.end().to_rfc3339(),
                t.reason(),
                t.keep_appointments()
            )),
            Ok((
                "2030-04-01T22:00:00+00:00".to_owned(),
                "2030-04-02T22:00:00+00:00".to_owned(),
                "",
                true
            ))
        );
        let inverted = RawObject::from_pairs([
            ("start", s("2030-04-03T12:00:00Z")),
            ("end", s("2030-04-03T06:00:00Z")),
        ]);
        let e = TimeOffRequest::parse(&inverted).err().unwrap_or_default();
        assert_eq!(e.messages("end"), [msg::END_BEFORE_START]);
        let bad = RawObject::from_pairs([
            ("start", s("0001-01-01T00:00:00Z")),
            ("end", Raw::Int(5)),
            ("keep_appointments", s("maybe")),
        ]);
        let e = TimeOffRequest::parse(&bad).err().unwrap_or_default();
        assert_eq!(e.messages("start"), [msg::INSTANT_YEARS]);
        assert_eq!(e.messages("end"), [crate::msg::DATETIME_FORMAT]);
        assert_eq!(e.messages("keep_appointments"), [crate::msg::NOT_BOOLEAN]);
        let e = TimeOffRequest::parse(&RawObject::default())
            .err()
            .unwrap_or_default();
        assert_eq!(e.messages("start"), [crate::msg::REQUIRED]);
    }

    fn query(q: &[(&str, &str)]) -> Result<SlotQuery, FieldErrors> {
        SlotQuery::parse(&RawObject::from_pairs(q.iter().map(|(k, v)| (*k, s(v)))))
    }

    #[test]
    fn slot_query_defaults() {
        let q = query(&[("date_from", "2030-04-01")]);
        assert_eq!(
            q.map(|q| (q.from(), q.to(), q.duration(), q.step())),
            Ok((
                date(2030, 4, 1),
                date(2030, 4, 1),
                DEFAULT_SLOT_MINUTES,
                None
            ))
        );
        let q = query(&[
            ("date_from", "2030-03-01"),
            ("date_to", "2030-03-31"),
            ("duration", " 45 "),
            ("step", "15"),
        ]);
        assert_eq!(
            q.map(|q| (q.to(), q.duration(), q.step())),
            Ok((date(2030, 3, 31), 45, Some(15)))
        );
    }

    #[test]
    fn slot_query_errors() {
        let field = |q: &[(&str, &str)], name: &str| {
            query(q).err().unwrap_or_default().messages(name).to_vec()
        };
        assert_eq!(field(&[], "date_from"), [crate::msg::REQUIRED]);
        for bad in ["2030-13-01", "01/04/2030", "2031-01-01T00:00:00Z"] {
            assert_eq!(
                field(&[("date_from", bad)], "date_from"),
                [crate::msg::DATE_FORMAT],
                "{bad}"
            );
        }
        for out in ["0001-01-01", "100000-01-01", "1899-12-31"] {
            assert_eq!(
                field(&[("date_from", out)], "date_from"),
                ["Dates must be between 1900 and 2199."],
                "{out}"
            );
        }
        let from = ("date_from", "2030-04-01");
        assert_eq!(
            field(&[from, ("date_to", "2030-03-31")], "date_to"),
            [msg::RANGE_INVERTED]
        );
        assert_eq!(
            field(
                &[("date_from", "2030-03-01"), ("date_to", "2030-04-01")],
                "date_to"
            ),
            [msg::RANGE_TOO_LONG]
        );
        assert_eq!(
            field(&[from, ("duration", "4")], "duration"),
            ["Ensure this value is greater than or equal to 5."]
        );
        assert_eq!(
            field(&[from, ("duration", "481")], "duration"),
            ["Ensure this value is less than or equal to 480."]
        );
        assert_eq!(
            field(&[from, ("duration", "x")], "duration"),
            [crate::msg::NOT_INTEGER]
        );
        assert_eq!(
            field(&[from, ("step", "0")], "step"),
            ["Ensure this value is greater than or equal to 1."]
        );
        assert_eq!(
            field(&[from, ("step", "99999999999999999999")], "step"),
            [crate::msg::NOT_INTEGER]
        );
        // Every field is reported at once.
        let e = query(&[("date_to", "x"), ("duration", "0"), ("step", "1441")])
            .err()
            .unwrap_or_default();
        for name in ["date_from", "date_to", "duration", "step"] {
            assert!(e.has(name), "{name}: {e}");
        }
    }
}
