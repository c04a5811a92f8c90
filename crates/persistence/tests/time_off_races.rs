//! Time off and bookings at the same moment, from separate connections (as separate server
//! processes would): a time off is refused while SCHEDULED appointments fall in it, and a
//! booking is refused inside a time off, so whatever commits, no SCHEDULED appointment may end
//! up inside a time off. On PostgreSQL the two checks read different tables, so without the
//! doctor's row held (`availability::lock_doctor`) both could pass at once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::availability::{self, AddTimeOff, NewTimeOff};
use healthcare_persistence::testing::{around_the_clock, sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{appointments, both_backends, doctors, patients, users};
use healthcare_persistence::{Database, DbConfig, Page};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BOOKERS: usize = 6;
const ROUNDS: usize = 120;

fn own_pool(url: &str) -> Database {
    let mut cfg = DbConfig::new(url);
    cfg.pool_size = 1;
    Database::connect(&cfg).unwrap()
}

both_backends! {
    no_appointment_inside_a_time_off => |t: &TestDb| {
        let (admin, doctor, patient_ids) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "h", Role::Admin)?.id;
            let doctor = doctors::create(c, &sample_doctor("RACE"))?.id;
            let ids = (0..BOOKERS)
                .map(|i| patients::create(c, &sample_patient(&format!("P{i}"), None)).map(|p| p.id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((admin, doctor, ids))
        }).unwrap();
        // Working hours around the clock, so only time off and overlaps refuse a booking.
        let schedule = around_the_clock();
        t.db.write(move |c| availability::set_working_hours(c, doctor, Some(&schedule))).unwrap();

        let base = Utc.with_ymd_and_hms(2031, 3, 3, 8, 0, 0).unwrap();
        // Quarter hours within three 12-hour days.
        let quarter = move |rng: &mut StdRng| base + Duration::days(rng.random_range(0..3)) + Duration::minutes(15 * rng.random_range(0..46));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(BOOKERS + 1));
        let mut handles = Vec::new();
        for (i, patient) in patient_ids.into_iter().enumerate() {
            let (url, barrier) = (t.url.clone(), barrier.clone());
            handles.push(std::thread::spawn(move || {
                let db = own_pool(&url);
                let mut rng = StdRng::seed_from_u64(i as u64);
                barrier.wait();
                for _ in 0..ROUNDS {
                    let input = NewAppointment { doctor, patient, start: quarter(&mut rng), duration_minutes: 30, reason: String::new(), status: healthcare_domain::AppointmentStatus::Scheduled };
                    // Refusals (overlaps, time off) are expected; they must leave nothing.
                    let _ = db.write_single(move |c| appointments::create(c, &input, Scope::All, admin));
                }
            }));
        }
        let url = t.url.clone();
        let offs = std::thread::spawn(move || {
            let db = own_pool(&url);
            let mut rng = StdRng::seed_from_u64(99);
            barrier.wait();
            let mut added = 0;
            for _ in 0..ROUNDS {
                let start = quarter(&mut rng);
                let input = NewTimeOff { start, end: start + Duration::minutes(15), reason: String::new() };
                if let Ok(AddTimeOff::Added(_)) = db.write(move |c| availability::add_time_off(c, doctor, &input, false, admin)) {
                    added += 1;
                }
            }
            added
        });
        for h in handles {
            h.join().unwrap();
        }
        let added = offs.join().unwrap();

        let (offs, booked) = t.db.read(move |c| {
            let offs = availability::list_time_off(c, doctor, Page { limit: 1000, offset: 0 })?.items;
            let booked = appointments::list(c, Scope::All, &Default::default(), Page { limit: 1000, offset: 0 })?.items;
            Ok((offs, booked))
        }).unwrap();
        assert_eq!(offs.len(), added);
        assert!(added > 5 && booked.len() > 5, "{added} time offs, {} bookings: the race was not exercised", booked.len());
        for off in &offs {
            let off = off.as_time_off();
            for a in booked.iter().filter(|a| a.status == AppointmentStatus::Scheduled) {
                assert!(
                    a.end_datetime <= off.start || a.appointment_datetime >= off.end,
                    "appointment {} ({} - {}) inside time off {} - {}",
                    a.id.0, a.appointment_datetime, a.end_datetime, off.start, off.end
                );
            }
        }
    };
}
