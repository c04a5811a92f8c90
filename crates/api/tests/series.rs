//! Recurring appointments from outside, on SQLite and PostgreSQL: a weekly series keeps its
//! wall-clock time across a DST change, `fail` lists every conflicting occurrence and books
//! nothing, `skip` books the free ones, rules past the bounds are 400s, and a series racing
//! single bookings of the same slots never double-books.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Timelike, Utc};
use healthcare_testing::{http_test, Client, Server};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

const PW: &str = "correct horse battery";
const DOCTOR_CONFLICT: &str = "Doctor already has an appointment at this time.";
const PATIENT_CONFLICT: &str = "Patient already has an appointment at this time.";

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Series", "date_of_birth": "1985-02-03", "gender": "O",
           "contact_number": "555 0100"})
}

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Grace", "last_name": "Series", "specialization": "GP",
           "contact_number": "555 0101", "email": "series@example.org", "license_number": license,
           "hospital": "General"})
}

fn create(client: &Client, path: &str, body: Value) -> i64 {
    let r = client.post(path, body);
    assert_eq!(r.status, 201, "POST {path}: {r:?}");
    r.id()
}

/// An admin, one doctor and `patients` patients.
fn clinic(server: &Server, patients: usize) -> (Client, i64, Vec<i64>) {
    let admin = server.client().register("admin", PW);
    let doctor = create(&admin, "/api/doctors/", doctor_body("LIC-S1"));
    let patients = (0..patients)
        .map(|i| create(&admin, "/api/patients/", patient_body(&format!("P{i}"))))
        .collect();
    (admin, doctor, patients)
}

fn series_body(doctor: i64, patient: i64, first: &str, rule: &str, on_conflict: &str) -> Value {
    json!({"doctor": doctor, "patient": patient, "appointment_datetime": first,
           "duration_minutes": 30, "reason": "Physiotherapy", "rrule": rule,
           "timezone": "Europe/Berlin", "on_conflict": on_conflict})
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a date-time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Ten Mondays at 09:00 Berlin over the 2031-03-30 change: every occurrence at 09:00 local,
/// each an appointment naming the series; `?series=` and `GET /api/appointment-series/{id}/`
/// list exactly them.
fn weekly_series_keeps_the_wall_clock(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 1);
    let r = admin.post(
        "/api/appointment-series/",
        series_body(
            doctor,
            patients[0],
            "2031-03-10T08:00:00Z",
            "FREQ=WEEKLY;COUNT=10",
            "fail",
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/appointment-series/{id}/").as_str())
    );
    let created = r.body["created"].as_array().unwrap();
    assert_eq!(created.len(), 10);
    assert_eq!(r.body["skipped"], json!([]));
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    for a in created {
        let start = instant(&a["appointment_datetime"]).with_timezone(&berlin);
        assert_eq!((start.hour(), start.minute()), (9, 0), "{a}");
        assert_eq!(a["series"], id);
        assert_eq!(a["status"], "SCHEDULED");
    }
    // Before the change 08:00 UTC, after it 07:00 UTC.
    assert_eq!(created[2]["appointment_datetime"], "2031-03-24T08:00:00Z");
    assert_eq!(created[3]["appointment_datetime"], "2031-03-31T07:00:00Z");
    let listed = admin.get(&format!("/api/appointments/?series={id}"));
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total-count"), Some("10"));
    assert_eq!(listed.body.as_array().unwrap().len(), 10);
    let read = admin.get(&format!("/api/appointment-series/{id}/"));
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["created"].as_array().unwrap().len(), 10);
    assert_eq!(read.body["rrule"], "FREQ=WEEKLY;COUNT=10");
    assert_eq!(read.body["timezone"], "Europe/Berlin");
    assert_eq!(admin.get("/api/appointment-series/999999/").status, 404);
}

/// Two of eight occurrences collide (one with the doctor's booking, one with the patient's):
/// `fail` answers 409 listing both, what each hit, and books nothing; `skip` books the six
/// others and lists the two; a series whose every occurrence collides still answers 201.
fn fail_and_skip(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 3);
    let other_doctor = create(&admin, "/api/doctors/", doctor_body("LIC-S2"));
    // Week 3: the doctor is taken (another patient); week 6: the patient is (another doctor).
    create(
        &admin,
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patients[1],
        "appointment_datetime": "2031-05-19T07:15:00Z"}),
    );
    create(
        &admin,
        "/api/appointments/",
        json!({"doctor": other_doctor, "patient": patients[0],
        "appointment_datetime": "2031-06-09T07:00:00Z"}),
    );
    let body = |mode| {
        series_body(
            doctor,
            patients[0],
            "2031-05-05T07:00:00Z",
            "FREQ=WEEKLY;COUNT=8",
            mode,
        )
    };
    let refused = admin.post("/api/appointment-series/", body("fail"));
    assert_eq!(refused.status, 409, "{refused:?}");
    let occurrences = refused.body["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 2, "{}", refused.body);
    assert_eq!(
        occurrences[0]["appointment_datetime"],
        "2031-05-19T07:00:00Z"
    );
    assert_eq!(occurrences[0]["reason"], DOCTOR_CONFLICT);
    assert_eq!(occurrences[0]["conflicts"][0]["with"], "doctor");
    assert_eq!(
        occurrences[0]["conflicts"][0]["start"],
        "2031-05-19T07:15:00Z"
    );
    assert_eq!(
        occurrences[1]["appointment_datetime"],
        "2031-06-09T07:00:00Z"
    );
    assert_eq!(occurrences[1]["reason"], PATIENT_CONFLICT);
    assert_eq!(occurrences[1]["conflicts"][0]["with"], "patient");
    assert!(refused.body["non_field_errors"][0]
        .as_str()
        .unwrap()
        .contains("nothing was booked"));
    let booked = admin.get(&format!("/api/appointments/?doctor={doctor}"));
    assert_eq!(
        booked.header("x-total-count"),
        Some("1"),
        "the failed series booked nothing"
    );

    let skipped = admin.post("/api/appointment-series/", body("skip"));
    assert_eq!(skipped.status, 201, "{skipped:?}");
    assert_eq!(skipped.body["created"].as_array().unwrap().len(), 6);
    let reasons: Vec<(&str, &str)> = skipped.body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["appointment_datetime"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("2031-05-19T07:00:00Z", DOCTOR_CONFLICT),
            ("2031-06-09T07:00:00Z", PATIENT_CONFLICT)
        ]
    );
    // Every occurrence taken now: still 201, nothing created, everything skipped.
    let again = admin.post("/api/appointment-series/", body("skip"));
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["created"], json!([]));
    assert_eq!(again.body["skipped"].as_array().unwrap().len(), 8);
}

/// Rules past the bounds are 400s on `rrule`, never a cut; a series in the past skips what is
/// past; a patient account books a series for its own record only.
fn bounds_and_roles(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 1);
    for rule in [
        "FREQ=DAILY;COUNT=105",
        "FREQ=DAILY",
        "FREQ=YEARLY;COUNT=2",
        "FREQ=DAILY;COUNT=2;BYHOUR=9",
        "FREQ=DAILY;COUNT=x",
        "",
    ] {
        let r = admin.post(
            "/api/appointment-series/",
            series_body(doctor, patients[0], "2031-01-06T08:00:00Z", rule, "fail"),
        );
        assert_eq!(r.status, 400, "{rule}: {r:?}");
        assert!(r.body["rrule"].is_array(), "{rule}: {}", r.body);
    }
    // Rules the RFC forbids (which the expansion would have turned into other dates), and
    // occurrences past 2199, which a single booking refuses too: 400, nothing booked.
    for (start, rule) in [
        ("2031-02-04T10:00:00Z", "FREQ=WEEKLY;BYDAY=1MO;COUNT=3"),
        ("2031-02-04T10:00:00Z", "FREQ=DAILY;BYDAY=2TU;COUNT=3"),
        ("2031-02-04T10:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=0;COUNT=3"),
        ("2031-02-04T10:00:00Z", "FREQ=DAILY;UNTIL=20310101T000000Z"),
        ("2199-12-20T10:00:00Z", "FREQ=WEEKLY;COUNT=4"),
    ] {
        let r = admin.post(
            "/api/appointment-series/",
            series_body(doctor, patients[0], start, rule, "skip"),
        );
        assert_eq!(r.status, 400, "{rule}: {r:?}");
        assert!(r.body["rrule"].is_array(), "{rule}: {}", r.body);
        let booked = admin.get(&format!(
            "/api/appointments/?patient={}&date_from={}",
            patients[0],
            &start[..10]
        ));
        assert_eq!(booked.body, json!([]), "{rule}");
    }
    // A new time of day that would start the last day of 2199 in 2200 (UTC) west of UTC: 400,
    // nothing moved.
    let mut late = series_body(
        doctor,
        patients[0],
        "2199-12-31T20:00:00Z",
        "FREQ=DAILY;COUNT=1",
        "fail",
    );
    late["timezone"] = json!("America/Los_Angeles");
    let late = admin.post("/api/appointment-series/", late);
    assert_eq!(late.status, 201, "{late:?}");
    let moved = admin.patch(
        &format!("/api/appointment-series/{}/", late.body["id"]),
        json!({"scope": "all", "time_of_day": "23:00"}),
    );
    assert_eq!(moved.status, 400, "{moved:?}");
    assert!(moved.body["time_of_day"].is_array(), "{moved:?}");
    let kept = admin.get(&format!(
        "/api/appointments/{}/",
        late.body["created"][0]["id"]
    ));
    assert_eq!(
        kept.body["appointment_datetime"], "2199-12-31T20:00:00Z",
        "{kept:?}"
    );
    let exactly = admin.post(
        "/api/appointment-series/",
        series_body(
            doctor,
            patients[0],
            "2031-01-06T08:00:00Z",
            "FREQ=DAILY;COUNT=104",
            "fail",
        ),
    );
    assert_eq!(exactly.status, 201, "{exactly:?}");
    assert_eq!(exactly.body["created"].as_array().unwrap().len(), 104);
    let bad = admin.post(
        "/api/appointment-series/",
        json!({"doctor": doctor, "patient": patients[0],
        "appointment_datetime": "2031-09-01T08:00:00Z", "rrule": "FREQ=DAILY;COUNT=2",
        "on_conflict": "maybe", "timezone": "Mars/Olympus", "status": "PENDING"}),
    );
    assert_eq!(bad.status, 400);
    for field in ["on_conflict", "timezone", "status"] {
        assert!(bad.body[field].is_array(), "{field}: {}", bad.body);
    }
    // Parties that do not exist: the booking's 400, never the series row's foreign key.
    for (field, body) in [
        (
            "doctor",
            series_body(
                999_999,
                patients[0],
                "2031-09-01T08:00:00Z",
                "FREQ=DAILY;COUNT=2",
                "fail",
            ),
        ),
        (
            "patient",
            series_body(
                doctor,
                999_999,
                "2031-09-01T08:00:00Z",
                "FREQ=DAILY;COUNT=2",
                "fail",
            ),
        ),
    ] {
        let r = admin.post("/api/appointment-series/", body);
        assert_eq!(r.status, 400, "{field}: {r:?}");
        assert!(r.body[field].is_array(), "{field}: {}", r.body);
    }
    // Daily from two days ago: the past ones are skipped, the rest booked.
    let first = (Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:00Z")
        .to_string();
    let past = admin.post(
        "/api/appointment-series/",
        series_body(doctor, patients[0], &first, "FREQ=DAILY;COUNT=4", "skip"),
    );
    assert_eq!(past.status, 201, "{past:?}");
    let skipped = past.body["skipped"].as_array().unwrap();
    assert!(skipped.len() >= 2, "{}", past.body);
    assert_eq!(skipped[0]["reason"], "The time is in the past.");
    // A patient account: its own record yes, someone else's no.
    let pat = server.client().register("pat", PW);
    let own = create(&pat, "/api/patients/", patient_body("Own"));
    let mine = pat.post(
        "/api/appointment-series/",
        series_body(
            doctor,
            own,
            "2032-02-02T08:00:00Z",
            "FREQ=WEEKLY;COUNT=3",
            "fail",
        ),
    );
    assert_eq!(mine.status, 201, "{mine:?}");
    let theirs = pat.post(
        "/api/appointment-series/",
        series_body(
            doctor,
            patients[0],
            "2032-03-01T08:00:00Z",
            "FREQ=WEEKLY;COUNT=3",
            "fail",
        ),
    );
    assert_eq!(theirs.status, 400, "{theirs:?}");
    assert_eq!(
        pat.get(&format!("/api/appointment-series/{}/", exactly.id()))
            .status,
        404
    );
    assert_eq!(
        pat.get(&format!("/api/appointment-series/{}/", mine.id()))
            .status,
        200
    );
}

/// A `skip` series of eight weekly occurrences races eight single bookings of the same slots
/// (other patients), all released together: every slot ends with exactly one booking, the
/// series' `created` plus the singles' 201s make eight, and no two of the doctor's
/// appointments overlap.
fn series_races_single_bookings(server: &Server) {
    const WEEKS: usize = 8;
    let (admin, doctor, patients) = clinic(server, WEEKS + 1);
    let token = admin.token.clone().unwrap();
    let barrier = Arc::new(Barrier::new(WEEKS + 1));
    let series = {
        let (client, barrier) = (server.client().with_token(&token), barrier.clone());
        let body = series_body(
            doctor,
            patients[0],
            "2033-01-03T08:00:00Z",
            "FREQ=WEEKLY;COUNT=8",
            "skip",
        );
        std::thread::spawn(move || {
            barrier.wait();
            client.post("/api/appointment-series/", body)
        })
    };
    let singles: Vec<_> = (0..WEEKS)
        .map(|week| {
            let (client, barrier) = (server.client().with_token(&token), barrier.clone());
            let at = (DateTime::parse_from_rfc3339("2033-01-03T08:00:00Z").unwrap()
                + chrono::Duration::weeks(week as i64))
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
            let body = json!({"doctor": doctor, "patient": patients[week + 1], "appointment_datetime": at});
            std::thread::spawn(move || {
                barrier.wait();
                client.post("/api/appointments/", body)
            })
        })
        .collect();
    let series = series.join().unwrap();
    assert_eq!(series.status, 201, "{series:?}");
    let mut won = series.body["created"].as_array().unwrap().len();
    for single in singles {
        let r = single.join().unwrap();
        match r.status {
            201 => won += 1,
            409 => assert_eq!(r.body["non_field_errors"][0], DOCTOR_CONFLICT, "{r:?}"),
            _ => panic!("{r:?}"),
        }
    }
    assert_eq!(won, WEEKS, "each slot has exactly one booking");
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
    assert_eq!(spans.len(), WEEKS);
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlap: {pair:?}");
    }
}

/// Changes of a series by scope, on six Mondays at 09:00 Berlin over the 2031-03-30 change:
/// `this` moves one occurrence, `following` the named one and every later one (at the same
/// wall-clock time on each side of the change), a change that meets a booking fails whole
/// (409 naming the occurrence) and changes nothing, `all` cancels what is left; bad bodies and
/// occurrences are 400s, an unknown series a 404.
fn changes_by_scope(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 2);
    let r = admin.post(
        "/api/appointment-series/",
        series_body(
            doctor,
            patients[0],
            "2031-03-17T08:00:00Z",
            "FREQ=WEEKLY;COUNT=6",
            "fail",
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let sid = r.id();
    let path = format!("/api/appointment-series/{sid}/");
    let ids: Vec<i64> = r.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let local = |series: &Value| -> Vec<(u32, u32, i64, String)> {
        series["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let t = instant(&a["appointment_datetime"]).with_timezone(&berlin);
                (
                    t.hour(),
                    t.minute(),
                    a["duration_minutes"].as_i64().unwrap(),
                    a["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let sched = |h, m, d| (h, m, d, "SCHEDULED".to_owned());
    // `this`: the second occurrence alone, to 10:30.
    let r = admin.patch(
        &path,
        json!({"scope": "this", "occurrence": ids[1], "time_of_day": "10:30", "reason": "Moved"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        local(&r.body),
        vec![
            sched(9, 0, 30),
            sched(10, 30, 30),
            sched(9, 0, 30),
            sched(9, 0, 30),
            sched(9, 0, 30),
            sched(9, 0, 30)
        ]
    );
    assert_eq!(
        admin.get(&format!("/api/appointments/{}/", ids[1])).body["reason"],
        "Moved"
    );
    // `following` from the third (2031-03-31, after the change): 11:00 local, 45 minutes.
    let r = admin.patch(&path, json!({"scope": "following", "occurrence": ids[2], "time_of_day": "11:00", "duration_minutes": 45}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        local(&r.body),
        vec![
            sched(9, 0, 30),
            sched(10, 30, 30),
            sched(11, 0, 45),
            sched(11, 0, 45),
            sched(11, 0, 45),
            sched(11, 0, 45)
        ]
    );
    assert_eq!(
        r.body["created"][2]["appointment_datetime"],
        "2031-03-31T09:00:00Z"
    );
    // Another patient's booking with the doctor at 14:00 local on the fifth Monday: moving
    // every occurrence to 14:00 fails whole and names the fifth.
    let taken = create(
        &admin,
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patients[1], "appointment_datetime": "2031-04-14T12:00:00Z"}),
    );
    let before = admin.get(&path).body;
    let r = admin.patch(&path, json!({"scope": "all", "time_of_day": "14:00"}));
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(
        r.body["non_field_errors"][0],
        "1 occurrence(s) of the series cannot be changed; nothing was changed."
    );
    assert_eq!(
        r.body["occurrences"],
        json!([{"id": ids[4], "appointment_datetime": "2031-04-14T12:00:00Z", "reason": DOCTOR_CONFLICT,
                "conflicts": [{"with": "doctor", "id": taken, "start": "2031-04-14T12:00:00Z", "end": "2031-04-14T12:30:00Z"}]}])
    );
    assert_eq!(admin.get(&path).body, before, "nothing changed");
    // Bad bodies and occurrences.
    for (body, field) in [
        (json!({"time_of_day": "10:00"}), "scope"),
        (
            json!({"scope": "sometimes", "time_of_day": "10:00"}),
            "scope",
        ),
        (
            json!({"scope": "this", "time_of_day": "10:00"}),
            "occurrence",
        ),
        (
            json!({"scope": "all", "time_of_day": "25:00"}),
            "time_of_day",
        ),
        (json!({"scope": "all", "status": "COMPLETED"}), "status"),
        (json!({"scope": "all"}), "non_field_errors"),
        (
            json!({"scope": "all", "status": "CANCELLED", "time_of_day": "10:00"}),
            "non_field_errors",
        ),
        (
            json!({"scope": "this", "occurrence": taken, "reason": "x"}),
            "occurrence",
        ),
    ] {
        let r = admin.patch(&path, body.clone());
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert!(r.body[field].is_array(), "{body}: {r:?}");
    }
    assert_eq!(
        admin
            .patch(
                "/api/appointment-series/999999/",
                json!({"scope": "all", "reason": "x"})
            )
            .status,
        404
    );
    // `all` cancels every future SCHEDULED occurrence; a cancelled one cannot be named after.
    let r = admin.patch(&path, json!({"scope": "all", "status": "CANCELLED"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body["created"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "CANCELLED"),
        "{r:?}"
    );
    let r = admin.patch(
        &path,
        json!({"scope": "this", "occurrence": ids[0], "reason": "x"}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body["occurrence"][0],
        "Only a future SCHEDULED occurrence can be changed."
    );
    // The freed slot can be booked again.
    assert_eq!(
        admin.post("/api/appointments/", json!({"doctor": doctor, "patient": patients[1], "appointment_datetime": "2031-03-17T08:00:00Z"})).status,
        201
    );
}

http_test! {
    weekly_series_keeps_the_wall_clock => weekly_series_keeps_the_wall_clock;
    fail_and_skip => fail_and_skip;
    bounds_and_roles => bounds_and_roles;
    series_races_single_bookings => series_races_single_bookings;
    changes_by_scope => changes_by_scope;
}
