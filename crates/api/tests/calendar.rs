//! Calendar feeds from outside, on SQLite and PostgreSQL: each feed is parsed by the `icalendar`
//! library (an independent RFC 5545 parser); it shows what the reader may see, from 30 days
//! back to 365 ahead, with stable UIDs, SEQUENCE bumped by each change, the status, and no
//! medical details; the calendar token reads the two feeds and nothing else, and a new token,
//! a revocation and a password change end it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration, Utc};
use healthcare_testing::{http_test, Client, Reply, Server};
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::{Command, Stdio};

const PW: &str = "correct horse battery";

/// The feed as the `icalendar` library reads it.
fn parse(feed: &Reply) -> Value {
    assert_eq!(feed.status, 200, "{feed:?}");
    assert_eq!(
        feed.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    assert_eq!(feed.header("cache-control"), Some("private, no-store"));
    let python = healthcare_testing::python_venv("calendar", &["icalendar==6.3.2"]);
    let mut child = Command::new(python)
        .arg(healthcare_testing::workspace_root().join("tests/calendar/parse_ics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(feed.text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(parsed.get("error").is_none(), "{parsed}\n{}", feed.text);
    assert_eq!(parsed["version"], "2.0");
    assert_eq!(parsed["method"], Value::Null);
    assert_eq!(parsed["crlf"], true);
    assert!(parsed["longest_line"].as_u64().unwrap() <= 75, "{parsed}");
    parsed
}

/// `(uid, sequence, status, summary)` of each event, in order.
fn events(parsed: &Value) -> Vec<(String, i64, String, String)> {
    parsed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["description"], Value::Null, "no details: {e}");
            (
                e["uid"].as_str().unwrap().to_owned(),
                e["sequence"].as_i64().unwrap(),
                e["status"].as_str().unwrap().to_owned(),
                e["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn uid(id: i64) -> String {
    format!("appointment-{id}@healthcare.invalid")
}

fn at(days: i64, hour: i64) -> String {
    let day = (Utc::now() + Duration::days(days)).date_naive();
    format!("{day}T{hour:02}:00:00Z")
}

fn book(admin: &Client, doctor: i64, patient: i64, when: String, status: &str) -> i64 {
    let r = admin.post(
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patient, "appointment_datetime": when,
               "reason": "Private matter", "status": status}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.id()
}

fn feeds_show_what_the_reader_may_see(server: &Server) {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let doctor = admin
        .post(
            "/api/doctors/",
            json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
                   "contact_number": "555 0101", "license_number": "LIC-C1", "hospital": "PPTH"}),
        )
        .id();
    let pat = anon.register("pat", PW);
    let own = pat.post(
        "/api/patients/",
        json!({"first_name": "Zelda", "last_name": "Quartz", "date_of_birth": "1985-02-03",
               "gender": "F", "contact_number": "555 0100"}),
    );
    assert_eq!(own.status, 201, "{own:?}");
    let own = own.id();
    let other = admin
        .post(
            "/api/patients/",
            json!({"first_name": "Otto", "last_name": "Other", "date_of_birth": "1980-01-01",
                   "gender": "M", "contact_number": "555 0102"}),
        )
        .id();
    let first = book(&admin, doctor, own, at(2, 9), "SCHEDULED");
    let others = book(&admin, doctor, other, at(3, 9), "SCHEDULED");
    let held = book(&admin, doctor, own, at(4, 9), "PENDING");
    book(&admin, doctor, own, at(400, 9), "SCHEDULED");

    // The doctor's feed for staff: every appointment in the window, earliest first.
    let feed = admin.get(&format!("/api/doctors/{doctor}/calendar.ics"));
    // Served with a trailing slash too, as every path is.
    let slashed = admin.get(&format!("/api/doctors/{doctor}/calendar.ics/"));
    assert_eq!(
        events(&parse(&slashed)),
        events(&parse(&feed)),
        "{slashed:?}"
    );
    assert!(
        !feed.text.contains("Zelda") && !feed.text.contains("Private"),
        "{}",
        feed.text
    );
    assert_eq!(
        events(&parse(&feed)),
        vec![
            (uid(first), 0, "CONFIRMED".into(), "Appointment".into()),
            (uid(others), 0, "CONFIRMED".into(), "Appointment".into()),
            (uid(held), 0, "TENTATIVE".into(), "Appointment".into()),
        ]
    );

    // The patient's token: their own feed, and the doctor's feed with their own appointments.
    let made = pat.post("/api/auth/calendar-token/", json!({}));
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(made.header("location"), Some("/api/auth/calendar-token/"));
    let token = made.body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let with = |path: &str, token: &str| anon.get(&format!("{path}?token={token}"));
    let mine = parse(&with(&format!("/api/patients/{own}/calendar.ics"), &token));
    let summary = "Appointment with Dr. House".to_owned();
    assert_eq!(
        events(&mine),
        vec![
            (uid(first), 0, "CONFIRMED".into(), summary.clone()),
            (uid(held), 0, "TENTATIVE".into(), summary.clone()),
        ]
    );
    assert_eq!(
        mine["events"][0]["dtstart"],
        format!("{}+00:00", at(2, 9).trim_end_matches('Z'))
    );
    let theirs = parse(&with(
        &format!("/api/doctors/{doctor}/calendar.ics"),
        &token,
    ));
    assert_eq!(events(&theirs).len(), 2);
    // Someone else's patient is not found; the token works nowhere else.
    assert_eq!(
        with(&format!("/api/patients/{other}/calendar.ics"), &token).status,
        404
    );
    assert_eq!(with(&format!("/api/patients/{own}/"), &token).status, 401);
    assert_eq!(
        anon.with_token(&token)
            .get(&format!("/api/patients/{own}/calendar.ics"))
            .status,
        401
    );
    assert_eq!(
        anon.get(&format!("/api/patients/{own}/calendar.ics"))
            .status,
        401
    );
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), "0000").status,
        401
    );

    // The audit trail recorded the feed reads (with the patients they showed), never the
    // token (the trail drops `token` parameters).
    let me = pat.get("/api/auth/me/").id();
    let path = format!("/api/audit/?resource=appointment&action=list&actor={me}&limit=1000");
    let mut trail = admin.get(&path);
    // (Reads are group-committed: give the writer a moment.)
    for _ in 0..50 {
        if trail.body.as_array().is_some_and(|a| a.len() >= 3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        trail = admin.get(&path);
    }
    assert_eq!(trail.status, 200, "{trail:?}");
    let reads: Vec<&Value> = trail
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 200)
        .collect();
    assert_eq!(reads.len(), 2, "{trail:?}");
    assert!(
        reads.iter().all(|e| e["patients"] == json!([own])),
        "{trail:?}"
    );
    assert!(!trail.text.contains(&token), "{}", trail.text);

    // Each change bumps SEQUENCE; a cancellation shows as CANCELLED with the same UID.
    assert_eq!(
        admin
            .patch(
                &format!("/api/appointments/{first}/"),
                json!({"reason": "Other"})
            )
            .status,
        200
    );
    assert_eq!(
        admin
            .patch(
                &format!("/api/appointments/{first}/"),
                json!({"status": "CANCELLED"})
            )
            .status,
        200
    );
    let after = events(&parse(&with(
        &format!("/api/patients/{own}/calendar.ics"),
        &token,
    )));
    assert_eq!(after[0], (uid(first), 2, "CANCELLED".into(), summary));

    // A new token replaces the old; DELETE revokes; a password change revokes.
    let again = pat.post("/api/auth/calendar-token/", json!({})).body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), &token).status,
        401
    );
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), &again).status,
        200
    );
    assert_eq!(pat.delete("/api/auth/calendar-token/").status, 204);
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), &again).status,
        401
    );
    let last = pat.post("/api/auth/calendar-token/", json!({})).body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), &last).status,
        200
    );
    let changed = pat.post(
        "/api/auth/password/",
        json!({"old_password": PW, "new_password": "another correct horse"}),
    );
    assert_eq!(changed.status, 204, "{changed:?}");
    assert_eq!(
        with(&format!("/api/patients/{own}/calendar.ics"), &last).status,
        401
    );
}

http_test! {
    feeds_show_what_the_reader_may_see => feeds_show_what_the_reader_may_see;
}
