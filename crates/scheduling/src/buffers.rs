//! Doctor buffers: minutes a doctor keeps free before and after each appointment, and the
//! range an appointment therefore blocks for its doctor.

use crate::slot::Span;
use chrono::TimeDelta;

pub use healthcare_domain::inputs::MAX_BUFFER_MINUTES;

/// Minutes kept free before and after each appointment of a doctor, each in
/// `0..=`[`MAX_BUFFER_MINUTES`]. Made only by [`Buffers::new`] (or [`Buffers::NONE`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buffers {
    before: i64,
    after: i64,
}

impl Buffers {
    /// No buffer on either side.
    pub const NONE: Buffers = Buffers {
        before: 0,
        after: 0,
    };

    /// Buffers of `before` and `after` minutes; `None` when either is outside
    /// `0..=`[`MAX_BUFFER_MINUTES`].
    pub fn new(before: i64, after: i64) -> Option<Buffers> {
        let ok = |m: i64| (0..=MAX_BUFFER_MINUTES).contains(&m);
        (ok(before) && ok(after)).then_some(Buffers { before, after })
    }

    /// Minutes kept free before each appointment.
    pub fn before(&self) -> i64 {
        self.before
    }

    /// Minutes kept free after each appointment.
    pub fn after(&self) -> i64 {
        self.after
    }

    /// The range an appointment at `span` blocks for its doctor: `[start - before, end + after)`
    /// (the span itself where that would leave the representable range).
    pub fn around(&self, span: Span) -> Span {
        let start = TimeDelta::try_minutes(self.before)
            .and_then(|d| span.start().checked_sub_signed(d))
            .unwrap_or(span.start());
        let end = TimeDelta::try_minutes(self.after)
            .and_then(|d| span.end().checked_add_signed(d))
            .unwrap_or(span.end());
        Span::new(start, end).unwrap_or(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn around_widens_by_each_side() {
        let at = |h, m| Utc.with_ymd_and_hms(2025, 1, 6, h, m, 0).unwrap();
        let span = Span::new(at(10, 0), at(10, 30)).unwrap();
        let b = Buffers::new(15, 10).unwrap();
        assert_eq!(b.around(span), Span::new(at(9, 45), at(10, 40)).unwrap());
        assert_eq!(Buffers::NONE.around(span), span);
    }

    #[test]
    fn new_keeps_the_bounds() {
        assert!(Buffers::new(0, MAX_BUFFER_MINUTES).is_some());
        assert!(Buffers::new(-1, 0).is_none());
        assert!(Buffers::new(0, MAX_BUFFER_MINUTES + 1).is_none());
    }
}
