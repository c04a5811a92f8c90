//! 32 threads, each with its own connection (its own pool and write lock, as separate server
//! processes would have), try to book one doctor slot at once: exactly one row results.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{appointments, both_backends, doctors, patients, users};
use healthcare_persistence::{Database, DbConfig, StoreError};
use std::sync::{Arc, Barrier};

both_backends! {
    thirty_two_threads_one_slot => |t: &TestDb| {
        let (admin, doctor, patients_ids) = t.db.write(move |c| {
            let admin = users::create(c, "admin", "", "h", Role::Admin)?.id;
            let doctor = doctors::create(c, &NewDoctor {
                first_name: "A".into(), last_name: "B".into(),
                specialization: Specialization::Surgery, contact_number: "1".into(),
                email: "a@b.co".into(), license_number: "X".into(), hospital: "H".into(),
                address: String::new(), experience_years: 0, user: None,
            })?.id;
            let mut ids = Vec::new();
            for i in 0..32 {
                ids.push(patients::create(c, &NewPatient {
                    first_name: format!("P{i}"), last_name: "Q".into(),
                    date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                    gender: Gender::Other, contact_number: "2".into(), email: String::new(),
                    address: String::new(), medical_history: String::new(), user: None,
                })?.id);
            }
            Ok((admin, doctor, ids))
        }).unwrap();
        let barrier = Arc::new(Barrier::new(32));
        let handles: Vec<_> = patients_ids.into_iter().enumerate().map(|(i, patient)| {
            let url = t.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut cfg = DbConfig::new(url);
                cfg.pool_size = 1;
                let db = Database::connect(&cfg).unwrap();
                let input = NewAppointment {
                    doctor,
                    patient,
                    // Every candidate overlaps 10:00-10:30 (starts staggered by a minute).
                    start: Utc.with_ymd_and_hms(2031, 3, 3, 10, 0, 0).unwrap() + chrono::Duration::minutes((i % 10) as i64),
                    duration_minutes: 30,
                    reason: String::new(),
                };
                barrier.wait();
                db.write(move |c| appointments::create(c, &input, Scope::All, admin))
            })
        }).collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::DoctorConflict))).count();
        assert_eq!((ok, conflicts), (1, 31), "{results:?}");
        let listed = t.db.read(|c| appointments::list(c, Scope::All, &Default::default(), Default::default())).unwrap();
        assert_eq!(listed.total, 1);
    };
}

both_backends! {
    first_registrations_race_for_admin => |t: &TestDb| {
        // Sixteen "processes" register at the same moment on an empty database: exactly one
        // becomes admin.
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16).map(|i| {
            let url = t.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut cfg = DbConfig::new(url);
                cfg.pool_size = 1;
                let db = Database::connect(&cfg).unwrap();
                barrier.wait();
                db.write(move |c| users::register(c, &format!("user{i}"), "", "hash")).unwrap().role
            })
        }).collect();
        let roles: Vec<Role> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(roles.iter().filter(|r| **r == Role::Admin).count(), 1, "{roles:?}");
        assert_eq!(roles.iter().filter(|r| **r == Role::Patient).count(), 15);
    };
}
