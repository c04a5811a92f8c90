//! Conflict checks against 10, 1,000 and 100,000 bookings of one doctor; free slots for a month
//! of a busy doctor. Short runs: `cargo bench -p healthcare-scheduling`.
#![allow(missing_docs, clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId};
use healthcare_scheduling::{
    check_conflict, Availability, Booking, BookingSet, Candidate, Slot, TimeOff, WeeklyInterval,
    WeeklySchedule,
};
use std::hint::black_box;
use std::time::Duration;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 8, 0, 0).unwrap()
}

/// `n` bookings of doctor 1: 30 minutes each, one every 45 minutes; every 7th cancelled.
fn doctor_bookings(n: i64) -> BookingSet {
    (0..n)
        .map(|i| Booking {
            id: AppointmentId(i),
            doctor: DoctorId(1),
            patient: PatientId(i % 500),
            slot: Slot::from_minutes(base() + TimeDelta::minutes(45 * i), 30).unwrap(),
            status: if i % 7 == 0 {
                AppointmentStatus::Cancelled
            } else {
                AppointmentStatus::Scheduled
            },
            archived: false,
            blocked: None,
        })
        .collect()
}

fn conflict(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_conflict");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [10i64, 1_000, 100_000] {
        let doctor = doctor_bookings(n);
        let patient = BookingSet::default();
        // In the free 15-minute gap after the middle booking: no conflict, full scan window.
        let start = base() + TimeDelta::minutes(45 * (n / 2) + 30);
        let candidate = Candidate {
            doctor: DoctorId(1),
            patient: PatientId(9_999),
            slot: Slot::from_minutes(start, 15).unwrap(),
            ignore: None,
            buffers: healthcare_scheduling::Buffers::NONE,
        };
        assert!(check_conflict(&candidate, &doctor, &patient).is_ok());
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| check_conflict(black_box(&candidate), black_box(&doctor), &patient))
        });
    }
    group.finish();
}

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn free_slots(c: &mut Criterion) {
    // Mon-Fri 08:00-12:00 and 13:00-18:00, Sat 09:00-13:00, Berlin; two days off; the month
    // of March 2025 (with the DST switch) with two out of three 30-minute grid slots booked.
    let mut entries = Vec::new();
    for weekday in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        entries.push(WeeklyInterval {
            weekday,
            start: t(8, 0),
            end: t(12, 0),
        });
        entries.push(WeeklyInterval {
            weekday,
            start: t(13, 0),
            end: t(18, 0),
        });
    }
    entries.push(WeeklyInterval {
        weekday: Weekday::Sat,
        start: t(9, 0),
        end: t(13, 0),
    });
    let schedule = WeeklySchedule::new(chrono_tz::Europe::Berlin, entries).unwrap();
    let mut availability = Availability::new(schedule);
    availability.time_off.push(TimeOff {
        start: Utc.with_ymd_and_hms(2025, 3, 12, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2025, 3, 14, 0, 0, 0).unwrap(),
    });
    let (from, to) = (
        NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 3, 31).unwrap(),
    );
    let none = BookingSet::default();
    let grid = availability.free_slots(from, to, 30, None, &none).unwrap();
    let existing: BookingSet = grid
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, slot)| Booking {
            id: AppointmentId(i as i64),
            doctor: DoctorId(1),
            patient: PatientId(i as i64),
            slot: *slot,
            status: AppointmentStatus::Scheduled,
            archived: false,
            blocked: None,
        })
        .collect();
    let free = availability
        .free_slots(from, to, 30, None, &existing)
        .unwrap();
    eprintln!(
        "month: {} grid slots, {} booked, {} free",
        grid.len(),
        existing.len(),
        free.len()
    );

    let mut group = c.benchmark_group("free_slots_month");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("30min", |b| {
        b.iter(|| availability.free_slots(black_box(from), black_box(to), 30, None, &existing))
    });
    group.bench_function("30min_step5", |b| {
        b.iter(|| availability.free_slots(black_box(from), black_box(to), 30, Some(5), &existing))
    });
    group.finish();
}

criterion_group!(benches, conflict, free_slots);
criterion_main!(benches);
