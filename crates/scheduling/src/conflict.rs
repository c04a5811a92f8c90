//! Double-booking detection: bookings sorted by start, and a candidate checked against
//! one doctor's and one patient's bookings in O(log n + k).

use crate::buffers::{Buffers, MAX_BUFFER_MINUTES};
use crate::slot::{Slot, Span, MAX_SLOT_MINUTES};
use chrono::TimeDelta;
use healthcare_domain::errors::msg;
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId};

/// An existing appointment, as far as time is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The appointment.
    pub id: AppointmentId,
    /// Its doctor.
    pub doctor: DoctorId,
    /// Its patient.
    pub patient: PatientId,
    /// When it takes place.
    pub slot: Slot,
    /// Its status; only SCHEDULED blocks time.
    pub status: AppointmentStatus,
    /// Archived (deleted through the API) appointments block nothing.
    pub archived: bool,
    /// The range it blocks for its doctor when that is wider than its slot: the slot widened
    /// by the doctor's [`Buffers`] as they were when it was booked or last moved (at most
    /// [`MAX_BUFFER_MINUTES`] on each side). `None`: its slot.
    pub blocked: Option<Span>,
}

impl Booking {
    /// Whether this booking occupies its slot: SCHEDULED and not archived.
    pub fn blocks(&self) -> bool {
        self.status.blocks_time() && !self.archived
    }

    /// The range it blocks for its doctor (see [`Booking::blocked`]).
    pub fn blocked_span(&self) -> Span {
        self.blocked.unwrap_or(self.slot.span())
    }
}

/// Bookings kept sorted by slot start (ties by id), for logarithmic overlap queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingSet {
    items: Vec<Booking>,
}

fn order_key(b: &Booking) -> (chrono::DateTime<chrono::Utc>, AppointmentId) {
    (b.slot.start(), b.id)
}

impl BookingSet {
    /// Sorts the bookings (O(n log n)).
    pub fn new(mut bookings: Vec<Booking>) -> BookingSet {
        bookings.sort_by_key(order_key);
        BookingSet { items: bookings }
    }

    /// Adds one booking at its place (O(n)).
    pub fn insert(&mut self, booking: Booking) {
        let key = order_key(&booking);
        let at = self.items.partition_point(|b| order_key(b) <= key);
        self.items.insert(at, booking);
    }

    /// Number of bookings, blocking or not.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no bookings.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All bookings in start order.
    pub fn as_slice(&self) -> &[Booking] {
        &self.items
    }

    /// Blocking bookings (SCHEDULED, not archived) that overlap `span`, in start order.
    ///
    /// Every slot is at most 480 minutes long, so only bookings starting in
    /// `[span.start - 480 min, span.end)` can overlap: one binary search, then a short scan.
    pub fn blocking_overlaps(&self, span: Span) -> impl Iterator<Item = &Booking> + '_ {
        self.meeting(span, (MAX_SLOT_MINUTES, 0), |b| b.slot.span())
    }

    /// Blocking bookings whose range blocked for their doctor ([`Booking::blocked_span`])
    /// overlaps `span`, in start order: the doctor's side of the rule when buffers apply.
    ///
    /// Only bookings starting in `[span.start - 480 - 120 min, span.end + 120 min)` can
    /// overlap: one binary search, then a short scan.
    pub fn blocked_overlaps(&self, span: Span) -> impl Iterator<Item = &Booking> + '_ {
        self.meeting(
            span,
            (MAX_SLOT_MINUTES + MAX_BUFFER_MINUTES, MAX_BUFFER_MINUTES),
            Booking::blocked_span,
        )
    }

    /// Blocking bookings whose `range` overlaps `span`, given that a booking's range starts
    /// at most `reach.0` minutes before its start and its start lies at most `reach.1` minutes
    /// after the range's start.
    fn meeting(
        &self,
        span: Span,
        reach: (i64, i64),
        range: fn(&Booking) -> Span,
    ) -> impl Iterator<Item = &Booking> + '_ {
        let from = TimeDelta::try_minutes(reach.0).and_then(|d| span.start().checked_sub_signed(d));
        let until = TimeDelta::try_minutes(reach.1).and_then(|d| span.end().checked_add_signed(d));
        let first = match from {
            Some(from) => self.items.partition_point(|b| b.slot.start() < from),
            None => 0,
        };
        self.items[first..]
            .iter()
            .take_while(move |b| until.is_none_or(|until| b.slot.start() < until))
            .filter(move |b| b.blocks() && range(b).overlaps(&span))
    }
}

impl From<Vec<Booking>> for BookingSet {
    fn from(bookings: Vec<Booking>) -> Self {
        BookingSet::new(bookings)
    }
}

impl FromIterator<Booking> for BookingSet {
    fn from_iter<I: IntoIterator<Item = Booking>>(iter: I) -> Self {
        BookingSet::new(iter.into_iter().collect())
    }
}

/// A proposed (new or rescheduled) SCHEDULED appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The doctor it would occupy.
    pub doctor: DoctorId,
    /// The patient it would occupy.
    pub patient: PatientId,
    /// When.
    pub slot: Slot,
    /// The appointment being rescheduled, which must not conflict with itself.
    pub ignore: Option<AppointmentId>,
    /// The doctor's buffers now: the candidate blocks its slot widened by them.
    pub buffers: Buffers,
}

/// Whose time is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The doctor has an overlapping SCHEDULED appointment.
    #[error("{}", msg::DOCTOR_CONFLICT)]
    Doctor,
    /// The patient has an overlapping SCHEDULED appointment.
    #[error("{}", msg::PATIENT_CONFLICT)]
    Patient,
    /// Both have one.
    #[error("{}", msg::DOCTOR_CONFLICT)]
    Both,
}

impl Conflict {
    /// The one message the API answers (the doctor's wins when both conflict).
    pub fn message(&self) -> &'static str {
        match self {
            Conflict::Patient => msg::PATIENT_CONFLICT,
            Conflict::Doctor | Conflict::Both => msg::DOCTOR_CONFLICT,
        }
    }

    /// Every applicable message, doctor first.
    pub fn messages(&self) -> Vec<&'static str> {
        match self {
            Conflict::Doctor => vec![msg::DOCTOR_CONFLICT],
            Conflict::Patient => vec![msg::PATIENT_CONFLICT],
            Conflict::Both => vec![msg::DOCTOR_CONFLICT, msg::PATIENT_CONFLICT],
        }
    }

    /// Whether the doctor's time is taken.
    pub fn doctor(&self) -> bool {
        matches!(self, Conflict::Doctor | Conflict::Both)
    }

    /// Whether the patient's time is taken.
    pub fn patient(&self) -> bool {
        matches!(self, Conflict::Patient | Conflict::Both)
    }
}

/// Checks a candidate against the doctor's and the patient's existing bookings.
///
/// Only blocking bookings count (SCHEDULED, not archived), the `ignore`d appointment is skipped,
/// and on each side only bookings of the candidate's doctor (resp. patient) are considered, so
/// passing a wider set is harmless. Half-open: back-to-back is not a conflict.
/// On the doctor's side the ranges blocked for the doctor count (the candidate's slot widened
/// by its [`Buffers`], each booking's [`Booking::blocked_span`]); on the patient's the slots.
/// Cost: O(log n + k) per side, k the bookings starting within 480 minutes before the slot
/// (plus the buffers on the doctor's side).
pub fn check_conflict(
    candidate: &Candidate,
    doctor_bookings: &BookingSet,
    patient_bookings: &BookingSet,
) -> Result<(), Conflict> {
    let span = candidate.slot.span();
    let other = |b: &&Booking| Some(b.id) != candidate.ignore;
    let doctor = doctor_bookings
        .blocked_overlaps(candidate.buffers.around(span))
        .filter(other)
        .any(|b| b.doctor == candidate.doctor);
    let patient = patient_bookings
        .blocking_overlaps(span)
        .filter(other)
        .any(|b| b.patient == candidate.patient);
    match (doctor, patient) {
        (false, false) => Ok(()),
        (true, false) => Err(Conflict::Doctor),
        (false, true) => Err(Conflict::Patient),
        (true, true) => Err(Conflict::Both),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 6, h, m, 0).unwrap()
    }

    fn booking(id: i64, doctor: i64, patient: i64, h: u32, m: u32, minutes: i64) -> Booking {
        Booking {
            id: AppointmentId(id),
            doctor: DoctorId(doctor),
            patient: PatientId(patient),
            slot: Slot::from_minutes(at(h, m), minutes).unwrap(),
            status: AppointmentStatus::Scheduled,
            archived: false,
            blocked: None,
        }
    }

    fn candidate(doctor: i64, patient: i64, h: u32, m: u32, minutes: i64) -> Candidate {
        Candidate {
            doctor: DoctorId(doctor),
            patient: PatientId(patient),
            slot: Slot::from_minutes(at(h, m), minutes).unwrap(),
            ignore: None,
            buffers: Buffers::NONE,
        }
    }

    #[test]
    fn sides_and_messages() {
        let doc = BookingSet::new(vec![booking(1, 1, 9, 10, 0, 30)]);
        let pat = BookingSet::new(vec![booking(2, 8, 2, 10, 15, 30)]);
        let empty = BookingSet::default();
        // Back-to-back on both sides is fine.
        assert_eq!(
            check_conflict(&candidate(1, 2, 10, 45, 30), &doc, &pat),
            Ok(())
        );
        assert_eq!(
            check_conflict(&candidate(1, 2, 9, 30, 30), &doc, &pat),
            Ok(())
        );
        let d = check_conflict(&candidate(1, 2, 9, 45, 20), &doc, &pat).unwrap_err();
        assert_eq!(d, Conflict::Doctor);
        assert_eq!(
            d.message(),
            "Doctor already has an appointment at this time."
        );
        let p = check_conflict(&candidate(1, 2, 10, 30, 10), &doc, &pat).unwrap_err();
        assert_eq!(p, Conflict::Patient);
        assert_eq!(
            p.message(),
            "Patient already has an appointment at this time."
        );
        assert_eq!(p.to_string(), p.message());
        let b = check_conflict(&candidate(1, 2, 10, 0, 60), &doc, &pat).unwrap_err();
        assert_eq!(b, Conflict::Both);
        assert_eq!(b.message(), msg::DOCTOR_CONFLICT);
        assert_eq!(
            b.messages(),
            vec![msg::DOCTOR_CONFLICT, msg::PATIENT_CONFLICT]
        );
        assert!(b.doctor() && b.patient() && d.doctor() && !d.patient());
        assert_eq!(
            check_conflict(&candidate(1, 2, 10, 0, 60), &empty, &empty),
            Ok(())
        );
    }

    #[test]
    fn non_blocking_ignored_and_other_owners() {
        let mut cancelled = booking(1, 1, 1, 10, 0, 60);
        cancelled.status = AppointmentStatus::Cancelled;
        let mut archived = booking(2, 1, 1, 10, 0, 60);
        archived.archived = true;
        let mut done = booking(3, 1, 1, 10, 0, 60);
        done.status = AppointmentStatus::Completed;
        let mut noshow = booking(4, 1, 1, 10, 0, 60);
        noshow.status = AppointmentStatus::NoShow;
        let other_doctor = booking(5, 7, 7, 10, 0, 60);
        let set = BookingSet::new(vec![cancelled, archived, done, noshow, other_doctor]);
        assert_eq!(
            check_conflict(&candidate(1, 1, 10, 0, 60), &set, &set),
            Ok(())
        );

        let set = BookingSet::new(vec![booking(6, 1, 1, 10, 0, 60)]);
        let mut c = candidate(1, 1, 10, 30, 60);
        assert_eq!(check_conflict(&c, &set, &set), Err(Conflict::Both));
        c.ignore = Some(AppointmentId(6));
        assert_eq!(check_conflict(&c, &set, &set), Ok(()));
    }

    #[test]
    fn long_booking_far_before_is_found() {
        // 02:00-10:00 (480 min), then short decoys starting later.
        let set = BookingSet::new(vec![
            booking(1, 1, 1, 2, 0, 480),
            booking(2, 1, 1, 9, 0, 5),
            booking(3, 1, 1, 9, 50, 5),
        ]);
        let none = BookingSet::default();
        assert_eq!(
            check_conflict(&candidate(1, 2, 10, 0, 5), &set, &none),
            Ok(())
        );
        assert_eq!(
            check_conflict(&candidate(1, 2, 9, 59, 5), &set, &none),
            Err(Conflict::Doctor)
        );
        assert_eq!(
            check_conflict(&candidate(1, 2, 1, 55, 5), &set, &none),
            Ok(())
        );
        assert_eq!(
            check_conflict(&candidate(1, 2, 1, 56, 5), &set, &none),
            Err(Conflict::Doctor)
        );
    }

    #[test]
    fn insert_keeps_order() {
        let all = vec![
            booking(3, 1, 1, 12, 0, 30),
            booking(1, 1, 1, 9, 0, 30),
            booking(2, 1, 1, 9, 0, 30),
            booking(4, 1, 1, 10, 0, 30),
        ];
        let mut set = BookingSet::default();
        for b in all.clone() {
            set.insert(b);
        }
        assert_eq!(set, BookingSet::from(all.clone()));
        assert_eq!(set, all.into_iter().collect::<BookingSet>());
        let ids: Vec<i64> = set.as_slice().iter().map(|b| b.id.0).collect();
        assert_eq!(ids, vec![1, 2, 4, 3]);
        assert_eq!(set.len(), 4);
        assert!(!set.is_empty());
    }
}
