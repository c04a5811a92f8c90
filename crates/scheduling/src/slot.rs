//! Half-open time intervals in UTC: the unchecked [`Span`] and the appointment-sized [`Slot`].

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Shortest slot, in minutes (the appointment minimum).
pub const MIN_SLOT_MINUTES: i64 = healthcare_domain::inputs::MIN_DURATION;
/// Longest slot, in minutes (the appointment maximum).
pub const MAX_SLOT_MINUTES: i64 = healthcare_domain::inputs::MAX_DURATION;

/// A non-empty half-open interval `[start, end)` in UTC, of any length.
///
/// Used for working hours, time off and free-slot work; appointments use [`Slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Span {
    /// `[start, end)`, or `None` when `end <= start` (an empty or inverted interval).
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
        (start < end).then_some(Span { start, end })
    }

    /// First instant inside the interval.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// First instant after the interval (excluded).
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Length of the interval.
    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Whether the two intervals share an instant. Touching (`a.end == b.start`) is not overlap.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether one interval ends exactly where the other starts (back-to-back).
    pub fn touches(&self, other: &Span) -> bool {
        self.end == other.start || other.end == self.start
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the instant lies inside `[start, end)`.
    pub fn contains_instant(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// Why a [`Slot`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// `end` is not after `start`.
    #[error("End must be after start.")]
    EndNotAfterStart,
    /// The length is not a whole number of minutes.
    #[error("Duration must be a whole number of minutes.")]
    NotWholeMinutes,
    /// The length is outside 5..=480 minutes.
    #[error("Duration must be between 5 and 480 minutes.")]
    DurationOutOfRange {
        /// The requested length in (whole, truncated) minutes.
        minutes: i64,
    },
    /// The end would fall outside the representable date range.
    #[error("Date is out of range.")]
    OutOfRange,
}

/// An appointment-sized half-open interval `[start, end)` in UTC: a whole number of minutes in
/// `5..=480`. Back-to-back slots (`a.end == b.start`) do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Slot {
    #[serde(flatten)]
    span: Span,
}

impl Slot {
    /// `[start, end)`; refuses `end <= start`, fractional minutes and lengths outside 5..=480
    /// minutes.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Slot, SlotError> {
        let span = Span::new(start, end).ok_or(SlotError::EndNotAfterStart)?;
        let length = span.duration();
        let minutes = length.num_minutes();
        if !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&minutes) {
            return Err(SlotError::DurationOutOfRange { minutes });
        }
        if TimeDelta::try_minutes(minutes) != Some(length) {
            return Err(SlotError::NotWholeMinutes);
        }
        Ok(Slot { span })
    }

    /// `[start, start + minutes)`; refuses lengths outside 5..=480 minutes.
    pub fn from_minutes(start: DateTime<Utc>, minutes: i64) -> Result<Slot, SlotError> {
        if !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&minutes) {
            return Err(SlotError::DurationOutOfRange { minutes });
        }
        let end = TimeDelta::try_minutes(minutes)
            .and_then(|d| start.checked_add_signed(d))
            .ok_or(SlotError::OutOfRange)?;
        Slot::new(start, end)
    }

    /// First instant of the slot.
    pub fn start(&self) -> DateTime<Utc> {
        self.span.start
    }

    /// First instant after the slot (excluded).
    pub fn end(&self) -> DateTime<Utc> {
        self.span.end
    }

    /// Length in minutes (always within 5..=480).
    pub fn duration_minutes(&self) -> i64 {
        self.span.duration().num_minutes()
    }

    /// The slot as a plain [`Span`].
    pub fn span(&self) -> Span {
        self.span
    }

    /// Whether the two slots share an instant. Back-to-back slots do not overlap.
    pub fn overlaps(&self, other: &Slot) -> bool {
        self.span.overlaps(&other.span)
    }

    /// Whether one slot ends exactly where the other starts.
    pub fn touches(&self, other: &Slot) -> bool {
        self.span.touches(&other.span)
    }
}

impl From<Slot> for Span {
    fn from(slot: Slot) -> Span {
        slot.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 6, h, m, 0).unwrap()
    }

    #[test]
    fn construction_limits() {
        assert_eq!(
            Slot::new(at(10, 0), at(10, 0)),
            Err(SlotError::EndNotAfterStart)
        );
        assert_eq!(
            Slot::new(at(10, 0), at(9, 0)),
            Err(SlotError::EndNotAfterStart)
        );
        assert_eq!(
            Slot::new(at(10, 0), at(10, 4)),
            Err(SlotError::DurationOutOfRange { minutes: 4 })
        );
        assert!(Slot::new(at(10, 0), at(10, 5)).is_ok());
        assert!(Slot::new(at(10, 0), at(18, 0)).is_ok());
        assert_eq!(
            Slot::new(at(10, 0), at(18, 1)),
            Err(SlotError::DurationOutOfRange { minutes: 481 })
        );
        assert_eq!(
            Slot::new(at(10, 0), at(10, 5) + TimeDelta::seconds(1)),
            Err(SlotError::NotWholeMinutes)
        );
        assert_eq!(
            Slot::from_minutes(at(10, 0), i64::MAX),
            Err(SlotError::DurationOutOfRange { minutes: i64::MAX })
        );
        assert_eq!(
            Slot::from_minutes(DateTime::<Utc>::MAX_UTC, 30),
            Err(SlotError::OutOfRange)
        );
        let s = Slot::from_minutes(at(10, 0), 30).unwrap();
        assert_eq!(
            (s.start(), s.end(), s.duration_minutes()),
            (at(10, 0), at(10, 30), 30)
        );
    }

    #[test]
    fn half_open_overlap() {
        let a = Slot::from_minutes(at(10, 0), 30).unwrap();
        let b = Slot::from_minutes(at(10, 30), 30).unwrap();
        let c = Slot::from_minutes(at(10, 29), 30).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.touches(&b) && b.touches(&a));
        assert!(a.overlaps(&c) && c.overlaps(&a) && !a.touches(&c));
        assert!(a.overlaps(&a));
        let outer = Span::new(at(9, 0), at(12, 0)).unwrap();
        assert!(outer.contains(&a.span()) && !a.span().contains(&outer));
        assert!(outer.contains_instant(at(9, 0)) && !outer.contains_instant(at(12, 0)));
    }
}
