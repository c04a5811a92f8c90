//! Working hours in a doctor's time zone, exceptions (time off, extra hours) and free slots.
//!
//! Local times are turned into UTC instants date by date, so a 09:00 start stays 09:00 local on
//! both sides of a daylight-saving switch. Local times that do not exist (the spring-forward gap)
//! become the first instant after the gap; local times that exist twice (fall-back) take the
//! earlier instant. See `docs/scheduling.md` for worked examples.

use crate::conflict::BookingSet;
use crate::slot::{Slot, Span, MAX_SLOT_MINUTES, MIN_SLOT_MINUTES};
use chrono::offset::{MappedLocalTime, Offset};
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use healthcare_domain::{FieldErrors, WorkingHours};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest date range (inclusive, in days) [`Availability::free_slots`] accepts (the limit the
/// free-slot query is parsed with).
pub const MAX_RANGE_DAYS: i64 = healthcare_domain::availability::MAX_RANGE_DAYS;
/// Largest grid step, in minutes (one day; the limit the free-slot query is parsed with).
pub const MAX_STEP_MINUTES: i64 = healthcare_domain::availability::MAX_STEP_MINUTES;

/// One weekly working interval `[start, end)` in local time, within one day (a domain type:
/// the working-hours input is made of them).
pub use healthcare_domain::availability::WeeklyInterval;

/// What is wrong with one entry of a weekly schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryProblem {
    /// `end` is not after `start`.
    Inverted,
    /// Same weekday, start and end as an earlier-starting (or lower-indexed) entry.
    Duplicate {
        /// Index of the entry it repeats.
        of: usize,
    },
    /// Shares time with another entry of the same weekday (touching is fine).
    Overlap {
        /// Index of the entry it overlaps.
        with: usize,
    },
}

/// A problem with the entry at a 0-based `index` of the input list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryError {
    /// 0-based position in the list given to [`WeeklySchedule::new`].
    pub index: usize,
    /// What is wrong.
    pub problem: EntryProblem,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            EntryProblem::Inverted => write!(f, "entry {}: start must be before end.", self.index),
            EntryProblem::Duplicate { of } => {
                write!(f, "entry {}: duplicates entry {of}.", self.index)
            }
            EntryProblem::Overlap { with } => {
                write!(f, "entry {}: overlaps entry {with}.", self.index)
            }
        }
    }
}

/// Every problem found in a weekly schedule, ordered by entry index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.messages().join(" "))]
pub struct ScheduleError {
    /// One error per offending entry.
    pub entries: Vec<EntryError>,
}

impl ScheduleError {
    /// One human message per offending entry, e.g. `"entry 2: overlaps entry 0."`.
    pub fn messages(&self) -> Vec<String> {
        self.entries.iter().map(ToString::to_string).collect()
    }

    /// The messages keyed under `field`, e.g. `{"weekly": ["entry 2: ..."]}`.
    pub fn to_field_errors(&self, field: &str) -> FieldErrors {
        let mut errors = FieldErrors::new();
        for m in self.messages() {
            errors.add(field, m);
        }
        errors
    }
}

/// A validated weekly timetable in an IANA time zone: several non-overlapping intervals per
/// weekday.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklySchedule {
    tz: Tz,
    entries: Vec<WeeklyInterval>,
    by_day: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl WeeklySchedule {
    /// Validates the entries: each must have `start < end`, and entries of one weekday must not
    /// overlap (touching is allowed). All problems are reported, with 0-based indexes; of two
    /// overlapping entries the one starting later (or, at equal starts, listed later) is blamed.
    pub fn new(tz: Tz, entries: Vec<WeeklyInterval>) -> Result<WeeklySchedule, ScheduleError> {
        let mut errors = Vec::new();
        let mut days: [Vec<(NaiveTime, usize, NaiveTime)>; 7] = Default::default();
        for (index, e) in entries.iter().enumerate() {
            if e.start >= e.end {
                errors.push(EntryError {
                    index,
                    problem: EntryProblem::Inverted,
                });
            } else {
                days[day_index(e.weekday)].push((e.start, index, e.end));
            }
        }
        for day in &mut days {
            day.sort();
            // The entry reaching furthest so far: (start, index, end).
            let mut reach: Option<(NaiveTime, usize, NaiveTime)> = None;
            for &(start, index, end) in day.iter() {
                if let Some((r_start, r_index, r_end)) = reach {
                    if start < r_end {
                        let problem = if (start, end) == (r_start, r_end) {
                            EntryProblem::Duplicate { of: r_index }
                        } else {
                            EntryProblem::Overlap { with: r_index }
                        };
                        errors.push(EntryError { index, problem });
                    }
                }
                if reach.is_none_or(|(_, _, r_end)| end > r_end) {
                    reach = Some((start, index, end));
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.index);
            return Err(ScheduleError { entries: errors });
        }
        let by_day = days.map(|day| day.into_iter().map(|(s, _, e)| (s, e)).collect());
        Ok(WeeklySchedule {
            tz,
            entries,
            by_day,
        })
    }

    /// The schedule a parsed working-hours body asks for: `Ok(None)` when it clears the hours,
    /// otherwise the schedule [`WeeklySchedule::new`] makes of its zone and intervals, whose
    /// problems are keyed `weekly` as the body's other errors are
    /// (`{"weekly": ["entry 2: overlaps entry 0."]}`).
    pub fn from_input(hours: WorkingHours) -> Result<Option<WeeklySchedule>, FieldErrors> {
        let Some((tz, weekly)) = hours.into_parts() else {
            return Ok(None);
        };
        WeeklySchedule::new(tz, weekly)
            .map(Some)
            .map_err(|e| e.to_field_errors("weekly"))
    }

    /// The time zone the local times are in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The entries as given.
    pub fn entries(&self) -> &[WeeklyInterval] {
        &self.entries
    }

    /// The `(start, end)` local intervals of a weekday, in start order.
    pub fn intervals_on(&self, weekday: Weekday) -> &[(NaiveTime, NaiveTime)] {
        &self.by_day[day_index(weekday)]
    }
}

fn day_index(weekday: Weekday) -> usize {
    weekday.num_days_from_monday() as usize
}

/// A UTC range `[start, end)` when the doctor does not work; an inverted range is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeOff {
    /// First instant off.
    pub start: DateTime<Utc>,
    /// First instant back (excluded).
    pub end: DateTime<Utc>,
}

/// Extra working time `[start, end)` on one local date, added to the weekly intervals;
/// an inverted range is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtraHours {
    /// The local date.
    pub date: NaiveDate,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (excluded).
    pub end: NaiveTime,
}

/// Why [`Availability::free_slots`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FreeSlotsError {
    /// `to` is before `from`.
    #[error("The end date must not be before the start date.")]
    InvertedRange,
    /// More than [`MAX_RANGE_DAYS`] days.
    #[error("The date range may span at most 31 days.")]
    RangeTooLong {
        /// Requested days, inclusive.
        days: i64,
    },
    /// Duration outside 5..=480 minutes.
    #[error("Duration must be between 5 and 480 minutes.")]
    InvalidDuration {
        /// The requested duration.
        minutes: i64,
    },
    /// Step outside 1..=1440 minutes.
    #[error("Step must be between 1 and 1440 minutes.")]
    InvalidStep {
        /// The requested step.
        minutes: i64,
    },
}

/// A doctor's working time: the weekly schedule plus exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// The regular week.
    pub schedule: WeeklySchedule,
    /// Absences (they win over working hours and extra hours).
    pub time_off: Vec<TimeOff>,
    /// Additional working time on given dates.
    pub extra: Vec<ExtraHours>,
    /// The doctor's buffers now: a free slot's range widened by them may not meet another
    /// booking's blocked range (buffers may reach outside working hours).
    pub buffers: crate::Buffers,
}

impl Availability {
    /// The schedule without exceptions.
    pub fn new(schedule: WeeklySchedule) -> Availability {
        Availability {
            schedule,
            time_off: Vec::new(),
            extra: Vec::new(),
            buffers: crate::Buffers::NONE,
        }
    }

    /// Whether the whole slot is working time and touches no time off.
    ///
    /// Working time is the union of the weekly intervals and extra hours, where intervals that
    /// touch or overlap join: with 09:00-12:00 and 12:00-17:00 a slot 11:30-12:30 is inside,
    /// with 09:00-12:00 and 13:00-17:00 a slot 11:30-13:30 is not.
    pub fn is_within_working_hours(&self, slot: &Slot) -> bool {
        let tz = self.schedule.tz;
        let (Some(first), Some(last)) = (to_local(tz, slot.start()), to_local(tz, slot.end()))
        else {
            return false;
        };
        let (first, last) = (first.date(), last.date());
        let from = first.pred_opt().unwrap_or(first);
        let to = last.succ_opt().unwrap_or(last);
        let working = self.working_spans(from, to);
        let span = slot.span();
        let i = working.partition_point(|w| w.start() <= span.start());
        i > 0 && working[i - 1].contains(&span) && !intersects(&self.time_off_spans(), span)
    }

    /// Free slots of `duration_minutes` between the local dates `from` and `to` (inclusive, in
    /// the schedule's time zone), in time order.
    ///
    /// The grid starts at the beginning of each (joined) working interval and advances by
    /// `step_minutes` (default: the duration). A slot is kept when it lies inside that working
    /// interval, touches no time off and overlaps no blocking booking of `existing` (pass the
    /// doctor's bookings). Refuses ranges over [`MAX_RANGE_DAYS`] days, durations outside
    /// 5..=480 and steps outside 1..=1440 minutes.
    pub fn free_slots(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        duration_minutes: i64,
        step_minutes: Option<i64>,
        existing: &BookingSet,
    ) -> Result<Vec<Slot>, FreeSlotsError> {
        if to < from {
            return Err(FreeSlotsError::InvertedRange);
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_RANGE_DAYS {
            return Err(FreeSlotsError::RangeTooLong { days });
        }
        if !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&duration_minutes) {
            return Err(FreeSlotsError::InvalidDuration {
                minutes: duration_minutes,
            });
        }
        let step_minutes = step_minutes.unwrap_or(duration_minutes);
        let step = match TimeDelta::try_minutes(step_minutes) {
            Some(step) if (1..=MAX_STEP_MINUTES).contains(&step_minutes) => step,
            _ => {
                return Err(FreeSlotsError::InvalidStep {
                    minutes: step_minutes,
                })
            }
        };
        let off = self.time_off_spans();
        let mut free = Vec::new();
        for working in self.working_spans(from, to) {
            let mut start = working.start();
            loop {
                let slot = match Slot::from_minutes(start, duration_minutes) {
                    Ok(slot) if slot.end() <= working.end() => slot,
                    _ => break,
                };
                if !intersects(&off, slot.span())
                    && existing
                        .blocked_overlaps(self.buffers.around(slot.span()))
                        .next()
                        .is_none()
                {
                    free.push(slot);
                }
                match start.checked_add_signed(step) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
        free.sort();
        free.dedup();
        Ok(free)
    }

    /// Working time of the local dates `from..=to` in UTC: sorted, touching/overlapping pieces
    /// joined, empty pieces (e.g. inside a DST gap) dropped.
    fn working_spans(&self, from: NaiveDate, to: NaiveDate) -> Vec<Span> {
        let tz = self.schedule.tz;
        let mut spans = Vec::new();
        let mut push = |date: NaiveDate, start: NaiveTime, end: NaiveTime| {
            let start = resolve_local(tz, date.and_time(start));
            let end = resolve_local(tz, date.and_time(end));
            if let Some(span) = start.zip(end).and_then(|(s, e)| Span::new(s, e)) {
                spans.push(span);
            }
        };
        let mut date = from;
        loop {
            for &(start, end) in self.schedule.intervals_on(date.weekday()) {
                push(date, start, end);
            }
            for extra in self.extra.iter().filter(|x| x.date == date) {
                push(date, extra.start, extra.end);
            }
            match date.succ_opt() {
                Some(next) if date < to => date = next,
                _ => break,
            }
        }
        join(spans)
    }

    /// Time off as sorted, joined, non-empty spans.
    fn time_off_spans(&self) -> Vec<Span> {
        join(
            self.time_off
                .iter()
                .filter_map(|t| Span::new(t.start, t.end))
                .collect(),
        )
    }
}

/// Sorts and joins touching or overlapping spans.
fn join(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last_mut() {
            Some(last) if span.start() <= last.end() => {
                if span.end() > last.end() {
                    if let Some(joined) = Span::new(last.start(), span.end()) {
                        *last = joined;
                    }
                }
            }
            _ => out.push(span),
        }
    }
    out
}

/// Whether `span` overlaps any of the sorted, disjoint `spans`.
fn intersects(spans: &[Span], span: Span) -> bool {
    let i = spans.partition_point(|s| s.end() <= span.start());
    spans.get(i).is_some_and(|s| s.start() < span.end())
}

/// The UTC instant of a local date-time: ambiguous (fall-back) -> the earlier instant;
/// nonexistent (spring-forward gap) -> the first instant after the gap.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Some(t.with_timezone(&Utc)),
        MappedLocalTime::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        MappedLocalTime::None => first_instant_after_gap(tz, local),
    }
}

/// The local wall-clock time of an instant, `None` at the edges of the representable range.
fn to_local(tz: Tz, instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let naive = instant.naive_utc();
    naive.checked_add_offset(tz.offset_from_utc_datetime(&naive).fix())
}

/// The transition instant ending the gap `local` falls into, by binary search over seconds:
/// the first UTC second whose local time is after `local`. UTC offsets lie within ±14 h.
fn first_instant_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const BOUND: i64 = 14 * 3600;
    let base = local.and_utc().timestamp();
    let after = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .and_then(|u| to_local(tz, u))
            .map(|l| l > local)
    };
    let (mut lo, mut hi) = (base.checked_sub(BOUND)?, base.checked_add(BOUND)?);
    if after(lo)? || !after(hi)? {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if after(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}
