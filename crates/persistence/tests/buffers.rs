//! Doctor buffers: the range each appointment blocks for its doctor, kept by the database
//! itself (raw SQL included), on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use healthcare_domain::*;
use healthcare_persistence::availability::{self, parse_time_zone};
use healthcare_persistence::db::DbConnection;
use healthcare_persistence::testing::{sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{appointments, both_backends, doctors, patients, users, StoreError};
use healthcare_scheduling::{WeeklyInterval, WeeklySchedule};

/// 2031-03-03 (a Monday) at `h:m` UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 3, h, m, 0).unwrap()
}

#[derive(Clone, Copy)]
struct Fixture {
    admin: UserId,
    /// 10 minutes before, 15 after.
    buffered: DoctorId,
    /// No buffers.
    plain: DoctorId,
    p1: PatientId,
    p2: PatientId,
    p3: PatientId,
}

fn set_buffers(t: &TestDb, doctor: DoctorId, before: i32, after: i32) {
    let changes = DoctorChanges {
        buffer_before_minutes: Some(before),
        buffer_after_minutes: Some(after),
        ..Default::default()
    };
    let d =
        t.db.write(move |c| doctors::update(c, doctor, &changes))
            .unwrap();
    assert_eq!(
        (d.buffer_before_minutes, d.buffer_after_minutes),
        (before, after)
    );
}

fn fixture(t: &TestDb) -> Fixture {
    let f =
        t.db.write(move |c| {
            Ok(Fixture {
                admin: users::create(c, "admin", "", "hash", Role::Admin)?.id,
                buffered: doctors::create(c, &sample_doctor("B-1"))?.id,
                plain: doctors::create(c, &sample_doctor("B-2"))?.id,
                p1: patients::create(c, &sample_patient("Ann", None))?.id,
                p2: patients::create(c, &sample_patient("Bob", None))?.id,
                p3: patients::create(c, &sample_patient("Cy", None))?.id,
            })
        })
        .unwrap();
    set_buffers(t, f.buffered, 10, 15);
    f
}

fn book(
    t: &TestDb,
    f: &Fixture,
    doctor: DoctorId,
    patient: PatientId,
    start: DateTime<Utc>,
    minutes: i32,
) -> Result<Appointment, StoreError> {
    let input = NewAppointment {
        doctor,
        patient,
        start,
        duration_minutes: minutes,
        reason: String::new(),
        status: AppointmentStatus::Scheduled,
    };
    let by = f.admin;
    t.db.write(move |c| appointments::create(c, &input, Scope::All, by))
}

/// The stored blocked range of an appointment, read with SQL (`YYYY-MM-DD HH:MM`).
fn blocked(t: &TestDb, id: AppointmentId) -> (String, String) {
    #[derive(QueryableByName)]
    struct Range {
        #[diesel(sql_type = diesel::sql_types::Text)]
        from: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        until: String,
    }
    t.db.read(move |c| {
        let sql = match c {
            DbConnection::Postgresql(_) => {
                "SELECT to_char(blocked_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS from, \
                 to_char(blocked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS until \
                 FROM appointments WHERE id = $1"
            }
            DbConnection::Sqlite(_) => {
                "SELECT strftime('%Y-%m-%d %H:%M', blocked_from) AS \"from\", \
                 strftime('%Y-%m-%d %H:%M', blocked_until) AS until FROM appointments WHERE id = $1"
            }
        };
        let r: Range = diesel::sql_query(sql)
            .bind::<diesel::sql_types::BigInt, _>(id.0)
            .get_result(c)?;
        Ok((r.from, r.until))
    })
    .unwrap()
}

both_backends! {
    buffers_keep_a_doctors_appointments_apart => |t: &TestDb| {
        let f = fixture(t);
        let first = book(t, &f, f.buffered, f.p1, at(9, 0), 30).unwrap();
        // [08:50, 09:45) is blocked for the doctor.
        assert_eq!(blocked(t, first.id), ("2031-03-03 08:50".into(), "2031-03-03 09:45".into()));
        // 09:40 would block from 09:30: inside the 15 minutes after.
        assert!(matches!(book(t, &f, f.buffered, f.p2, at(9, 40), 30), Err(StoreError::DoctorConflict)));
        // 09:55 blocks from 09:45: touching is fine.
        book(t, &f, f.buffered, f.p2, at(9, 55), 30).unwrap();
        // Before it: 08:00-08:35 blocks until 08:50, touching; one minute longer overlaps.
        assert!(matches!(book(t, &f, f.buffered, f.p3, at(8, 0), 36), Err(StoreError::DoctorConflict)));
        book(t, &f, f.buffered, f.p3, at(8, 0), 35).unwrap();
        // The patient's side has no buffers: Ann back to back with another doctor.
        book(t, &f, f.plain, f.p1, at(9, 30), 30).unwrap();
    };

    a_change_of_buffers_applies_to_bookings_made_after_it => |t: &TestDb| {
        let f = fixture(t);
        let early = book(t, &f, f.buffered, f.p1, at(9, 0), 30).unwrap();
        set_buffers(t, f.buffered, 0, 0);
        // The earlier appointment keeps its range: 09:40 still meets its 15 minutes after.
        assert!(matches!(book(t, &f, f.buffered, f.p2, at(9, 40), 10), Err(StoreError::DoctorConflict)));
        let late = book(t, &f, f.buffered, f.p2, at(9, 45), 30).unwrap();
        assert_eq!(blocked(t, late.id), ("2031-03-03 09:45".into(), "2031-03-03 10:15".into()));
        // Moving an appointment takes the buffers as they are now.
        set_buffers(t, f.buffered, 30, 0);
        let changes = AppointmentChanges { start: Some(at(11, 0)), ..Default::default() };
        let id = early.id;
        t.db.write(move |c| appointments::update(c, id, Scope::All, &changes, Role::Admin)).unwrap();
        assert_eq!(blocked(t, id), ("2031-03-03 10:30".into(), "2031-03-03 11:30".into()));
        // A change of the reason alone keeps the range.
        set_buffers(t, f.buffered, 0, 0);
        let changes = AppointmentChanges { reason: Some("x".into()), ..Default::default() };
        t.db.write(move |c| appointments::update(c, id, Scope::All, &changes, Role::Admin)).unwrap();
        assert_eq!(blocked(t, id), ("2031-03-03 10:30".into(), "2031-03-03 11:30".into()));
    };

    the_database_keeps_the_rule_for_raw_sql => |t: &TestDb| {
        let f = fixture(t);
        book(t, &f, f.buffered, f.p1, at(9, 0), 30).unwrap();
        let (d, p) = (f.buffered.0, f.p2.0);
        // An INSERT that names no blocked range still gets one, and is refused by the rule.
        let refused = t.db.write(move |c| {
            let sql = match c {
                DbConnection::Postgresql(_) => {
                    "INSERT INTO appointments (doctor_id, patient_id, appointment_datetime, \
                     duration_minutes, end_datetime, status, created_at, updated_at) VALUES \
                     ($1, $2, '2031-03-03 09:40:00+00', 10, '2031-03-03 09:50:00+00', 'SCHEDULED', now(), now())"
                }
                DbConnection::Sqlite(_) => {
                    "INSERT INTO appointments (doctor_id, patient_id, appointment_datetime, \
                     duration_minutes, end_datetime, status, created_at, updated_at) VALUES \
                     ($1, $2, '2031-03-03 09:40:00', 10, '2031-03-03 09:50:00', 'SCHEDULED', \
                     '2031-01-01 00:00:00', '2031-01-01 00:00:00')"
                }
            };
            Ok(diesel::sql_query(sql)
                .bind::<diesel::sql_types::BigInt, _>(d)
                .bind::<diesel::sql_types::BigInt, _>(p)
                .execute(c))
        });
        let message = format!("{:?}", refused.unwrap().unwrap_err());
        assert!(message.contains("appointments_doctor_no_overlap"), "{message}");
    };

    conflicts_name_the_unbuffered_times => |t: &TestDb| {
        let f = fixture(t);
        let first = book(t, &f, f.buffered, f.p1, at(9, 0), 30).unwrap();
        let (d, p) = (f.buffered, f.p2);
        let hit = t
            .db
            .read(move |c| appointments::overlapping(c, d, p, (at(9, 40), at(10, 0)), None, Scope::All))
            .unwrap();
        assert_eq!(hit.len(), 1);
        assert!(hit[0].doctor_side);
        assert_eq!((hit[0].start, hit[0].end, hit[0].id), (at(9, 0), at(9, 30), Some(first.id)));
    };

    free_slots_honour_buffers => |t: &TestDb| {
        let f = fixture(t);
        let monday = NaiveDate::from_ymd_opt(2031, 3, 3).unwrap();
        let hours = WeeklySchedule::new(
            parse_time_zone("UTC").unwrap(),
            vec![WeeklyInterval {
                weekday: chrono::Weekday::Mon,
                start: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                end: chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            }],
        )
        .unwrap();
        let d = f.buffered;
        t.db.write(move |c| availability::set_working_hours(c, d, Some(&hours))).unwrap();
        book(t, &f, f.buffered, f.p1, at(10, 0), 30).unwrap();
        let snap = t.db.read(move |c| availability::snapshot(c, d, monday, monday)).unwrap().unwrap();
        let starts: Vec<_> = snap
            .availability
            .free_slots(monday, monday, 30, Some(15), &snap.bookings)
            .unwrap()
            .into_iter()
            .map(|s| s.start())
            .collect();
        // The booking blocks [09:50, 10:45); a 30-minute slot blocks 10 minutes before and 15
        // after it: 09:00 (until 09:45) and 10:55 on are free, 09:15 (until 10:00) is not.
        assert!(starts.contains(&at(9, 0)));
        assert!(!starts.contains(&at(9, 15)));
        assert!(!starts.contains(&at(10, 45)));
        assert!(starts.contains(&at(11, 0)));
        // Buffers may reach outside working hours: 11:30 (blocking until 12:15) is offered.
        assert!(starts.contains(&at(11, 30)));
    };
}
