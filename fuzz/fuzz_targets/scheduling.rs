//! The scheduling rules on structured random input: `Slot` construction, `check_conflict`
//! against a brute-force oracle, and `free_slots` (every slot it offers has the asked length,
//! lies within working hours, touches no time off and, widened by the doctor's buffers, meets
//! no blocking booking's blocked range).
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId};
use healthcare_scheduling::{
    check_conflict, Availability, Booking, BookingSet, Buffers, Candidate, ExtraHours, Slot,
    TimeOff, WeeklyInterval, WeeklySchedule,
};
use libfuzzer_sys::fuzz_target;

const ZONES: [chrono_tz::Tz; 6] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Asia::Kathmandu,
];

#[derive(Debug, Arbitrary)]
struct RawBooking {
    doctor: u8,
    patient: u8,
    /// Minutes after the base instant (a few weeks' range, so bookings collide).
    start: u16,
    minutes: i16,
    status: u8,
    archived: bool,
}

#[derive(Debug, Arbitrary)]
struct RawInterval {
    weekday: u8,
    start: u16,
    end: u16,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Each doctor's buffers (before, after), taken modulo 121.
    buffers: [(u8, u8); 4],
    bookings: Vec<RawBooking>,
    candidate: RawBooking,
    ignore: Option<u8>,
    /// A far-off instant for `Slot::from_minutes` (seconds since the epoch).
    wild_start: i64,
    wild_minutes: i64,
    zone: u8,
    intervals: Vec<RawInterval>,
    time_off: Vec<(u16, u16)>,
    extra: Vec<(u8, u16, u16)>,
    from_day: u8,
    days: u8,
    duration: i64,
    step: Option<i64>,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 25, 0, 0, 0).unwrap()
}

fn status(n: u8) -> AppointmentStatus {
    match n % 4 {
        0 => AppointmentStatus::Scheduled,
        1 => AppointmentStatus::Completed,
        2 => AppointmentStatus::Cancelled,
        _ => AppointmentStatus::NoShow,
    }
}

fn time(minute: u16) -> NaiveTime {
    let m = u32::from(minute) % 1440;
    NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap()
}

fn buffers(input: &Input, doctor: DoctorId) -> Buffers {
    let (before, after) = input.buffers[usize::try_from(doctor.0).unwrap_or(0) % 4];
    Buffers::new(i64::from(before % 121), i64::from(after % 121)).unwrap()
}

fn booking(input: &Input, id: i64, raw: &RawBooking) -> Option<Booking> {
    let start = base() + Duration::minutes(i64::from(raw.start) * 5);
    let slot = Slot::from_minutes(start, i64::from(raw.minutes)).ok()?;
    assert_eq!(slot.duration_minutes(), i64::from(raw.minutes));
    let doctor = DoctorId(i64::from(raw.doctor % 4));
    Some(Booking {
        id: AppointmentId(id),
        doctor,
        patient: PatientId(i64::from(raw.patient % 4)),
        slot,
        status: status(raw.status),
        archived: raw.archived,
        blocked: Some(buffers(input, doctor).around(slot.span())),
    })
}

fuzz_target!(|input: Input| {
    // Slots far away from the base: errors, never panics.
    if let Some(t) = DateTime::from_timestamp(input.wild_start, 0) {
        if let Ok(s) = Slot::from_minutes(t, input.wild_minutes) {
            assert!(s.end() > s.start());
            assert!((5..=480).contains(&s.duration_minutes()));
        }
        let delta = Duration::seconds(input.wild_minutes.clamp(-1 << 40, 1 << 40));
        if let Some(end) = t.checked_add_signed(delta) {
            if let Ok(s) = Slot::new(t, end) {
                assert_eq!(s.end() - s.start(), delta);
            }
        }
    }

    let bookings: Vec<Booking> = input
        .bookings
        .iter()
        .take(64)
        .enumerate()
        .filter_map(|(i, b)| booking(&input, i as i64 + 1, b))
        .collect();
    let set = BookingSet::new(bookings.clone());
    if let Some(candidate) = booking(&input, 1000, &input.candidate) {
        let c = Candidate {
            doctor: candidate.doctor,
            patient: candidate.patient,
            slot: candidate.slot,
            ignore: input.ignore.map(|i| AppointmentId(i64::from(i))),
            buffers: buffers(&input, candidate.doctor),
        };
        let clash = |same: &dyn Fn(&Booking) -> bool| {
            bookings
                .iter()
                .any(|b| b.blocks() && Some(b.id) != c.ignore && same(b))
        };
        // The doctor's side compares the blocked ranges, the patient's the slots.
        let blocked = c.buffers.around(c.slot.span());
        let doctor = clash(&|b| b.doctor == c.doctor && b.blocked_span().overlaps(&blocked));
        let patient = clash(&|b| b.patient == c.patient && b.slot.overlaps(&c.slot));
        let got = check_conflict(&c, &set, &set);
        match got {
            Ok(()) => assert!(!doctor && !patient, "missed a conflict"),
            Err(e) => assert_eq!((e.doctor(), e.patient()), (doctor, patient), "{e:?}"),
        }
    }

    let tz = ZONES[usize::from(input.zone) % ZONES.len()];
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let entries: Vec<WeeklyInterval> = input
        .intervals
        .iter()
        .take(16)
        .map(|i| WeeklyInterval {
            weekday: weekdays[usize::from(i.weekday) % 7],
            start: time(i.start),
            end: time(i.end),
        })
        .collect();
    let Ok(schedule) = WeeklySchedule::new(tz, entries) else {
        return;
    };
    let mut availability = Availability::new(schedule);
    availability.buffers = buffers(&input, DoctorId(0));
    availability.time_off = input
        .time_off
        .iter()
        .take(8)
        .map(|&(s, len)| {
            let start = base() + Duration::minutes(i64::from(s) * 5);
            TimeOff {
                start,
                end: start + Duration::minutes(i64::from(len % 2000)),
            }
        })
        .collect();
    let first = NaiveDate::from_ymd_opt(2030, 3, 25).unwrap();
    availability.extra = input
        .extra
        .iter()
        .take(8)
        .map(|&(d, s, e)| ExtraHours {
            date: first + Duration::days(i64::from(d % 40)),
            start: time(s),
            end: time(e),
        })
        .collect();
    let from = first + Duration::days(i64::from(input.from_day % 40));
    let to = from + Duration::days(i64::from(input.days % 40)) - Duration::days(1);
    let Ok(slots) = availability.free_slots(from, to, input.duration, input.step, &set) else {
        return;
    };
    let mut previous: Option<Slot> = None;
    for s in &slots {
        assert_eq!(s.duration_minutes(), input.duration);
        assert!(
            availability.is_within_working_hours(s),
            "{s:?} outside working hours"
        );
        let blocked = availability.buffers.around(s.span());
        for b in set.as_slice() {
            assert!(
                !(b.blocks() && b.blocked_span().overlaps(&blocked)),
                "{s:?} meets {b:?}"
            );
        }
        for off in &availability.time_off {
            // (An empty or inverted time off blocks nothing.)
            assert!(
                !(off.start < off.end && off.start < s.end() && s.start() < off.end),
                "{s:?} in time off {off:?}"
            );
        }
        if let Some(p) = previous {
            assert!(p.start() < s.start(), "not in time order");
        }
        previous = Some(*s);
    }
});
