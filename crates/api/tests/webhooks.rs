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
//! `reminders`: `appointment.reminder` once per appointment and start time, again after a
//! reschedule, never for a cancelled or a far appointment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use healthcare_testing::{Client, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
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
    assert_eq!(admin.delete(&format!("/api/webhooks/{id}/")).status, 204);
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

/// A Python with `standardwebhooks` installed (a virtual environment under `target/`, made
/// once, by one test at a time); the test fails, never skips, when it cannot be made.
fn python() -> PathBuf {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("target/webhook-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(STANDARDWEBHOOKS) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                STANDARDWEBHOOKS,
            ])
            .status()
            .expect("pip");
        assert!(installed.success(), "pip install {STANDARDWEBHOOKS} failed");
        std::fs::write(&ready, STANDARDWEBHOOKS).unwrap();
    }
    python
}

/// The receiver process and its files.
struct Receiver {
    child: Child,
    log: PathBuf,
    secret: PathBuf,
    url: String,
    _dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Receiver {
    fn start(fail_rate: f64) -> Receiver {
        let dir = std::env::temp_dir().join(format!(
            "hc-receiver-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, log, secret) = (dir.join("port"), dir.join("log"), dir.join("secret"));
        std::fs::write(&secret, "whsec_AAAA").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/webhooks/receiver.py");
        let child = Command::new(python())
            .arg(script)
            .args([&port, &log, &secret])
            .env("FAIL_RATE", fail_rate.to_string())
            .spawn()
            .expect("receiver");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port) {
                break p;
            }
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Receiver {
            child,
            log,
            secret,
            url: format!("http://127.0.0.1:{port}/hook"),
            _dir: tempfile_dir::Dir(dir),
        }
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
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
    let settings = TestApp::on(backend).envs(&[
        ("HEALTHCARE_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("HEALTHCARE_WEBHOOK_BACKOFF_SCALE", "0.001"),
    ]);
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
    // No event was being delivered twice at the same time.
    let mut by_event: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for l in &lines {
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
