//! Webhooks against the real binary on SQLite and PostgreSQL (docs/notifications.md).
//!
//! `subscriptions`: the admin-only API, the secret shown once, and private targets refused.
//!
//! `deliveries`: a real receiver (`tests/webhooks/receiver.py`, started here) verifies every
//! request with the Standard Webhooks reference library for Python and answers 500 to a third
//! of them at random; the server is killed with SIGKILL in the middle of the load and started
//! again (on PostgreSQL a second process serves beside it). Every event of every answered
//! change arrives, verified, at least once; the delivery log shows the failed attempts.
//!
//! `outages`: a receiver that is down for a while gets every event once it is back; one that
//! answers only after the 10-second timeout sees the attempt fail and the event sent again.
//!
//! `reminders`: `appointment.reminder` once per appointment and start time, again after a
//! reschedule, never for a cancelled or a far appointment.
//!
//! `slow_deliveries_never_outlive_their_leases`: a pass of more slow deliveries than its
//! leases last gives the rest back; a second process never attempts one at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use healthcare_testing::{Client, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
/// The receiver's verifying library, pinned.
const STANDARDWEBHOOKS: &str = "standardwebhooks==1.3.0";

fn subscriptions(backend: &str) {
    let Some(app) = TestApp::on(backend).start() else {
        return;
    };
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let staff_id = admin
        .post(
            "/api/users/",
            json!({"username": "staff", "password": PW, "role": "staff"}),
        )
        .id();
    assert!(staff_id > 0);
    let staff = anon.login("staff", PW);

    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/x",
    ] {
        let r = admin.post(
            "/api/webhooks/",
            json!({"url": url, "events": ["appointment.created"]}),
        );
        assert_eq!(r.status, 400, "{url}: {r:?}");
        assert!(r.body["url"][0].as_str().is_some(), "{r:?}");
    }
    let bad = admin.post(
        "/api/webhooks/",
        json!({"url": "ftp://x", "events": ["nope"]}),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["events"].is_array() && bad.body["url"].is_array(),
        "{bad:?}"
    );

    let body = json!({"url": "http://93.184.216.34/hook", "events": ["appointment.created"],
                      "description": "front desk", "reminder_minutes": [1440, 60]});
    assert_eq!(staff.post("/api/webhooks/", body.clone()).status, 403);
    assert_eq!(anon.post("/api/webhooks/", body.clone()).status, 401);
    let created = admin.post("/api/webhooks/", body);
    assert_eq!(created.status, 201, "{created:?}");
    let secret = created.body["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    let id = created.id();
    let got = admin.get(&format!("/api/webhooks/{id}/"));
    assert_eq!(got.status, 200);
    assert!(
        got.body.get("secret").is_none(),
        "the secret is shown once: {got:?}"
    );
    assert_eq!(got.body["reminder_minutes"], json!([1440, 60]));
    assert_eq!(staff.get(&format!("/api/webhooks/{id}/")).status, 403);
    let changed = admin.patch(
        &format!("/api/webhooks/{id}/"),
        json!({"url": "http://127.0.0.1/x"}),
    );
    assert_eq!(changed.status, 400, "{changed:?}");
    let changed = admin.patch(
        &format!("/api/webhooks/{id}/"),
        json!({"events": ["patient.created", "ping"]}),
    );
    assert_eq!(changed.body["events"], json!(["patient.created", "ping"]));
    let rotated = admin.post(&format!("/api/webhooks/{id}/rotate-secret/"), json!({}));
    assert_eq!(rotated.status, 200, "{rotated:?}");
    assert_ne!(rotated.body["secret"].as_str().unwrap(), secret);
    let ping = format!("/api/webhooks/{id}/ping/");
    let queued = admin.post(&ping, json!({}));
    assert_eq!(queued.status, 202, "{queued:?}");
    assert_eq!(admin.delete(&format!("/api/webhooks/{id}/")).status, 204);
    // An inactive subscription is sent nothing: a ping would never go, so it is refused.
    let refused = admin.post(&ping, json!({}));
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(refused.body["detail"].is_string(), "{refused:?}");
    let listed = admin.get("/api/webhooks/");
    assert_eq!(listed.header("x-total-count"), Some("1"), "{listed:?}");
    assert_eq!(listed.body[0]["is_active"], false);
    assert_eq!(admin.get("/api/webhooks/999/").status, 404);
    let retry = admin.post(
        &format!("/api/webhooks/{id}/deliveries/999/retry/"),
        json!({}),
    );
    assert_eq!(retry.status, 404);
}

#[test]
fn subscriptions_sqlite() {
    subscriptions("sqlite");
}

#[test]
fn subscriptions_postgres() {
    subscriptions("postgres");
}

/// The receiver process (`tests/webhooks/receiver.py`, with `standardwebhooks` pinned) and its
/// files.
struct Receiver {
    helper: healthcare_testing::Helper,
    secret: PathBuf,
    url: String,
}

impl Receiver {
    fn start(fail_rate: f64) -> Receiver {
        Receiver::start_with(&[("FAIL_RATE", &fail_rate.to_string())])
    }

    /// A receiver with these settings (receiver.py's environment variables).
    fn start_with(settings: &[(&str, &str)]) -> Receiver {
        let python = healthcare_testing::python_venv("webhooks", &[STANDARDWEBHOOKS]);
        let helper = healthcare_testing::Helper::start(
            &python,
            "tests/webhooks/receiver.py",
            &["{dir}/secret"],
            settings,
        );
        let secret = helper.file("secret");
        std::fs::write(&secret, "whsec_AAAA").unwrap();
        Receiver {
            url: format!("http://127.0.0.1:{}/hook", helper.port),
            secret,
            helper,
        }
    }

    fn lines(&self) -> Vec<Value> {
        self.helper.lines()
    }
}

/// Creates `n` patients, each with an appointment, through `client`; returns the (type,
/// record id) of every event the answered requests must have caused.
fn changes(client: &Client, doctor: i64, from: usize, n: usize) -> Vec<(String, i64)> {
    let mut expected = Vec::new();
    for i in from..from + n {
        let p = client.try_send(
            "POST",
            "/api/patients/",
            Some(&json!({"first_name": format!("Hook{i}"), "last_name": "Receiver",
                          "date_of_birth": "1980-02-03", "gender": "F", "contact_number": "555 0100"})),
        );
        let Ok(p) = p else { break };
        assert_eq!(p.status, 201, "{p:?}");
        expected.push(("patient.created".to_owned(), p.id()));
        let start = format!(
            "2036-{:02}-{:02}T{:02}:00:00Z",
            1 + i / 200 % 12,
            1 + i / 8 % 25,
            8 + i % 8
        );
        let a = client.try_send(
            "POST",
            "/api/appointments/",
            Some(&json!({"doctor": doctor, "patient": p.id(), "appointment_datetime": start})),
        );
        let Ok(a) = a else { break };
        assert_eq!(a.status, 201, "{a:?}");
        expected.push(("appointment.created".to_owned(), a.id()));
    }
    expected
}

fn deliveries(backend: &str) {
    let receiver = Receiver::start(0.3);
    let settings = dispatching(backend);
    let Some(mut app) = settings.start() else {
        return;
    };
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let created = admin.post(
        "/api/webhooks/",
        json!({"url": receiver.url, "events": ["patient.created", "appointment.created"]}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let hook = created.id();
    std::fs::write(&receiver.secret, created.body["secret"].as_str().unwrap()).unwrap();
    let doctor = admin
        .post(
            "/api/doctors/",
            json!({"first_name": "Hook", "last_name": "Doc", "specialization": "GP",
                   "contact_number": "555 0101", "email": "doc@example.org",
                   "license_number": "HOOK-1", "hospital": "General"}),
        )
        .id();

    let mut expected = changes(&admin, doctor, 0, 40);
    // Killed in the middle of deliveries, then started again on the same database.
    app.server.kill();
    app.server = app.spawn();
    let admin = app.client().login("admin", PW);
    expected.extend(changes(&admin, doctor, 40, 40));
    // On PostgreSQL a second process serves (and dispatches) beside the first.
    let second = (backend == "postgres").then(|| app.spawn());
    if let Some(second) = &second {
        let other = second.client().login("admin", PW);
        expected.extend(changes(&other, doctor, 80, 40));
    }

    let wanted: BTreeSet<(String, i64)> = expected.into_iter().collect();
    // The retry schedule is scaled to 0.1 % (5 ms, 30 ms, 120 ms, 0.6 s, 3.6 s, then 10.8 s); a delivery in flight at the kill waits for its
    // 30-second lease.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (lines, got) = loop {
        let lines = receiver.lines();
        let got: BTreeSet<(String, i64)> = lines
            .iter()
            .filter(|l| l["status"] == 204)
            .map(|l| {
                (
                    l["type"].as_str().unwrap().to_owned(),
                    l["record"].as_i64().unwrap(),
                )
            })
            .collect();
        if wanted.is_subset(&got) || Instant::now() > deadline {
            break (lines, got);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let missing: Vec<_> = wanted.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} events never delivered: {missing:?}",
        missing.len()
    );
    let unverified: Vec<&Value> = lines.iter().filter(|l| l["verified"] != true).collect();
    assert!(
        unverified.is_empty(),
        "signatures refused by standardwebhooks: {unverified:?}"
    );
    for l in &lines {
        assert_eq!(l["webhook_id"], l["id"], "webhook-id is the event id: {l}");
    }
    let failed = lines.iter().filter(|l| l["status"] == 500).count();
    assert!(failed > 0, "the receiver answered 500 to some requests");
    never_twice_at_once(&lines);
    // The delivery log names the failed attempts and their retries.
    let admin = app.client().login("admin", PW);
    let log = admin.get(&format!("/api/webhooks/{hook}/deliveries/?limit=1000"));
    assert_eq!(log.status, 200, "{log:?}");
    let items = log.body.as_array().unwrap();
    assert!(items
        .iter()
        .any(|d| d["status_code"] == 500 && d["error"] == "HTTP 500"));
    assert!(items
        .iter()
        .any(|d| d["status_code"] == 204 && d["error"].is_null()));
    assert!(items.iter().any(|d| d["attempt"].as_i64() > Some(1)));
    healthcare_testing::report(&format!(
        "webhooks[{backend}]: {} events delivered through {} requests ({failed} answered 500), \
         server killed once{}",
        wanted.len(),
        lines.len(),
        if second.is_some() {
            ", two processes"
        } else {
            ""
        }
    ));
}

#[test]
fn deliveries_sqlite() {
    deliveries("sqlite");
}

#[test]
fn deliveries_postgres() {
    deliveries("postgres");
}

/// `appointment.reminder`: sent once per (appointment, offset, start time) for a booking inside
/// the offset; a reschedule makes a new one for the new start; a cancelled appointment gets
/// none.
fn reminders(backend: &str) {
    let receiver = Receiver::start(0.0);
    let settings = TestApp::on(backend).env("HEALTHCARE_WEBHOOK_ALLOW_PRIVATE", "true");
    let Some(app) = settings.start() else {
        return;
    };
    let admin = app.client().register("admin", PW);
    let doctor = admin
        .post(
            "/api/doctors/",
            json!({"first_name": "Remind", "last_name": "Doc", "specialization": "GP",
                   "contact_number": "555 0101", "email": "doc@example.org",
                   "license_number": "REM-1", "hospital": "General"}),
        )
        .id();
    let patient = admin
        .post(
            "/api/patients/",
            json!({"first_name": "Remind", "last_name": "Me", "date_of_birth": "1980-02-03",
                   "gender": "F", "contact_number": "555 0100"}),
        )
        .id();
    let at = |minutes: i64| {
        (chrono::Utc::now() + chrono::Duration::minutes(minutes))
            .format("%Y-%m-%dT%H:%M:00Z")
            .to_string()
    };
    // Fifteen minutes each, so none of them overlaps another.
    let book = |minutes: i64| {
        let r = admin.post(
            "/api/appointments/",
            json!({"doctor": doctor, "patient": patient, "appointment_datetime": at(minutes),
                   "duration_minutes": 15}),
        );
        assert_eq!(r.status, 201, "{r:?}");
        r.id()
    };
    // Booked before the subscription exists: the scheduler finds them on its next pass.
    let kept = book(5);
    let moved = book(20);
    let cancelled = book(35);
    let far = book(600);
    let r = admin.patch(
        &format!("/api/appointments/{cancelled}/"),
        json!({"status": "CANCELLED", "cancellation_reason": "test"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let created = admin.post(
        "/api/webhooks/",
        json!({"url": receiver.url, "events": ["appointment.reminder"], "reminder_minutes": [60]}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    std::fs::write(&receiver.secret, created.body["secret"].as_str().unwrap()).unwrap();
    let reminded = |want: usize| {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let lines: Vec<Value> = receiver
                .lines()
                .into_iter()
                .filter(|l| l["type"] == "appointment.reminder")
                .collect();
            if lines.len() >= want || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let first = reminded(2);
    let ids: BTreeSet<i64> = first
        .iter()
        .map(|l| l["record"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([kept, moved]), "{first:?}");
    assert_eq!(first.len(), 2, "one reminder each: {first:?}");
    let r = admin.patch(
        &format!("/api/appointments/{moved}/"),
        json!({"appointment_datetime": at(50)}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let second = reminded(3);
    assert_eq!(
        second.len(),
        3,
        "the moved appointment is reminded again: {second:?}"
    );
    assert_eq!(second[2]["record"], moved);
    // A scheduler pass later, still nothing more (each key is sent once), and the far and
    // cancelled appointments never.
    std::thread::sleep(Duration::from_secs(16));
    let all: Vec<Value> = receiver
        .lines()
        .into_iter()
        .filter(|l| l["type"] == "appointment.reminder")
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|l| l["verified"] == true));
    assert!(!all
        .iter()
        .any(|l| l["record"] == far || l["record"] == cancelled));
}

#[test]
fn reminders_sqlite() {
    reminders("sqlite");
}

#[test]
fn reminders_postgres() {
    reminders("postgres");
}

/// The subscription's delivery log (newest first).
fn delivery_log(admin: &Client, hook: i64) -> Vec<Value> {
    let r = admin.get(&format!("/api/webhooks/{hook}/deliveries/?limit=1000"));
    assert_eq!(r.status, 200, "{r:?}");
    r.body.as_array().cloned().unwrap_or_default()
}

/// Waits up to `secs` for `receiver` to have logged a verified, answered (2xx) request of
/// every event of `kind` about each of `records`.
fn all_delivered(receiver: &Receiver, kind: &str, records: &BTreeSet<i64>, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got: BTreeSet<i64> = receiver
            .lines()
            .iter()
            .filter(|l| l["type"] == kind && l["verified"] == true && l["status"] == 204)
            .filter_map(|l| l["record"].as_i64())
            .collect();
        if records.is_subset(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}: delivered {got:?}, wanted {records:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A server on `backend` that may deliver to the loopback receivers of these tests, with the
/// retry schedule scaled to 0.1 %.
fn dispatching(backend: &str) -> TestApp {
    TestApp::on(backend).envs(&[
        ("HEALTHCARE_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("HEALTHCARE_WEBHOOK_BACKOFF_SCALE", "0.001"),
    ])
}

/// No event of the receiver's log was being delivered twice at the same time.
fn never_twice_at_once(lines: &[Value]) {
    let mut by_event: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for l in lines {
        by_event
            .entry(l["id"].as_str().unwrap())
            .or_default()
            .push((l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap()));
    }
    for (event, mut spans) in by_event {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in spans.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "event {event} attempted twice at once: {pair:?}"
            );
        }
    }
}

/// A pass that leases more slow deliveries than it can finish within its leases (40 events
/// whose first request the receiver answers after 8 s, 8 in flight at once: five rounds, 40 s,
/// against 30-second leases): every event arrives, the leases the pass could not use in time
/// given back, and none is attempted twice at once, on PostgreSQL with a second process on
/// the same database waiting to lease whatever expires.
fn slow_deliveries(backend: &str) {
    let receiver = Receiver::start_with(&[("SLOW_FIRST", "8")]);
    let settings = dispatching(backend);
    let Some(app) = settings.start() else {
        return;
    };
    let admin = app.client().register("admin", PW);
    let created = admin.post(
        "/api/webhooks/",
        json!({"url": receiver.url, "events": ["patient.created"]}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    std::fs::write(&receiver.secret, created.body["secret"].as_str().unwrap()).unwrap();
    let made: BTreeSet<i64> = (0..40)
        .map(|i| {
            admin
                .post(
                    "/api/patients/",
                    json!({"first_name": format!("Slow{i}"), "last_name": "Lease",
                           "date_of_birth": "1980-02-03", "gender": "F",
                           "contact_number": "555 0100"}),
                )
                .id()
        })
        .collect();
    let _second = (backend == "postgres").then(|| app.spawn());
    all_delivered(&receiver, "patient.created", &made, 150);
    never_twice_at_once(&receiver.lines());
}

#[test]
fn slow_deliveries_never_outlive_their_leases_sqlite() {
    slow_deliveries("sqlite");
}

#[test]
fn slow_deliveries_never_outlive_their_leases_postgres() {
    slow_deliveries("postgres");
}

/// A receiver down while events are made, then up again on the same port; and a receiver that
/// answers only after the delivery timeout.
fn outages(backend: &str) {
    let settings = dispatching(backend);
    let Some(app) = settings.start() else {
        return;
    };
    let admin = app.client().register("admin", PW);
    let subscribe = |url: &str, event: &str, receiver: Option<&Receiver>| {
        let r = admin.post("/api/webhooks/", json!({"url": url, "events": [event]}));
        assert_eq!(r.status, 201, "{r:?}");
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        if let Some(receiver) = receiver {
            std::fs::write(&receiver.secret, &secret).unwrap();
        }
        (r.id(), secret)
    };
    let patient = |i: usize| {
        admin
            .post(
                "/api/patients/",
                json!({"first_name": format!("Down{i}"), "last_name": "Receiver",
                       "date_of_birth": "1980-02-03", "gender": "F", "contact_number": "555 0100"}),
            )
            .id()
    };

    // Down: the receiver's port is taken from a receiver that is then stopped.
    let (url, port) = {
        let probe = Receiver::start_with(&[]);
        (probe.url.clone(), probe.helper.port.to_string())
    };
    let (down_hook, secret) = subscribe(&url, "patient.created", None);
    let made: BTreeSet<i64> = (0..5).map(patient).collect();
    // Several attempts fail (0.1 % of 5 s, 30 s, 2 min, 10 min, then 3.6 s) while it is down.
    std::thread::sleep(Duration::from_secs(3));
    let failed = delivery_log(&admin, down_hook);
    assert!(failed.len() >= 10, "attempts while down: {failed:?}");
    assert!(
        failed
            .iter()
            .all(|d| d["status_code"].is_null() && d["error"].is_string()),
        "{failed:?}"
    );
    let back = Receiver::start_with(&[("PORT", &port)]);
    std::fs::write(&back.secret, &secret).unwrap();
    all_delivered(&back, "patient.created", &made, 60);

    // Slow: the first attempt of each event is answered after 12 s, past the 10 s timeout.
    let slow = Receiver::start_with(&[("SLOW_FIRST", "12")]);
    let (slow_hook, _) = subscribe(&slow.url, "patient.updated", Some(&slow));
    let changed = made.iter().next().copied().unwrap();
    let r = admin.patch(
        &format!("/api/patients/{changed}/"),
        json!({"address": "1 Slow Lane"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    all_delivered(&slow, "patient.updated", &BTreeSet::from([changed]), 40);
    // The receiver logs the slow answer too, after the dispatcher stopped waiting for it: wait
    // for the attempt that succeeded to be recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = delivery_log(&admin, slow_hook);
        if log.iter().any(|d| d["status_code"] == 204) || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let first = log.last().unwrap();
    assert_eq!(first["attempt"], 1, "{log:?}");
    assert!(first["status_code"].is_null(), "{log:?}");
    assert!(first["error"].is_string(), "{log:?}");
    let took = first["duration_ms"].as_i64().unwrap();
    assert!(
        (9_500..12_000).contains(&took),
        "timed out after {took} ms: {log:?}"
    );
    let delivered = log.iter().filter(|d| d["status_code"] == 204).count();
    assert_eq!(delivered, 1, "{log:?}");
}

#[test]
fn outages_sqlite() {
    outages("sqlite");
}

#[test]
fn outages_postgres() {
    outages("postgres");
}
