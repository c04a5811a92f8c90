//! Property tests: conflict detection and free slots against a minute-by-minute oracle.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId};
use healthcare_scheduling::{
    check_conflict, Availability, Booking, BookingSet, Candidate, Conflict, ExtraHours, Slot,
    TimeOff, WeeklyInterval, WeeklySchedule,
};
use proptest::prelude::*;

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap()
}

fn minute(m: i64) -> DateTime<Utc> {
    base() + TimeDelta::minutes(m)
}

fn status() -> impl Strategy<Value = AppointmentStatus> {
    prop_oneof![
        4 => Just(AppointmentStatus::Scheduled),
        1 => Just(AppointmentStatus::Completed),
        1 => Just(AppointmentStatus::Cancelled),
        1 => Just(AppointmentStatus::NoShow),
    ]
}

/// (doctor, patient, start minute, minutes, status, archived)
type RawBooking = (i64, i64, i64, i64, AppointmentStatus, bool);

fn raw_booking(starts: std::ops::Range<i64>) -> impl Strategy<Value = RawBooking> {
    (
        1..=2i64,
        1..=2i64,
        starts,
        5..=480i64,
        status(),
        prop::bool::weighted(0.15),
    )
}

fn bookings_of(raw: &[RawBooking], origin: DateTime<Utc>) -> Vec<Booking> {
    raw.iter()
        .enumerate()
        .map(
            |(i, &(doctor, patient, start, minutes, status, archived))| Booking {
                id: AppointmentId(i as i64),
                doctor: DoctorId(doctor),
                patient: PatientId(patient),
                slot: Slot::from_minutes(origin + TimeDelta::minutes(start), minutes).unwrap(),
                status,
                archived,
                blocked: None,
            },
        )
        .collect()
}

/// Minute-by-minute oracle for one side of a conflict check.
fn occupied(bookings: &[Booking], keep: impl Fn(&Booking) -> bool, c: &Candidate) -> bool {
    let c_from = (c.slot.start() - base()).num_minutes();
    let c_to = (c.slot.end() - base()).num_minutes();
    bookings.iter().filter(|b| keep(b)).any(|b| {
        let (from, to) = (
            (b.slot.start() - base()).num_minutes(),
            (b.slot.end() - base()).num_minutes(),
        );
        (from..to).any(|m| (c_from..c_to).contains(&m))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn conflict_matches_oracle(
        raw in prop::collection::vec(raw_booking(-480..900), 0..30),
        c_start in 0..600i64,
        c_minutes in 5..=120i64,
        doctor in 1..=2i64,
        patient in 1..=2i64,
        ignore in prop::option::of(0..35i64),
    ) {
        let all = bookings_of(&raw, base());
        let candidate = Candidate {
            doctor: DoctorId(doctor),
            patient: PatientId(patient),
            slot: Slot::from_minutes(minute(c_start), c_minutes).unwrap(),
            ignore: ignore.map(AppointmentId),
            buffers: healthcare_scheduling::Buffers::NONE,
        };
        let live = |b: &Booking| {
            b.status == AppointmentStatus::Scheduled && !b.archived && Some(b.id) != candidate.ignore
        };
        let d = occupied(&all, |b| live(b) && b.doctor == candidate.doctor, &candidate);
        let p = occupied(&all, |b| live(b) && b.patient == candidate.patient, &candidate);
        let expected = match (d, p) {
            (false, false) => Ok(()),
            (true, false) => Err(Conflict::Doctor),
            (false, true) => Err(Conflict::Patient),
            (true, true) => Err(Conflict::Both),
        };
        // The whole list on both sides, and pre-filtered per-owner sets, agree with the oracle.
        let set = BookingSet::new(all.clone());
        prop_assert_eq!(check_conflict(&candidate, &set, &set), expected);
        let doctors: BookingSet = all.iter().filter(|b| b.doctor == candidate.doctor).cloned().collect();
        let patients: BookingSet = all.iter().filter(|b| b.patient == candidate.patient).cloned().collect();
        prop_assert_eq!(check_conflict(&candidate, &doctors, &patients), expected);
        // Inserting one by one builds the same set.
        let mut inserted = BookingSet::default();
        for b in all.iter().rev() {
            inserted.insert(b.clone());
        }
        prop_assert_eq!(inserted, set);
    }
}

/// Up to three (gap, length) pieces per weekday, in minutes from midnight; touching allowed.
fn day_plan() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec((0..=240u32, 1..=240u32), 0..=3).prop_map(|pieces| {
        let mut at = 0;
        let mut out = Vec::new();
        for (gap, len) in pieces {
            let (start, end) = (at + gap, at + gap + len);
            if end > 1439 {
                break;
            }
            out.push((start, end));
            at = end;
        }
        out
    })
}

fn time(m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap()
}

const DAYS: usize = 3;
const WINDOW: usize = DAYS * 1440;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn free_slots_match_oracle(
        tz in prop::sample::select(vec![
            Tz::UTC,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Asia::Tokyo,
            chrono_tz::America::Sao_Paulo,
        ]),
        week in prop::collection::vec(day_plan(), 7),
        extra in prop::collection::vec((0..=3u64, 0..1440u32, 0..1440u32), 0..=2),
        off in prop::collection::vec((-200..4500i64, 1..=300i64), 0..=3),
        raw in prop::collection::vec(raw_booking(-480..(WINDOW as i64)), 0..15),
        (first, last) in (0..DAYS as u64, 0..DAYS as u64).prop_map(|(a, b)| (a.min(b), a.max(b))),
        duration in 5..=120i64,
        step in prop::option::of(5..=60i64),
    ) {
        let monday = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
        // Fixed-offset zones only: local minute m of the window is `origin + m`.
        let origin = tz.from_local_datetime(&monday.and_time(time(0))).single().unwrap().to_utc();
        let entries: Vec<WeeklyInterval> = week
            .iter()
            .zip(WEEK)
            .flat_map(|(plan, weekday)| {
                plan.iter().map(move |&(s, e)| WeeklyInterval { weekday, start: time(s), end: time(e) })
            })
            .collect();
        let mut a = Availability::new(WeeklySchedule::new(tz, entries).unwrap());
        a.extra = extra
            .iter()
            .map(|&(day, s, e)| ExtraHours { date: monday + Days::new(day), start: time(s), end: time(e) })
            .collect();
        a.time_off = off
            .iter()
            .map(|&(s, len)| TimeOff {
                start: origin + TimeDelta::minutes(s),
                end: origin + TimeDelta::minutes(s + len),
            })
            .collect();
        let bookings = bookings_of(&raw, origin);

        // Oracle: minute-by-minute occupancy over the window.
        let mut working = vec![false; WINDOW];
        let mut blocked = vec![false; WINDOW];
        let mark = |v: &mut Vec<bool>, from: i64, to: i64| {
            for m in from.max(0)..to.min(WINDOW as i64) {
                v[m as usize] = true;
            }
        };
        for day in first..=last {
            let offset = day as i64 * 1440;
            for &(s, e) in &week[day as usize] {
                mark(&mut working, offset + s as i64, offset + e as i64);
            }
            for &(x_day, s, e) in &extra {
                if x_day == day && s < e {
                    mark(&mut working, offset + s as i64, offset + e as i64);
                }
            }
        }
        for &(s, len) in &off {
            mark(&mut blocked, s, s + len);
        }
        for b in bookings.iter().filter(|b| b.status == AppointmentStatus::Scheduled && !b.archived) {
            let s = (b.slot.start() - origin).num_minutes();
            mark(&mut blocked, s, s + b.slot.duration_minutes());
        }
        let step_m = step.unwrap_or(duration) as usize;
        let dur = duration as usize;
        let mut expected = Vec::new();
        let mut m = 0;
        while m < WINDOW {
            if !working[m] {
                m += 1;
                continue;
            }
            let run_end = (m..WINDOW).find(|&x| !working[x]).unwrap_or(WINDOW);
            let mut t = m;
            while t + dur <= run_end {
                if !(t..t + dur).any(|x| blocked[x]) {
                    expected.push(t as i64);
                }
                t += step_m;
            }
            m = run_end;
        }

        let got = a
            .free_slots(
                monday + Days::new(first),
                monday + Days::new(last),
                duration,
                step,
                &BookingSet::new(bookings),
            )
            .unwrap();
        let got_minutes: Vec<i64> = got.iter().map(|s| (s.start() - origin).num_minutes()).collect();
        prop_assert_eq!(got_minutes, expected);
        for s in &got {
            prop_assert_eq!(s.duration_minutes(), duration);
            prop_assert!(a.is_within_working_hours(s));
        }
    }
}
