//! 32 threads, each with its own connection (its own pool and write lock, as separate server
//! processes would have), try to book one doctor slot at once: exactly one row results. Storms
//! on one doctor's and on one patient's slot, by each booking path, end in one booking and plain
//! conflicts, without PostgreSQL breaking a deadlock among them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::availability;
use healthcare_persistence::testing::{around_the_clock, sample_doctor, sample_patient, TestDb};
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
                buffer_before_minutes: 0, buffer_after_minutes: 0,
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
                    status: healthcare_domain::AppointmentStatus::Scheduled,
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

/// How many bookers storm one slot at once.
const STORM: usize = 16;

/// Books `inputs` at the same instant from as many connections of their own, through
/// `write_single` (the API's booking path) or `write` (a transaction around it), and returns
/// each outcome.
fn storm(
    url: &str,
    inputs: Vec<NewAppointment>,
    admin: UserId,
    single: bool,
) -> Vec<Result<Appointment, StoreError>> {
    at_once(url, inputs, move |db, input| {
        let book = move |c: &mut _| appointments::create(c, &input, Scope::All, admin);
        if single {
            db.write_single(book)
        } else {
            db.write(book)
        }
    })
}

/// Runs `job` on each of `inputs` at the same instant, each on a connection of its own.
fn at_once<I: Send + 'static>(
    url: &str,
    inputs: Vec<I>,
    job: impl Fn(&Database, I) -> Result<Appointment, StoreError> + Copy + Send + 'static,
) -> Vec<Result<Appointment, StoreError>> {
    let barrier = Arc::new(Barrier::new(inputs.len()));
    let handles: Vec<_> = inputs
        .into_iter()
        .map(|input| {
            let (url, barrier) = (url.to_owned(), barrier.clone());
            std::thread::spawn(move || {
                let mut cfg = DbConfig::new(url);
                cfg.pool_size = 1;
                let db = Database::connect(&cfg).unwrap();
                barrier.wait();
                job(&db, input)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Deadlocks PostgreSQL has broken in this test's own database so far (its statistics reach
/// the view when a backend goes idle or exits; `None` on SQLite).
fn deadlocks(t: &TestDb) -> Option<i64> {
    use diesel::prelude::*;
    use healthcare_persistence::DbConnection;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    t.db.read(|c| match c {
        DbConnection::Postgresql(c) => {
            diesel::sql_query("SELECT pg_stat_clear_snapshot()").execute(c)?;
            let row: Count = diesel::sql_query(
                "SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()",
            )
            .get_result(c)?;
            Ok(Some(row.n))
        }
        DbConnection::Sqlite(_) => Ok(None),
    })
    .unwrap()
}

both_backends! {
    one_slot_storms_end_in_conflicts_not_deadlocks => |t: &TestDb| {
        let (admin, ds, ps) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "h", Role::Admin)?.id;
            let ds = (0..STORM)
                .map(|i| doctors::create(c, &sample_doctor(&format!("S{i}"))).map(|d| d.id))
                .collect::<Result<Vec<_>, _>>()?;
            let ps = (0..STORM)
                .map(|i| patients::create(c, &sample_patient(&format!("P{i}"), None)).map(|p| p.id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((admin, ds, ps))
        }).unwrap();
        // The last doctor keeps working hours around the clock: their bookings take the checked
        // path (parties, availability, then the insert) instead of the one-statement insert.
        let schedule = around_the_clock();
        let checked = ds[STORM - 1];
        t.db.write(move |c| availability::set_working_hours(c, checked, Some(&schedule))).unwrap();
        let before = deadlocks(t);

        let day = |n: i64| Utc.with_ymd_and_hms(2032, 5, 3, 9, 0, 0).unwrap() + chrono::Duration::days(n);
        // Starts staggered by a minute: every pair overlaps, no two rows are the same.
        let at = |n: i64, i: usize| day(n) + chrono::Duration::minutes(i as i64);
        let appointment = |doctor, patient, start| NewAppointment { doctor, patient, start, duration_minutes: 30, reason: String::new(), status: healthcare_domain::AppointmentStatus::Scheduled };
        let mut round = 0;
        for single in [true, false] {
            // One doctor, sixteen patients: the doctor's no-overlap rule decides.
            for doctor in [ds[0], checked] {
                round += 1;
                let inputs = (0..STORM).map(|i| appointment(doctor, ps[i], at(round, i))).collect();
                let results = storm(&t.url, inputs, admin, single);
                let ok = results.iter().filter(|r| r.is_ok()).count();
                let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::DoctorConflict))).count();
                assert_eq!((ok, conflicts), (1, STORM - 1), "round {round}: {results:?}");
            }
            // Sixteen doctors, one patient: the patient's no-overlap rule decides.
            round += 1;
            let inputs = (0..STORM).map(|i| appointment(ds[i], ps[0], at(round, i))).collect();
            let results = storm(&t.url, inputs, admin, single);
            let ok = results.iter().filter(|r| r.is_ok()).count();
            let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::PatientConflict))).count();
            assert_eq!((ok, conflicts), (1, STORM - 1), "round {round}: {results:?}");
        }
        // Sixteen appointments of one doctor on sixteen days, all moved onto one slot at once.
        let moves: Vec<_> = (0..STORM).map(|i| {
            let input = appointment(ds[0], ps[i], day(100 + i as i64));
            let id = t.db.write(move |c| appointments::create(c, &input, Scope::All, admin)).unwrap().id;
            (id, AppointmentChanges { start: Some(at(99, i)), ..Default::default() })
        }).collect();
        let results = at_once(&t.url, moves, |db, (id, changes)| {
            db.write(move |c| appointments::update(c, id, Scope::All, &changes, Role::Admin))
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::DoctorConflict))).count();
        assert_eq!((ok, conflicts), (1, STORM - 1), "moves: {results:?}");
        let listed = t.db.read(|c| appointments::list(c, Scope::All, &Default::default(), Default::default())).unwrap();
        assert_eq!(listed.total, round + STORM as i64);
        // The bookers' connections are closed, so their statistics are in; a deadlock that was
        // broken and then retried would still show here.
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(deadlocks(t), before, "PostgreSQL broke deadlocks among the bookings");
    };
}
