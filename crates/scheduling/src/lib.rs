//! Pure scheduling rules of the healthcare scheduling API: half-open time intervals,
//! double-booking detection, the appointment status lifecycle, working hours and free slots.
//! No I/O: callers load bookings and schedules and pass them in.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod buffers;
pub mod conflict;
pub mod hours;
pub mod lifecycle;
pub mod series;
pub mod slot;

pub use buffers::{Buffers, MAX_BUFFER_MINUTES};
pub use conflict::{check_conflict, Booking, BookingSet, Candidate, Conflict};
pub use hours::{
    resolve_local, Availability, EntryError, EntryProblem, ExtraHours, FreeSlotsError,
    ScheduleError, TimeOff, WeeklyInterval, WeeklySchedule, MAX_RANGE_DAYS, MAX_STEP_MINUTES,
};
pub use lifecycle::{may_reschedule, settable_by, transition, TransitionError};
pub use slot::{Slot, SlotError, Span, MAX_SLOT_MINUTES, MIN_SLOT_MINUTES};
