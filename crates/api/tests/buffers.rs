//! Doctor buffers from outside, on SQLite and PostgreSQL: set on the doctor (0-120), kept by
//! bookings (the 409 names the unbuffered times), by concurrent bookings, by free slots, and by
//! a series.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Utc};
use healthcare_testing::{http_test, Client, Server};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

const PW: &str = "correct horse battery";
const DOCTOR_CONFLICT: &str = "Doctor already has an appointment at this time.";

fn create(client: &Client, path: &str, body: Value) -> i64 {
    let r = client.post(path, body);
    assert_eq!(r.status, 201, "POST {path}: {r:?}");
    r.id()
}

/// An admin, a doctor with 10 minutes before and 15 after each appointment, and `n` patients.
fn clinic(server: &Server, n: usize) -> (Client, i64, Vec<i64>) {
    let admin = server.client().register("admin", PW);
    let doctor = create(
        &admin,
        "/api/doctors/",
        json!({"first_name": "Bea", "last_name": "Buffer", "specialization": "GP",
               "contact_number": "555 0101", "license_number": "LIC-B1", "hospital": "General",
               "buffer_before_minutes": 10, "buffer_after_minutes": 15}),
    );
    let patients = (0..n)
        .map(|i| {
            create(
                &admin,
                "/api/patients/",
                json!({"first_name": format!("P{i}"), "last_name": "Buffer",
                       "date_of_birth": "1985-02-03", "gender": "O", "contact_number": "555 0100"}),
            )
        })
        .collect();
    (admin, doctor, patients)
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a date-time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn book(client: &Client, doctor: i64, patient: i64, at: &str) -> healthcare_testing::Reply {
    client.post(
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patient, "appointment_datetime": at,
               "duration_minutes": 30}),
    )
}

/// The doctor record carries its buffers; out-of-range values are 400s; a booking inside
/// another's buffer is a 409 that names the other's own times; touching buffers are fine.
fn buffers_are_kept_by_bookings(server: &Server) {
    let (admin, doctor, p) = clinic(server, 3);
    let d = admin.get(&format!("/api/doctors/{doctor}/"));
    assert_eq!(
        (
            d.body["buffer_before_minutes"].clone(),
            d.body["buffer_after_minutes"].clone()
        ),
        (json!(10), json!(15))
    );
    for bad in [json!(-1), json!(121), json!("ten"), json!(null)] {
        let r = admin.patch(
            &format!("/api/doctors/{doctor}/"),
            json!({"buffer_after_minutes": bad}),
        );
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(r.body["buffer_after_minutes"].is_array(), "{r:?}");
    }
    let first = book(&admin, doctor, p[0], "2031-03-03T09:00:00Z");
    assert_eq!(first.status, 201, "{first:?}");
    let hit = book(&admin, doctor, p[1], "2031-03-03T09:40:00Z");
    assert_eq!(hit.status, 409, "{hit:?}");
    assert_eq!(hit.body["non_field_errors"][0], DOCTOR_CONFLICT);
    assert_eq!(
        hit.body["conflicts"],
        json!([{"with": "doctor", "id": first.id(), "start": "2031-03-03T09:00:00Z", "end": "2031-03-03T09:30:00Z"}])
    );
    // 09:35 would block from 09:25; 09:55 blocks from 09:45, where the first one's ends.
    assert_eq!(
        book(&admin, doctor, p[1], "2031-03-03T09:35:00Z").status,
        409
    );
    assert_eq!(
        book(&admin, doctor, p[1], "2031-03-03T09:55:00Z").status,
        201
    );
    // The patient's own time has no buffers: back to back with another doctor.
    let other = create(
        &admin,
        "/api/doctors/",
        json!({"first_name": "Ola", "last_name": "Plain", "specialization": "GP",
               "contact_number": "555 0102", "license_number": "LIC-B2", "hospital": "General"}),
    );
    assert_eq!(
        book(&admin, other, p[0], "2031-03-03T09:30:00Z").status,
        201
    );
    // Lowering the buffers applies to bookings made after it; the first keeps its 15 minutes.
    let r = admin.patch(
        &format!("/api/doctors/{doctor}/"),
        json!({"buffer_before_minutes": 0, "buffer_after_minutes": 0}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        book(&admin, doctor, p[2], "2031-03-03T08:40:00Z").status,
        409,
        "08:40-09:10 meets the first"
    );
    assert_eq!(
        book(&admin, doctor, p[2], "2031-03-03T08:20:00Z").status,
        201,
        "08:20-08:50 touches its 10 minutes before"
    );
}

/// Eight bookings 35 minutes apart (each 30 minutes long: 5 minutes between them, less than
/// the 25 the buffers ask for) race each other: whatever wins, no two of the doctor's
/// appointments come closer than 15 + 10 minutes.
fn concurrent_bookings_keep_the_buffers(server: &Server) {
    const N: usize = 8;
    let (admin, doctor, patients) = clinic(server, N);
    let token = admin.token.clone().unwrap();
    let barrier = Arc::new(Barrier::new(N));
    let start = DateTime::parse_from_rfc3339("2031-03-04T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let (client, barrier) = (server.client().with_token(&token), barrier.clone());
            let at = (start + chrono::Duration::minutes(35 * i as i64))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let patient = patients[i];
            std::thread::spawn(move || {
                barrier.wait();
                book(&client, doctor, patient, &at).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    let all = admin.get(&format!("/api/appointments/?doctor={doctor}&limit=100"));
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                instant(&a["appointment_datetime"]),
                instant(&a["end_datetime"]),
            )
        })
        .collect();
    assert_eq!(spans.len(), statuses.iter().filter(|s| **s == 201).count());
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 - pair[0].1 >= chrono::Duration::minutes(25),
            "too close: {pair:?}"
        );
    }
}

/// Free slots leave room for the buffers on both sides of a booking, and may reach outside the
/// working hours with them; a series skips the occurrences that meet a buffer.
fn free_slots_and_series_honour_buffers(server: &Server) {
    let (admin, doctor, p) = clinic(server, 2);
    let hours = json!({"timezone": "UTC", "weekly": [{"weekday": "MON", "start": "09:00", "end": "12:00"}]});
    assert_eq!(
        admin
            .send(
                "PUT",
                &format!("/api/doctors/{doctor}/working-hours/"),
                Some(&hours)
            )
            .status,
        200
    );
    assert_eq!(
        book(&admin, doctor, p[0], "2031-03-03T10:00:00Z").status,
        201
    );
    let slots = admin.get(&format!(
        "/api/doctors/{doctor}/slots/?date_from=2031-03-03&duration=30&step=15&limit=100"
    ));
    assert_eq!(slots.status, 200, "{slots:?}");
    let starts: Vec<&str> = slots
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    // The booking blocks [09:50, 10:45); a 30-minute slot blocks 10 minutes before it and 15
    // after: 09:00 is the last before it, 11:00 the first after; 11:30 ends at 12:00 and its
    // 15 minutes after reach past the working hours.
    assert_eq!(
        starts,
        [
            "2031-03-03T09:00:00Z",
            "2031-03-03T11:00:00Z",
            "2031-03-03T11:15:00Z",
            "2031-03-03T11:30:00Z"
        ]
    );
    // A weekly series at 09:30 for the other patient: 09:30-10:00 meets the booking's buffer on
    // the first Monday only.
    let r = admin.post(
        "/api/appointment-series/",
        json!({"doctor": doctor, "patient": p[1], "appointment_datetime": "2031-03-03T09:30:00Z",
               "duration_minutes": 30, "rrule": "FREQ=WEEKLY;COUNT=3", "timezone": "UTC", "on_conflict": "skip"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["created"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["skipped"],
        json!([{"appointment_datetime": "2031-03-03T09:30:00Z", "reason": DOCTOR_CONFLICT}])
    );
}

http_test! {
    buffers_are_kept_by_bookings => buffers_are_kept_by_bookings;
    concurrent_bookings_keep_the_buffers => concurrent_bookings_keep_the_buffers;
    free_slots_and_series_honour_buffers => free_slots_and_series_honour_buffers;
}
