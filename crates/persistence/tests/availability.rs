//! Working hours, time off, free-slot data and the booking check, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use healthcare_domain::*;
use healthcare_persistence::appointments;
use healthcare_persistence::availability::{
    self, parse_time_zone, AddTimeOff, NewTimeOff, NOT_AVAILABLE,
};
use healthcare_persistence::testing::{sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{both_backends, doctors, patients, users, Page, StoreError};
use healthcare_scheduling::{WeeklyInterval, WeeklySchedule};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[derive(Clone, Copy)]
struct Fixture {
    admin: UserId,
    /// Mon-Fri 09:00-12:00 and 13:00-17:00, Europe/Berlin.
    berlin: DoctorId,
    /// No working hours.
    free: DoctorId,
    p1: PatientId,
    p2: PatientId,
}

fn weekdays_berlin() -> WeeklySchedule {
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
            start: hm(13, 0),
            end: hm(17, 0),
        });
        entries.push(WeeklyInterval {
            weekday,
            start: hm(9, 0),
            end: hm(12, 0),
        });
    }
    WeeklySchedule::new(parse_time_zone("Europe/Berlin").unwrap(), entries).unwrap()
}

fn fixture(t: &TestDb) -> Fixture {
    t.db.write(|c| {
        let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
        let berlin = doctors::create(c, &sample_doctor("L-1"))?.id;
        let free = doctors::create(c, &sample_doctor("L-2"))?.id;
        let p1 = patients::create(c, &sample_patient("Ann", None))?.id;
        let p2 = patients::create(c, &sample_patient("Bob", None))?.id;
        availability::set_working_hours(c, berlin, Some(&weekdays_berlin()))?;
        Ok(Fixture {
            admin,
            berlin,
            free,
            p1,
            p2,
        })
    })
    .unwrap()
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
        status: healthcare_domain::AppointmentStatus::Scheduled,
    };
    let f = *f;
    t.db.write(move |c| appointments::create(c, &input, Scope::All, f.admin))
}

fn not_available(r: Result<Appointment, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid { field: "non_field_errors", message }) if message == NOT_AVAILABLE)
}

fn time_off(
    t: &TestDb,
    f: &Fixture,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    keep: bool,
) -> AddTimeOff {
    let input = NewTimeOff {
        start,
        end,
        reason: "Conference".into(),
    };
    let f = *f;
    t.db.write(move |c| availability::add_time_off(c, f.berlin, &input, keep, f.admin))
        .unwrap()
}

both_backends! {
    working_hours_round_trip => |t: &TestDb| {
        let f = fixture(t);
        assert_eq!(t.db.read(|c| availability::working_hours(c, f.free)).unwrap(), None);
        let stored = t.db.read(|c| availability::working_hours(c, f.berlin)).unwrap().unwrap();
        assert_eq!(stored.tz().name(), "Europe/Berlin");
        // Read back by weekday, then start.
        let first: Vec<_> = stored.entries().iter().take(3).map(|e| (e.weekday, e.start, e.end)).collect();
        assert_eq!(first, [
            (Weekday::Mon, hm(9, 0), hm(12, 0)),
            (Weekday::Mon, hm(13, 0), hm(17, 0)),
            (Weekday::Tue, hm(9, 0), hm(12, 0)),
        ]);
        assert_eq!(stored.entries().len(), 10);
        // Replace with a one-entry schedule in another zone.
        let saturday = WeeklySchedule::new(
            parse_time_zone("America/New_York").unwrap(),
            vec![WeeklyInterval { weekday: Weekday::Sat, start: hm(8, 30), end: hm(23, 59) }],
        ).unwrap();
        let now = t.db.write({ let saturday = saturday.clone(); move |c| availability::set_working_hours(c, f.berlin, Some(&saturday)) }).unwrap().unwrap();
        assert_eq!((now.tz().name(), now.entries().len()), ("America/New_York", 1));
        assert_eq!(now.entries()[0].end, hm(23, 59));
        // An empty schedule clears, like None.
        let empty = WeeklySchedule::new(parse_time_zone("UTC").unwrap(), Vec::new()).unwrap();
        assert_eq!(t.db.write({ let empty = empty.clone(); move |c| availability::set_working_hours(c, f.berlin, Some(&empty)) }).unwrap(), None);
        assert_eq!(t.db.read(|c| availability::working_hours(c, f.berlin)).unwrap(), None);
        t.db.write({ let saturday = saturday.clone(); move |c| availability::set_working_hours(c, f.berlin, Some(&saturday)) }).unwrap();
        assert_eq!(t.db.write(move |c| availability::set_working_hours(c, f.berlin, None)).unwrap(), None);
        // Unknown and archived doctors.
        assert!(matches!(
            t.db.write(move |c| availability::set_working_hours(c, DoctorId(999), None)),
            Err(StoreError::NotFound)
        ));
        t.db.write(move |c| doctors::archive(c, f.free)).unwrap();
        assert!(matches!(
            t.db.write({ let saturday = saturday.clone(); move |c| availability::set_working_hours(c, f.free, Some(&saturday)) }),
            Err(StoreError::NotFound)
        ));
        // Zone names are exact.
        assert!(parse_time_zone("Mars/Olympus").is_none());
        assert!(parse_time_zone("").is_none());
        assert_eq!(parse_time_zone(" UTC ").map(|z| z.name()), Some("UTC"));
    };

    time_off_lifecycle => |t: &TestDb| {
        let f = fixture(t);
        // Monday 2030-04-01 09:00-09:30 CEST = 07:00Z.
        let a = book(t, &f, f.berlin, f.p1, utc(2030, 4, 1, 7, 0), 30).unwrap();
        // A cancelled appointment in the same period blocks nothing.
        let b = book(t, &f, f.berlin, f.p2, utc(2030, 4, 1, 8, 0), 30).unwrap();
        let cancel = AppointmentChanges { status: Some(AppointmentStatus::Cancelled), ..Default::default() };
        t.db.write({ let cancel = cancel.clone(); move |c| appointments::update(c, b.id, Scope::All, &cancel, Role::Staff) }).unwrap();
        let day = (utc(2030, 4, 1, 0, 0), utc(2030, 4, 2, 0, 0));
        assert_eq!(time_off(t, &f, day.0, day.1, false), AddTimeOff::Blocked { affected: 1 });
        assert_eq!(t.db.read(|c| availability::list_time_off(c, f.berlin, Page::default())).unwrap().total, 0);
        // Touching the appointment's end is not overlapping it.
        let AddTimeOff::Added(later) = time_off(t, &f, utc(2030, 4, 1, 7, 30), utc(2030, 4, 1, 8, 0), false) else {
            panic!("touching time off refused");
        };
        // Keeping the appointments stores it anyway; the appointment stays SCHEDULED.
        let AddTimeOff::Added(kept) = time_off(t, &f, day.0, day.1, true) else {
            panic!("keep_appointments refused");
        };
        assert_eq!((kept.doctor, kept.reason.as_str(), kept.created_by), (f.berlin, "Conference", Some(f.admin)));
        assert_eq!(kept.start, day.0);
        let a = t.db.read(|c| appointments::find(c, a.id, Scope::All)).unwrap();
        assert_eq!(a.status, AppointmentStatus::Scheduled);
        // Listed earliest first, paged.
        let listed = t.db.read(|c| availability::list_time_off(c, f.berlin, Page::default())).unwrap();
        assert_eq!(listed.items.iter().map(|e| e.id).collect::<Vec<_>>(), [kept.id, later.id]);
        let one = t.db.read(|c| availability::list_time_off(c, f.berlin, Page { limit: 1, offset: 1 })).unwrap();
        assert_eq!((one.total, one.items.len(), one.items[0].id), (2, 1, later.id));
        assert_eq!(t.db.read(|c| availability::list_time_off(c, f.free, Page::default())).unwrap().total, 0);
        // Inverted ranges and unknown doctors.
        let inverted = NewTimeOff { start: day.1, end: day.0, reason: String::new() };
        assert!(matches!(
            t.db.write({ let inverted = inverted.clone(); move |c| availability::add_time_off(c, f.berlin, &inverted, false, f.admin) }),
            Err(StoreError::Invalid { field: "end", .. })
        ));
        let ok = NewTimeOff { start: day.0, end: day.1, reason: String::new() };
        assert!(matches!(
            t.db.write({ let ok = ok.clone(); move |c| availability::add_time_off(c, DoctorId(999), &ok, false, f.admin) }),
            Err(StoreError::NotFound)
        ));
        // Deleting removes the row; another doctor's id or a second delete is NotFound.
        assert!(matches!(t.db.write(move |c| availability::delete_time_off(c, f.free, kept.id)), Err(StoreError::NotFound)));
        t.db.write(move |c| availability::delete_time_off(c, f.berlin, kept.id)).unwrap();
        assert!(matches!(t.db.write(move |c| availability::delete_time_off(c, f.berlin, kept.id)), Err(StoreError::NotFound)));
        let listed = t.db.read(|c| availability::list_time_off(c, f.berlin, Page::default())).unwrap();
        assert_eq!(listed.items.iter().map(|e| e.id).collect::<Vec<_>>(), [later.id]);
    };

    booking_respects_working_hours_across_dst => |t: &TestDb| {
        let f = fixture(t);
        // Monday 2030-03-25 (CET, +01:00): 09:00 local = 08:00Z.
        assert!(book(t, &f, f.berlin, f.p1, utc(2030, 3, 25, 8, 0), 30).is_ok());
        assert!(not_available(book(t, &f, f.berlin, f.p1, utc(2030, 3, 25, 7, 30), 30)));
        // Across the lunch break (11:30-12:30 local) is refused, ending at 12:00 is fine.
        assert!(not_available(book(t, &f, f.berlin, f.p1, utc(2030, 3, 25, 10, 30), 60)));
        assert!(book(t, &f, f.berlin, f.p1, utc(2030, 3, 25, 10, 30), 30).is_ok());
        // Sunday 2030-03-31 is the switch to CEST and not a working day.
        assert!(not_available(book(t, &f, f.berlin, f.p1, utc(2030, 3, 31, 8, 0), 30)));
        // Monday 2030-04-01 (CEST, +02:00): 09:00 local = 07:00Z; 08:00Z is 10:00 local.
        assert!(book(t, &f, f.berlin, f.p1, utc(2030, 4, 1, 7, 0), 30).is_ok());
        assert!(not_available(book(t, &f, f.berlin, f.p2, utc(2030, 4, 1, 6, 30), 30)));
        // Friday 16:30-17:00 local fits exactly; 16:45 does not.
        assert!(book(t, &f, f.berlin, f.p2, utc(2030, 4, 5, 14, 30), 30).is_ok());
        assert!(not_available(book(t, &f, f.berlin, f.p2, utc(2030, 4, 5, 14, 45), 30)));
        // Time off wins over working hours.
        time_off(t, &f, utc(2030, 4, 2, 7, 0), utc(2030, 4, 2, 10, 0), false);
        assert!(not_available(book(t, &f, f.berlin, f.p2, utc(2030, 4, 2, 9, 30), 30)));
        assert!(book(t, &f, f.berlin, f.p2, utc(2030, 4, 2, 11, 0), 30).is_ok());
        // Conflicts still answer as before inside working hours.
        assert!(matches!(book(t, &f, f.berlin, f.p2, utc(2030, 4, 1, 7, 0), 30), Err(StoreError::DoctorConflict)));
        // A doctor without working hours takes any time, Sunday 03:00Z included.
        assert!(book(t, &f, f.free, f.p1, utc(2030, 3, 31, 3, 0), 30).is_ok());
    };

    rescheduling_respects_working_hours => |t: &TestDb| {
        let f = fixture(t);
        // Booked with the hours-less doctor at 06:00 local.
        let a = book(t, &f, f.free, f.p1, utc(2030, 4, 1, 4, 0), 30).unwrap();
        let update = |changes: AppointmentChanges| {
            t.db.write({ let changes = changes.clone(); move |c| appointments::update(c, a.id, Scope::All, &changes, Role::Staff) })
        };
        // Moving it to the doctor with hours at the same time is refused.
        assert!(not_available(update(AppointmentChanges { doctor: Some(f.berlin), ..Default::default() })));
        // Moving doctor and time together into hours works.
        let moved = update(AppointmentChanges {
            doctor: Some(f.berlin),
            start: Some(utc(2030, 4, 1, 9, 0)),
            ..Default::default()
        }).unwrap();
        assert_eq!(moved.doctor, f.berlin);
        // Longer, past the lunch break: refused; a move outside hours: refused.
        assert!(not_available(update(AppointmentChanges { duration_minutes: Some(90), ..Default::default() })));
        assert!(not_available(update(AppointmentChanges { start: Some(utc(2030, 4, 1, 16, 0)), ..Default::default() })));
        // The doctor's hours shrink; changes that keep the agreed time still pass.
        let early = WeeklySchedule::new(
            parse_time_zone("Europe/Berlin").unwrap(),
            vec![WeeklyInterval { weekday: Weekday::Mon, start: hm(7, 0), end: hm(8, 0) }],
        ).unwrap();
        t.db.write({ let early = early.clone(); move |c| availability::set_working_hours(c, f.berlin, Some(&early)) }).unwrap();
        assert!(update(AppointmentChanges { patient: Some(f.p2), ..Default::default() }).is_ok());
        assert!(update(AppointmentChanges { start: Some(utc(2030, 4, 1, 9, 0)), reason: Some("same".into()), ..Default::default() }).is_ok());
        assert!(update(AppointmentChanges { status: Some(AppointmentStatus::Completed), ..Default::default() }).is_ok());
    };

    snapshot_for_free_slots_dst_week => |t: &TestDb| {
        let f = fixture(t);
        // Friday 2030-03-29 (CET) .. Monday 2030-04-01 (CEST), 60-minute slots, mornings only.
        let mornings = WeeklySchedule::new(
            parse_time_zone("Europe/Berlin").unwrap(),
            [Weekday::Fri, Weekday::Mon]
                .into_iter()
                .map(|weekday| WeeklyInterval { weekday, start: hm(9, 0), end: hm(12, 0) })
                .collect(),
        ).unwrap();
        t.db.write({ let mornings = mornings.clone(); move |c| availability::set_working_hours(c, f.berlin, Some(&mornings)) }).unwrap();
        book(t, &f, f.berlin, f.p1, utc(2030, 4, 1, 8, 0), 60).unwrap();
        // A cancelled and an archived booking free their slots.
        let gone = book(t, &f, f.berlin, f.p2, utc(2030, 3, 29, 8, 0), 60).unwrap();
        t.db.write(move |c| appointments::archive(c, gone.id, Scope::All)).unwrap();
        let snap = t.db.read(|c| availability::snapshot(c, f.berlin, date(2030, 3, 29), date(2030, 4, 1))).unwrap().unwrap();
        assert_eq!(snap.bookings.len(), 1);
        let starts: Vec<_> = snap.availability
            .free_slots(date(2030, 3, 29), date(2030, 4, 1), 60, None, &snap.bookings)
            .unwrap()
            .iter()
            .map(|s| s.start())
            .collect();
        assert_eq!(starts, [
            utc(2030, 3, 29, 8, 0), utc(2030, 3, 29, 9, 0), utc(2030, 3, 29, 10, 0),
            utc(2030, 4, 1, 7, 0), utc(2030, 4, 1, 9, 0),
        ]);
        // Time off on Friday morning removes those slots.
        time_off(t, &f, utc(2030, 3, 29, 0, 0), utc(2030, 3, 29, 9, 30), false);
        let snap = t.db.read(|c| availability::snapshot(c, f.berlin, date(2030, 3, 29), date(2030, 4, 1))).unwrap().unwrap();
        assert_eq!(snap.availability.time_off.len(), 1);
        let free = snap.availability.free_slots(date(2030, 3, 29), date(2030, 4, 1), 60, None, &snap.bookings).unwrap();
        assert_eq!(free.first().map(|s| s.start()), Some(utc(2030, 3, 29, 10, 0)));
        // No working hours: no snapshot.
        assert!(t.db.read(|c| availability::snapshot(c, f.free, date(2030, 3, 29), date(2030, 4, 1))).unwrap().is_none());
    };

    scheduled_between_uses_overlap => |t: &TestDb| {
        let f = fixture(t);
        // 480 minutes from 08:00Z on a Monday (09:00-17:00 local with a break: book the free doctor).
        let long = book(t, &f, f.free, f.p1, utc(2030, 4, 1, 8, 0), 480).unwrap();
        let short = book(t, &f, f.free, f.p2, utc(2030, 4, 1, 16, 0), 30).unwrap();
        let ids = |from, until| {
            t.db.read(|c| availability::scheduled_between(c, f.free, from, until))
                .unwrap()
                .as_slice()
                .iter()
                .map(|b| b.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(utc(2030, 4, 1, 15, 59), utc(2030, 4, 1, 16, 1)), [long.id, short.id]);
        assert_eq!(ids(utc(2030, 4, 1, 16, 0), utc(2030, 4, 1, 17, 0)), [short.id]);
        assert_eq!(ids(utc(2030, 4, 1, 7, 0), utc(2030, 4, 1, 8, 0)), Vec::<AppointmentId>::new());
    };
}
