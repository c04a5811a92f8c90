//! Email notifications against the real binary on SQLite and PostgreSQL (docs/notifications.md,
//! "Email"). A real SMTP server, aiosmtpd (`tests/mail/smtp_sink.py`, started here), takes the
//! mails; each one's calendar attachment is parsed by the `icalendar` library, an RFC 5545
//! parser that is not ours. The server refuses the first two mails with a temporary failure
//! (451), so retries are exercised too.
//!
//! A booking, a reschedule and a cancellation mail the patient and the doctor (`METHOD:REQUEST`,
//! then `CANCEL`, one UID, a growing SEQUENCE); a patient record without an email is mailed at
//! its owning account's address; a doctor without one gets nothing; times show in the doctor's
//! working-hours zone, else `HEALTHCARE_TIMEZONE`; no reason reaches a mail; an appointment
//! inside the reminder window gets one reminder mail; every mail is sent once and leaves an
//! `export` audit event naming the patient.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use healthcare_testing::{Client, Helper, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
/// The SMTP server and the calendar parser, pinned.
const PACKAGES: [&str; 3] = ["aiosmtpd==1.4.6", "icalendar==6.3.2", "trustme==1.2.1"];
/// A reason no mail may carry.
const REASON: &str = "Chest pain since Tuesday";

fn smtp_sink() -> Helper {
    let python = healthcare_testing::python_venv("mail", &PACKAGES);
    Helper::start(
        &python,
        "tests/mail/smtp_sink.py",
        &[],
        &[("REFUSE_FIRST", "2")],
    )
}

fn doctor(admin: &Client, last: &str, email: &str) -> i64 {
    let r = admin.post(
        "/api/doctors/",
        json!({"first_name": "Ada", "last_name": last, "specialization": "GP",
               "contact_number": "555 0101", "email": email,
               "license_number": format!("MAIL-{last}"), "hospital": "General"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.id()
}

fn patient(client: &Client, first: &str, email: &str) -> i64 {
    let r = client.post(
        "/api/patients/",
        json!({"first_name": first, "last_name": "Mailer", "date_of_birth": "1980-02-03",
               "gender": "F", "contact_number": "555 0100", "email": email}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.id()
}

fn book(admin: &Client, doctor: i64, patient: i64, start: &str) -> i64 {
    let r = admin.post(
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patient, "appointment_datetime": start,
               "reason": REASON}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.id()
}

/// Waits until the sink holds `n` mails (then a little longer, to see any extra one).
fn mails(sink: &Helper, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = sink.lines();
        if lines.len() >= n {
            std::thread::sleep(Duration::from_millis(1500));
            return sink.lines();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} mails arrived: {lines:#?}",
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The mails to `to` whose subject starts with `subject`.
fn to<'a>(mails: &'a [Value], to: &str, subject: &str) -> Vec<&'a Value> {
    mails
        .iter()
        .filter(|m| {
            m["rcpt_tos"] == json!([to]) && m["subject"].as_str().unwrap().starts_with(subject)
        })
        .collect()
}

fn one<'a>(mails: &'a [Value], rcpt: &str, subject: &str) -> &'a Value {
    let found = to(mails, rcpt, subject);
    assert_eq!(found.len(), 1, "one {subject:?} mail to {rcpt}: {mails:#?}");
    found[0]
}

fn mail_notifications(backend: &str) {
    let sink = smtp_sink();
    let settings = TestApp::on(backend).envs(&[
        (
            "HEALTHCARE_SMTP_URL",
            &format!("smtp://127.0.0.1:{}", sink.port),
        ),
        ("HEALTHCARE_MAIL_FROM", "Clinic <desk@clinic.example>"),
        ("HEALTHCARE_TIMEZONE", "America/New_York"),
        ("HEALTHCARE_WEBHOOK_BACKOFF_SCALE", "0.001"),
    ]);
    let Some(app) = settings.start() else {
        return;
    };
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let berlin = doctor(&admin, "Lovelace", "lovelace@clinic.example");
    let weekly: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "08:00", "end": "18:00"}))
        .collect();
    let hours = admin.send(
        "PUT",
        &format!("/api/doctors/{berlin}/working-hours/"),
        Some(&json!({"timezone": "Europe/Berlin", "weekly": weekly})),
    );
    assert_eq!(hours.status, 200, "{hours:?}");
    let silent = doctor(&admin, "Hopper", "");
    let ann = patient(&admin, "Ann", "ann@example.org");
    // A patient record without an email, owned by an account with one.
    let registered = anon.post(
        "/api/auth/register/",
        json!({"username": "owner", "email": "owner@example.org", "password": PW}),
    );
    assert_eq!(registered.status, 201, "{registered:?}");
    let owner = anon.login("owner", PW);
    let bea = patient(&owner, "Bea", "");

    // Monday 2 March 2036, 09:00 UTC: 10:00 in Berlin.
    let first = book(&admin, berlin, ann, "2036-03-03T09:00:00Z");
    let moved = admin.patch(
        &format!("/api/appointments/{first}/"),
        json!({"appointment_datetime": "2036-03-03T11:00:00Z"}),
    );
    assert_eq!(moved.status, 200, "{moved:?}");
    let cancelled = admin.patch(
        &format!("/api/appointments/{first}/"),
        json!({"status": "CANCELLED", "cancellation_reason": "Patient asked"}),
    );
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let second = book(&admin, silent, bea, "2036-03-03T15:00:00Z");
    // Inside the 24-hour reminder window.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:00Z")
        .to_string();
    let cy = patient(&admin, "Cy", "cy@example.org");
    let third = book(&admin, silent, cy, &soon);

    // 3 x 2 about the first appointment, 1 about the second (its doctor has no address), and
    // 2 about the third (the booking and its reminder, to the patient only).
    let all = mails(&sink, 9);
    let subjects: Vec<String> = all
        .iter()
        .map(|m| format!("{} {}", m["rcpt_tos"][0], m["subject"]))
        .collect();
    assert_eq!(all.len(), 9, "every mail once: {subjects:#?}");
    for m in &all {
        assert_eq!(m["mail_from"], "desk@clinic.example");
        assert!(
            !m["raw"].as_str().unwrap().contains(REASON),
            "a reason in {m}"
        );
        let cal = &m["calendar"];
        assert!(cal["error"].is_null(), "the calendar does not parse: {cal}");
        assert_eq!(cal["version"], "2.0");
        assert_eq!(cal["events"], 1);
        assert!(
            cal["content_type"]
                .as_str()
                .unwrap()
                .starts_with("text/calendar"),
            "{cal}"
        );
    }

    let uid = format!("appointment-{first}@clinic.example");
    let mut sequences = Vec::new();
    for (rcpt, booked) in [
        ("ann@example.org", "Appointment confirmed"),
        ("lovelace@clinic.example", "Appointment booked"),
    ] {
        let booked = one(&all, rcpt, booked);
        let moved = one(&all, rcpt, "Appointment moved");
        let gone = one(&all, rcpt, "Appointment cancelled");
        for (m, method, status) in [
            (booked, "REQUEST", "CONFIRMED"),
            (moved, "REQUEST", "CONFIRMED"),
            (gone, "CANCEL", "CANCELLED"),
        ] {
            assert_eq!(m["calendar"]["method"], method, "{m}");
            assert_eq!(m["calendar"]["status"], status, "{m}");
            assert_eq!(m["calendar"]["uid"], uid.as_str(), "{m}");
            assert_eq!(m["calendar"]["attendee"], format!("mailto:{rcpt}").as_str());
        }
        assert_eq!(booked["calendar"]["dtstart"], "2036-03-03T09:00:00+00:00");
        assert_eq!(booked["calendar"]["dtend"], "2036-03-03T09:30:00+00:00");
        assert_eq!(moved["calendar"]["dtstart"], "2036-03-03T11:00:00+00:00");
        assert!(booked["subject"]
            .as_str()
            .unwrap()
            .contains("10:00 (Europe/Berlin)"));
        assert!(moved["text"]
            .as_str()
            .unwrap()
            .contains("12:00 (Europe/Berlin)"));
        let seq = |m: &Value| m["calendar"]["sequence"].as_i64().unwrap();
        assert!(
            seq(booked) < seq(moved) && seq(moved) <= seq(gone),
            "{all:#?}"
        );
        sequences.push((seq(booked), seq(moved), seq(gone)));
    }
    let ann_booked = one(&all, "ann@example.org", "Appointment confirmed");
    assert_eq!(
        ann_booked["calendar"]["summary"],
        "Appointment with Dr. Lovelace"
    );
    assert!(ann_booked["text"]
        .as_str()
        .unwrap()
        .contains("Dr. Ada Lovelace"));
    let doc_booked = one(&all, "lovelace@clinic.example", "Appointment booked");
    assert_eq!(doc_booked["calendar"]["summary"], "Appointment");
    assert!(
        !doc_booked["raw"].as_str().unwrap().contains("Ann"),
        "{doc_booked}"
    );

    // The owner's address, the fallback zone, nothing for a doctor without an address.
    let bea_mail = one(&all, "owner@example.org", "Appointment confirmed");
    assert_eq!(
        bea_mail["calendar"]["uid"],
        format!("appointment-{second}@clinic.example").as_str()
    );
    assert!(bea_mail["subject"]
        .as_str()
        .unwrap()
        .contains("10:00 (America/New_York)"));
    one(&all, "cy@example.org", "Appointment confirmed");
    let reminder = one(&all, "cy@example.org", "Appointment reminder");
    assert_eq!(
        reminder["calendar"]["uid"],
        format!("appointment-{third}@clinic.example").as_str()
    );
    assert_eq!(reminder["calendar"]["method"], "REQUEST");

    // Every mail the server took left an export event naming its patient.
    let audit = admin.get("/api/audit/?resource=email&action=export&limit=1000");
    assert_eq!(audit.status, 200, "{audit:?}");
    let events = audit.body.as_array().unwrap();
    let accepted: Vec<&Value> = events.iter().filter(|e| e["status"] == 250).collect();
    assert_eq!(accepted.len(), 9, "{events:#?}");
    assert!(
        events.iter().filter(|e| e["status"] == 0).count() >= 2,
        "the refused attempts: {events:#?}"
    );
    assert!(accepted
        .iter()
        .filter(|e| e["resource_id"] == first)
        .all(|e| e["patients"] == json!([ann])));
    healthcare_testing::report(&format!(
        "mail[{backend}]: 9 mails through aiosmtpd after 2 refusals, calendars parsed by \
         icalendar, sequences {sequences:?}"
    ));
    drop(app);
}

#[test]
fn mail_sqlite() {
    mail_notifications("sqlite");
}

#[test]
fn mail_postgres() {
    mail_notifications("postgres");
}

/// A mail server slower than the delivery timeout over a whole exchange, though no single
/// command takes that long (each MAIL FROM and RCPT TO is answered after 6 s, against a 10 s
/// timeout): the attempt is dropped at the timeout, before the message is handed over, and
/// recorded as failed, so no mail attempt outlives its lease (docs/notifications.md). Before
/// the whole exchange was bounded, the server took this mail after about 12 s.
fn slow_mail_server(backend: &str) {
    let python = healthcare_testing::python_venv("mail", &PACKAGES);
    let sink = Helper::start(
        &python,
        "tests/mail/smtp_sink.py",
        &[],
        &[("STEP_DELAY", "6")],
    );
    let settings = TestApp::on(backend).envs(&[
        (
            "HEALTHCARE_SMTP_URL",
            &format!("smtp://127.0.0.1:{}", sink.port),
        ),
        ("HEALTHCARE_MAIL_FROM", "desk@clinic.example"),
    ]);
    let Some(app) = settings.start() else {
        return;
    };
    let admin = app.client().register("admin", PW);
    let doctor = doctor(&admin, "Slow", "");
    let ann = patient(&admin, "Ann", "ann@example.org");
    let booked_at = Instant::now();
    let booked = book(&admin, doctor, ann, "2031-03-04T10:00:00Z");

    let deadline = booked_at + Duration::from_secs(40);
    let attempt = loop {
        let audit = admin.get("/api/audit/?resource=email&action=export");
        assert_eq!(audit.status, 200, "{audit:?}");
        if let Some(event) = audit.body.as_array().unwrap().first() {
            break event.clone();
        }
        assert!(Instant::now() < deadline, "no mail attempt was recorded");
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = booked_at.elapsed();
    assert_eq!(attempt["status"], 0, "the attempt failed: {attempt:#?}");
    assert_eq!(attempt["resource_id"], booked, "{attempt:#?}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(16),
        "the attempt ended at the 10 s timeout, not {took:?} after the booking"
    );
    // The server never got the message: each exchange was dropped while the server held its
    // RCPT TO, before DATA (a retry, 5 s later, fares the same).
    std::thread::sleep(Duration::from_secs(4));
    let lines = sink.lines();
    let commands: Vec<&str> = lines.iter().filter_map(|l| l["command"].as_str()).collect();
    assert_eq!(commands.get(..2), Some(&["MAIL", "RCPT"][..]), "{lines:#?}");
    assert_eq!(
        lines.len(),
        commands.len(),
        "no message was handed over: {lines:#?}"
    );
    healthcare_testing::report(&format!(
        "mail[{backend}]: a server answering each command after 6 s: the attempt dropped \
         after {:.1} s (timeout 10 s), recorded as failed, no message handed over",
        took.as_secs_f64()
    ));
    drop(app);
}

#[test]
fn slow_mail_server_sqlite() {
    slow_mail_server("sqlite");
}

#[test]
fn slow_mail_server_postgres() {
    slow_mail_server("postgres");
}

/// Mail over TLS to a relay with a private CA's certificate (`HEALTHCARE_SMTP_CA_FILE`):
/// STARTTLS required by the server (it refuses MAIL before STARTTLS) and asked for by
/// `?tls=required`, and TLS from the first byte (`smtps://`). Without the CA the certificate is
/// refused and nothing is sent, not even in the clear after the failed handshake
/// (`smtp://` without `tls=`: STARTTLS when offered).
fn mail_over_tls(backend: &str) {
    let python = healthcare_testing::python_venv("mail", &PACKAGES);
    let mut sent = Vec::new();
    for (tls, scheme, query, trusted) in [
        ("starttls", "smtp", "?tls=required", true),
        ("implicit", "smtps", "", true),
        ("starttls", "smtp", "", false),
    ] {
        let sink = Helper::start(&python, "tests/mail/smtp_sink.py", &[], &[("TLS", tls)]);
        let url = format!("{scheme}://127.0.0.1:{}{query}", sink.port);
        let ca = sink.file("ca.pem").display().to_string();
        let mut env = vec![
            ("HEALTHCARE_SMTP_URL", url.as_str()),
            ("HEALTHCARE_MAIL_FROM", "desk@clinic.example"),
        ];
        if trusted {
            env.push(("HEALTHCARE_SMTP_CA_FILE", ca.as_str()));
        }
        let Some(app) = TestApp::on(backend).envs(&env).start() else {
            return;
        };
        let admin = app.client().register("admin", PW);
        let doctor = doctor(&admin, "Tls", "");
        let ann = patient(&admin, "Ann", "ann@example.org");
        let booked = book(&admin, doctor, ann, "2031-03-04T10:00:00Z");
        if trusted {
            let mails = mails(&sink, 1);
            assert_eq!(mails.len(), 1, "{tls}: {mails:#?}");
            assert_eq!(mails[0]["rcpt_tos"], json!(["ann@example.org"]), "{tls}");
            sent.push(format!("{scheme}{query}"));
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let attempt = loop {
            let audit = admin.get("/api/audit/?resource=email&action=export");
            if let Some(event) = audit.body.as_array().and_then(|a| a.first()) {
                break event.clone();
            }
            assert!(Instant::now() < deadline, "no mail attempt was recorded");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(
            (&attempt["status"], &attempt["resource_id"]),
            (&json!(0), &json!(booked)),
            "an untrusted certificate: the attempt failed {attempt:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            sink.lines(),
            Vec::<Value>::new(),
            "nothing sent in the clear"
        );
    }
    healthcare_testing::report(&format!(
        "mail[{backend}]: through aiosmtpd over TLS with a private CA ({}); without the CA \
         the attempt failed and nothing was sent",
        sent.join(", ")
    ));
}

#[test]
fn mail_over_tls_sqlite() {
    mail_over_tls("sqlite");
}

#[test]
fn mail_over_tls_postgres() {
    mail_over_tls("postgres");
}

/// A half-configured mailer refuses to start, naming both settings (exit code 2).
#[test]
fn mail_settings_come_in_pairs() {
    let db = TestApp::sqlite().database().expect("a database");
    for (name, value) in [
        ("HEALTHCARE_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("HEALTHCARE_MAIL_FROM", "desk@clinic.example"),
    ] {
        let launch = TestApp::sqlite()
            .env(name, value)
            .launch(&db.url, Duration::from_secs(20));
        assert_eq!(launch.code, Some(2), "{launch:?}");
        assert!(
            launch
                .stderr
                .contains("HEALTHCARE_SMTP_URL and HEALTHCARE_MAIL_FROM"),
            "{launch:?}"
        );
    }
    let launch = TestApp::sqlite()
        .env("HEALTHCARE_SMTP_URL", "http://mail.example")
        .launch(&db.url, Duration::from_secs(20));
    assert_eq!(launch.code, Some(2), "{launch:?}");
    // A CA file that is missing or holds no certificate.
    let empty = std::env::temp_dir().join(format!("hc-no-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for file in [empty.as_path(), std::path::Path::new("/nonexistent/ca.pem")] {
        let launch = TestApp::sqlite()
            .env("HEALTHCARE_SMTP_CA_FILE", &file.display().to_string())
            .launch(&db.url, Duration::from_secs(20));
        assert_eq!(launch.code, Some(2), "{launch:?}");
        assert!(
            launch.stderr.contains("SMTP_CA_FILE") || launch.stderr.contains("smtp-ca-file"),
            "{launch:?}"
        );
    }
    let _ = std::fs::remove_file(&empty);
}
