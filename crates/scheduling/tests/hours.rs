//! Working hours, exceptions, free slots and daylight-saving switches.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId};
use healthcare_scheduling::{
    resolve_local, Availability, Booking, BookingSet, EntryError, EntryProblem, ExtraHours,
    FreeSlotsError, Slot, TimeOff, WeeklyInterval, WeeklySchedule, MAX_RANGE_DAYS,
};

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn utc(y: i32, mo: u32, day: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, day, h, mi, 0).unwrap()
}

fn iv(weekday: Weekday, start: NaiveTime, end: NaiveTime) -> WeeklyInterval {
    WeeklyInterval {
        weekday,
        start,
        end,
    }
}

fn every_day(start: NaiveTime, end: NaiveTime) -> Vec<WeeklyInterval> {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .map(|w| iv(w, start, end))
    .collect()
}

fn availability(tz: Tz, entries: Vec<WeeklyInterval>) -> Availability {
    Availability::new(WeeklySchedule::new(tz, entries).unwrap())
}

fn starts(slots: &[Slot]) -> Vec<DateTime<Utc>> {
    slots.iter().map(Slot::start).collect()
}

fn slot(start: DateTime<Utc>, minutes: i64) -> Slot {
    Slot::from_minutes(start, minutes).unwrap()
}

fn booking(id: i64, start: DateTime<Utc>, minutes: i64, status: AppointmentStatus) -> Booking {
    Booking {
        id: AppointmentId(id),
        doctor: DoctorId(1),
        patient: PatientId(id),
        slot: slot(start, minutes),
        status,
        archived: false,
        blocked: None,
    }
}

// ---------------------------------------------------------------- validation

#[test]
fn schedule_validation_reports_each_offending_entry() {
    let err = WeeklySchedule::new(
        Tz::UTC,
        vec![
            iv(Weekday::Mon, t(9, 0), t(12, 0)),   // 0 ok
            iv(Weekday::Mon, t(12, 0), t(13, 0)),  // 1 touching: ok
            iv(Weekday::Mon, t(11, 0), t(11, 30)), // 2 overlaps 0
            iv(Weekday::Tue, t(10, 0), t(10, 0)),  // 3 empty
            iv(Weekday::Mon, t(9, 0), t(12, 0)),   // 4 duplicates 0
            iv(Weekday::Wed, t(17, 0), t(9, 0)),   // 5 inverted
            iv(Weekday::Tue, t(9, 0), t(12, 0)),   // 6 ok (other weekday)
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.entries,
        vec![
            EntryError {
                index: 2,
                problem: EntryProblem::Overlap { with: 0 }
            },
            EntryError {
                index: 3,
                problem: EntryProblem::Inverted
            },
            EntryError {
                index: 4,
                problem: EntryProblem::Duplicate { of: 0 }
            },
            EntryError {
                index: 5,
                problem: EntryProblem::Inverted
            },
        ]
    );
    assert_eq!(
        err.messages(),
        vec![
            "entry 2: overlaps entry 0.",
            "entry 3: start must be before end.",
            "entry 4: duplicates entry 0.",
            "entry 5: start must be before end.",
        ]
    );
    let fields = err.to_field_errors("weekly");
    assert_eq!(fields.messages("weekly").len(), 4);
    assert!(WeeklySchedule::new(Tz::UTC, vec![]).is_ok());
}

// ---------------------------------------------------------------- working hours

#[test]
fn within_working_hours_uses_joined_intervals_and_time_off() {
    // Monday 2025-01-06, UTC.
    let mut a = availability(
        Tz::UTC,
        vec![
            iv(Weekday::Mon, t(9, 0), t(12, 0)),
            iv(Weekday::Mon, t(12, 0), t(13, 0)),
            iv(Weekday::Mon, t(14, 0), t(17, 0)),
        ],
    );
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 9, 0), 30)));
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 11, 30), 60))); // joined 9-13
    assert!(!a.is_within_working_hours(&slot(utc(2025, 1, 6, 12, 45), 30))); // lunch break
    assert!(!a.is_within_working_hours(&slot(utc(2025, 1, 6, 8, 55), 10)));
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 16, 30), 30))); // ends at 17:00
    assert!(!a.is_within_working_hours(&slot(utc(2025, 1, 6, 16, 30), 35)));
    assert!(!a.is_within_working_hours(&slot(utc(2025, 1, 7, 9, 0), 30))); // Tuesday off

    a.time_off.push(TimeOff {
        start: utc(2025, 1, 6, 10, 0),
        end: utc(2025, 1, 6, 11, 0),
    });
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 9, 30), 30))); // touching is fine
    assert!(!a.is_within_working_hours(&slot(utc(2025, 1, 6, 9, 45), 30)));
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 11, 0), 30)));

    a.extra.push(ExtraHours {
        date: d(2025, 1, 7),
        start: t(8, 0),
        end: t(9, 0),
    });
    a.extra.push(ExtraHours {
        date: d(2025, 1, 6),
        start: t(13, 0),
        end: t(14, 0),
    });
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 7, 8, 0), 60)));
    assert!(a.is_within_working_hours(&slot(utc(2025, 1, 6, 11, 0), 360))); // 11-17 bridged
}

#[test]
fn free_slots_grid_step_bookings_and_time_off() {
    let mut a = availability(
        Tz::UTC,
        vec![
            iv(Weekday::Mon, t(9, 0), t(11, 0)),
            iv(Weekday::Mon, t(14, 0), t(15, 10)),
        ],
    );
    let none = BookingSet::default();
    let monday = d(2025, 1, 6);
    let got = a.free_slots(monday, monday, 30, None, &none).unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 1, 6, 9, 0),
            utc(2025, 1, 6, 9, 30),
            utc(2025, 1, 6, 10, 0),
            utc(2025, 1, 6, 10, 30),
            utc(2025, 1, 6, 14, 0),
            utc(2025, 1, 6, 14, 30),
        ]
    );
    assert!(got.iter().all(|s| s.duration_minutes() == 30));
    let got = a.free_slots(monday, monday, 45, Some(15), &none).unwrap();
    assert_eq!(got.len(), 6 + 2); // 9:00..10:15 by 15 and 14:00, 14:15
    assert_eq!(got.last().unwrap().start(), utc(2025, 1, 6, 14, 15));

    let existing = BookingSet::new(vec![
        booking(1, utc(2025, 1, 6, 9, 30), 30, AppointmentStatus::Scheduled),
        booking(2, utc(2025, 1, 6, 10, 0), 30, AppointmentStatus::Cancelled),
        booking(3, utc(2025, 1, 6, 14, 50), 5, AppointmentStatus::Scheduled),
    ]);
    a.time_off.push(TimeOff {
        start: utc(2025, 1, 6, 10, 30),
        end: utc(2025, 1, 6, 10, 31),
    });
    let got = a.free_slots(monday, monday, 30, None, &existing).unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 1, 6, 9, 0),
            utc(2025, 1, 6, 10, 0),
            utc(2025, 1, 6, 14, 0)
        ]
    );
    for s in &got {
        assert!(a.is_within_working_hours(s));
    }
    // Tuesday has no hours; an extra hour appears.
    let tuesday = d(2025, 1, 7);
    assert!(a
        .free_slots(tuesday, tuesday, 30, None, &none)
        .unwrap()
        .is_empty());
    a.extra.push(ExtraHours {
        date: tuesday,
        start: t(7, 0),
        end: t(8, 0),
    });
    let got = a.free_slots(monday, tuesday, 60, None, &none).unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 1, 6, 9, 0),
            utc(2025, 1, 6, 14, 0),
            utc(2025, 1, 7, 7, 0)
        ]
    );
}

#[test]
fn free_slots_refuses_bad_requests() {
    let a = availability(Tz::UTC, every_day(t(9, 0), t(17, 0)));
    let none = BookingSet::default();
    let from = d(2025, 1, 1);
    assert_eq!(
        a.free_slots(from, d(2024, 12, 31), 30, None, &none),
        Err(FreeSlotsError::InvertedRange)
    );
    assert_eq!(MAX_RANGE_DAYS, 31);
    assert_eq!(
        a.free_slots(from, d(2025, 1, 31), 480, None, &none)
            .unwrap()
            .len(),
        31
    );
    assert_eq!(
        a.free_slots(from, d(2025, 2, 1), 30, None, &none),
        Err(FreeSlotsError::RangeTooLong { days: 32 })
    );
    assert_eq!(
        a.free_slots(from, from, 4, None, &none),
        Err(FreeSlotsError::InvalidDuration { minutes: 4 })
    );
    assert_eq!(
        a.free_slots(from, from, 481, None, &none),
        Err(FreeSlotsError::InvalidDuration { minutes: 481 })
    );
    assert_eq!(
        a.free_slots(from, from, 30, Some(0), &none),
        Err(FreeSlotsError::InvalidStep { minutes: 0 })
    );
    assert_eq!(
        a.free_slots(from, from, 30, Some(i64::MAX), &none),
        Err(FreeSlotsError::InvalidStep { minutes: i64::MAX })
    );
    assert_eq!(
        FreeSlotsError::RangeTooLong { days: 40 }.to_string(),
        "The date range may span at most 31 days."
    );
    // The free-slot query is parsed in the domain with the same words.
    use healthcare_domain::availability::msg;
    assert_eq!(
        FreeSlotsError::RangeTooLong { days: 40 }.to_string(),
        msg::RANGE_TOO_LONG
    );
    assert_eq!(
        FreeSlotsError::InvertedRange.to_string(),
        msg::RANGE_INVERTED
    );
}

#[test]
fn a_parsed_working_hours_body_becomes_a_schedule() {
    use healthcare_domain::{Raw, RawObject, WorkingHours};
    let entry = |start: &str, end: &str| {
        Raw::Object(RawObject::from_pairs([
            ("weekday", Raw::Str("MON".into())),
            ("start", Raw::Str(start.into())),
            ("end", Raw::Str(end.into())),
        ]))
    };
    let body = |entries: Vec<Raw>| {
        WorkingHours::parse(&RawObject::from_pairs([
            ("timezone", Raw::Str("Europe/Berlin".into())),
            ("weekly", Raw::Array(entries)),
        ]))
        .unwrap()
    };
    let schedule = WeeklySchedule::from_input(body(vec![entry("09:00", "12:00")])).unwrap();
    assert_eq!(
        schedule.map(|s| s.intervals_on(Weekday::Mon).to_vec()),
        Some(vec![(t(9, 0), t(12, 0))])
    );
    assert_eq!(WeeklySchedule::from_input(body(vec![])), Ok(None));
    let overlap = body(vec![
        entry("09:00", "12:00"),
        entry("12:00", "13:00"),
        entry("11:00", "11:30"),
        entry("10:00", "09:00"),
    ]);
    let e = WeeklySchedule::from_input(overlap).unwrap_err();
    assert_eq!(
        e.messages("weekly"),
        [
            "entry 2: overlaps entry 0.",
            "entry 3: start must be before end."
        ]
    );
}

#[test]
fn extreme_dates_do_not_panic() {
    let mut a = availability(BERLIN, every_day(t(0, 0), t(23, 59)));
    a.extra.push(ExtraHours {
        date: NaiveDate::MAX,
        start: t(0, 0),
        end: t(23, 0),
    });
    let none = BookingSet::default();
    let max = NaiveDate::MAX;
    let min = NaiveDate::MIN;
    let _ = a
        .free_slots(max - chrono::Days::new(3), max, 480, Some(1), &none)
        .unwrap();
    let _ = a
        .free_slots(min, min + chrono::Days::new(3), 5, None, &none)
        .unwrap();
    let late = slot(DateTime::<Utc>::MAX_UTC - chrono::TimeDelta::minutes(10), 5);
    let _ = a.is_within_working_hours(&late);
    let early = slot(DateTime::<Utc>::MIN_UTC, 5);
    let _ = a.is_within_working_hours(&early);
}

#[test]
fn fixed_offset_zone() {
    // Kolkata is UTC+05:30 all year.
    let a = availability(
        chrono_tz::Asia::Kolkata,
        vec![iv(Weekday::Mon, t(9, 0), t(10, 0))],
    );
    let got = a
        .free_slots(
            d(2025, 1, 6),
            d(2025, 1, 6),
            30,
            None,
            &BookingSet::default(),
        )
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![utc(2025, 1, 6, 3, 30), utc(2025, 1, 6, 4, 0)]
    );
}

// ---------------------------------------------------------------- DST: Europe/Berlin

#[test]
fn berlin_spring_forward_keeps_local_start() {
    // 2025-03-30: 02:00 CET -> 03:00 CEST (01:00Z).
    let a = availability(BERLIN, every_day(t(9, 0), t(10, 0)));
    let got = a
        .free_slots(
            d(2025, 3, 29),
            d(2025, 3, 31),
            30,
            None,
            &BookingSet::default(),
        )
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 3, 29, 8, 0), // Saturday, CET (+01:00)
            utc(2025, 3, 29, 8, 30),
            utc(2025, 3, 30, 7, 0), // Sunday, CEST (+02:00)
            utc(2025, 3, 30, 7, 30),
            utc(2025, 3, 31, 7, 0),
            utc(2025, 3, 31, 7, 30),
        ]
    );
    assert!(a.is_within_working_hours(&slot(utc(2025, 3, 30, 7, 0), 60)));
    assert!(!a.is_within_working_hours(&slot(utc(2025, 3, 30, 8, 0), 60)));
}

#[test]
fn berlin_spring_forward_gap() {
    let day = d(2025, 3, 30);
    assert_eq!(
        resolve_local(BERLIN, day.and_time(t(1, 59))),
        Some(utc(2025, 3, 30, 0, 59))
    );
    assert_eq!(
        resolve_local(BERLIN, day.and_time(t(2, 0))),
        Some(utc(2025, 3, 30, 1, 0))
    );
    assert_eq!(
        resolve_local(BERLIN, day.and_time(t(2, 30))),
        Some(utc(2025, 3, 30, 1, 0))
    );
    assert_eq!(
        resolve_local(BERLIN, day.and_time(t(3, 0))),
        Some(utc(2025, 3, 30, 1, 0))
    );
    let none = BookingSet::default();

    // 01:30-02:30 local: ends where the gap starts: 30 real minutes.
    let a = availability(BERLIN, vec![iv(Weekday::Sun, t(1, 30), t(2, 30))]);
    let got = a.free_slots(day, day, 30, None, &none).unwrap();
    assert_eq!(starts(&got), vec![utc(2025, 3, 30, 0, 30)]);

    // 02:00-02:45 lies wholly in the gap: no working time that day.
    let a = availability(BERLIN, vec![iv(Weekday::Sun, t(2, 0), t(2, 45))]);
    assert!(a.free_slots(day, day, 5, None, &none).unwrap().is_empty());
    assert!(
        a.free_slots(d(2025, 4, 6), d(2025, 4, 6), 5, None, &none)
            .unwrap()
            .len()
            == 9
    );

    // 02:30-04:00 local starts at the first instant after the gap (03:00 CEST = 01:00Z).
    let a = availability(BERLIN, vec![iv(Weekday::Sun, t(2, 30), t(4, 0))]);
    let got = a.free_slots(day, day, 30, None, &none).unwrap();
    assert_eq!(
        starts(&got),
        vec![utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]
    );
}

#[test]
fn berlin_fall_back() {
    // 2025-10-26: 03:00 CEST -> 02:00 CET (01:00Z); 02:00-03:00 local happens twice.
    let day = d(2025, 10, 26);
    assert_eq!(
        resolve_local(BERLIN, day.and_time(t(2, 30))),
        Some(utc(2025, 10, 26, 0, 30))
    );
    let none = BookingSet::default();

    let a = availability(BERLIN, every_day(t(9, 0), t(10, 0)));
    let got = a
        .free_slots(d(2025, 10, 25), d(2025, 10, 27), 60, None, &none)
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 10, 25, 7, 0),
            utc(2025, 10, 26, 8, 0),
            utc(2025, 10, 27, 8, 0)
        ]
    );

    // 01:00-04:00 local is four real hours that night.
    let a = availability(BERLIN, vec![iv(Weekday::Sun, t(1, 0), t(4, 0))]);
    let got = a.free_slots(day, day, 60, None, &none).unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 10, 25, 23, 0),
            utc(2025, 10, 26, 0, 0),
            utc(2025, 10, 26, 1, 0),
            utc(2025, 10, 26, 2, 0),
        ]
    );
    // The second 02:30 (CET, 01:30Z) is inside too.
    assert!(a.is_within_working_hours(&slot(utc(2025, 10, 26, 1, 30), 30)));
    assert!(!a.is_within_working_hours(&slot(utc(2025, 10, 26, 2, 30), 60)));

    // 02:30-03:30 local: starts at the first 02:30 (00:30Z), ends 03:30 CET (02:30Z).
    let a = availability(BERLIN, vec![iv(Weekday::Sun, t(2, 30), t(3, 30))]);
    let got = a.free_slots(day, day, 120, None, &none).unwrap();
    assert_eq!(starts(&got), vec![utc(2025, 10, 26, 0, 30)]);
}

// ---------------------------------------------------------------- DST: America/New_York

#[test]
fn new_york_spring_forward() {
    // 2025-03-09: 02:00 EST -> 03:00 EDT (07:00Z).
    let day = d(2025, 3, 9);
    assert_eq!(
        resolve_local(NEW_YORK, day.and_time(t(2, 30))),
        Some(utc(2025, 3, 9, 7, 0))
    );
    let a = availability(NEW_YORK, every_day(t(9, 0), t(9, 30)));
    let got = a
        .free_slots(
            d(2025, 3, 8),
            d(2025, 3, 10),
            30,
            None,
            &BookingSet::default(),
        )
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 3, 8, 14, 0),
            utc(2025, 3, 9, 13, 0),
            utc(2025, 3, 10, 13, 0)
        ]
    );
    // 01:00-04:00 local is only two real hours.
    let a = availability(NEW_YORK, vec![iv(Weekday::Sun, t(1, 0), t(4, 0))]);
    let got = a
        .free_slots(day, day, 60, None, &BookingSet::default())
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![utc(2025, 3, 9, 6, 0), utc(2025, 3, 9, 7, 0)]
    );
}

#[test]
fn new_york_fall_back() {
    // 2025-11-02: 02:00 EDT -> 01:00 EST (06:00Z); 01:00-02:00 local happens twice.
    let day = d(2025, 11, 2);
    assert_eq!(
        resolve_local(NEW_YORK, day.and_time(t(1, 30))),
        Some(utc(2025, 11, 2, 5, 30))
    );
    let a = availability(NEW_YORK, every_day(t(9, 0), t(9, 30)));
    let got = a
        .free_slots(
            d(2025, 11, 1),
            d(2025, 11, 3),
            30,
            None,
            &BookingSet::default(),
        )
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 11, 1, 13, 0),
            utc(2025, 11, 2, 14, 0),
            utc(2025, 11, 3, 14, 0)
        ]
    );
    // 01:30-02:30 local: from the first 01:30 (EDT, 05:30Z) to 02:30 EST (07:30Z).
    let a = availability(NEW_YORK, vec![iv(Weekday::Sun, t(1, 30), t(2, 30))]);
    let got = a
        .free_slots(day, day, 30, None, &BookingSet::default())
        .unwrap();
    assert_eq!(
        starts(&got),
        vec![
            utc(2025, 11, 2, 5, 30),
            utc(2025, 11, 2, 6, 0),
            utc(2025, 11, 2, 6, 30),
            utc(2025, 11, 2, 7, 0),
        ]
    );
}

#[test]
fn dst_week_example_from_docs() {
    // Mon-Fri 09:00-12:00 in Berlin, the two weeks around the 2025-10-26 switch.
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let a = availability(
        BERLIN,
        weekdays.iter().map(|w| iv(*w, t(9, 0), t(12, 0))).collect(),
    );
    let got = a
        .free_slots(
            d(2025, 10, 20),
            d(2025, 10, 31),
            180,
            None,
            &BookingSet::default(),
        )
        .unwrap();
    let mut expected: Vec<_> = (20..=24).map(|day| utc(2025, 10, day, 7, 0)).collect();
    expected.extend((27..=31).map(|day| utc(2025, 10, day, 8, 0)));
    assert_eq!(starts(&got), expected);
}

#[test]
fn conflict_example_from_docs() {
    use healthcare_scheduling::{check_conflict, Candidate, Conflict};
    let doctor = BookingSet::new(vec![
        booking(1, utc(2025, 1, 6, 10, 0), 30, AppointmentStatus::Scheduled),
        booking(2, utc(2025, 1, 6, 10, 30), 30, AppointmentStatus::Cancelled),
    ]);
    let mut p = booking(3, utc(2025, 1, 6, 11, 0), 30, AppointmentStatus::Scheduled);
    p.doctor = DoctorId(2);
    p.patient = PatientId(9);
    let patient = BookingSet::new(vec![p]);
    let check = |h: u32, m: u32, minutes: i64| {
        let c = Candidate {
            doctor: DoctorId(1),
            patient: PatientId(9),
            slot: slot(utc(2025, 1, 6, h, m), minutes),
            ignore: None,
            buffers: healthcare_scheduling::Buffers::NONE,
        };
        check_conflict(&c, &doctor, &patient)
    };
    assert_eq!(check(9, 30, 30), Ok(()));
    assert_eq!(check(10, 30, 30), Ok(()));
    assert_eq!(check(10, 15, 30), Err(Conflict::Doctor));
    assert_eq!(check(10, 45, 30), Err(Conflict::Patient));
    assert_eq!(check(10, 0, 75), Err(Conflict::Both));
}
