//! Crash durability: the server is killed with SIGKILL in the middle of a stream of writes
//! (several client threads creating patients and appointments), three times at random moments,
//! and restarted on the same database each time. Every write that was answered 201 is there
//! afterwards, with its content; nothing unacknowledged beyond the requests in flight appears;
//! and the SQLite file passes `PRAGMA integrity_check` after each crash. Every answered request
//! (the writes and a read of each new patient) has its audit event afterwards: a change's event
//! commits with it, a read's before its answer is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration as Minutes, TimeZone, Utc};
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use healthcare_testing::{Client, TestApp, TestDb};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
const WRITERS: usize = 4;
const ROUNDS: usize = 3;

#[derive(Debug, Clone)]
enum Acked {
    Patient { id: i64, first_name: String },
    Appointment { id: i64, start: String },
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// `PRAGMA integrity_check` on the file, through a fresh connection of this process.
fn integrity(url: &str) -> Vec<String> {
    let path = url.strip_prefix("sqlite://").expect("sqlite url");
    let mut conn = SqliteConnection::establish(path).expect("open the SQLite file");
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .expect("integrity_check");
    rows.into_iter().map(|r| r.integrity_check).collect()
}

/// What one writer saw: the acknowledged writes, whether a request was left in flight, and the
/// request ids of every answered request.
type Written = (Vec<Acked>, usize, Vec<String>);

/// One writer: patient, a read of it, then an appointment for it with the writer's doctor, until
/// the server stops answering.
fn writer(
    client: Client,
    round: usize,
    thread: usize,
    doctor: i64,
    acked_total: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Written {
    let mut acked = Vec::new();
    let mut answered = Vec::new();
    let mut answer = |r: &healthcare_testing::Reply| {
        answered.push(r.header("x-request-id").expect("request id").to_owned());
    };
    let base = Utc.with_ymd_and_hms(2033, 1, 1, 0, 0, 0).unwrap();
    for n in 0..100_000usize {
        if stop.load(Ordering::Relaxed) {
            return (acked, 0, answered);
        }
        let first_name = format!("W{thread}R{round}N{n}");
        let body = json!({"first_name": first_name, "last_name": "Crash", "date_of_birth": "1970-02-03",
                          "gender": "F", "contact_number": "555 0199"});
        let patient = match client.try_send("POST", "/api/patients/", Some(&body)) {
            Ok(r) if r.status == 201 => {
                answer(&r);
                r.id()
            }
            Ok(r) => panic!("unexpected answer {r:?}"),
            Err(_) => return (acked, 1, answered),
        };
        acked.push(Acked::Patient {
            id: patient,
            first_name,
        });
        acked_total.fetch_add(1, Ordering::Relaxed);
        match client.try_send("GET", &format!("/api/patients/{patient}/"), None) {
            Ok(r) if r.status == 200 => answer(&r),
            Ok(r) => panic!("unexpected answer {r:?}"),
            Err(_) => return (acked, 1, answered),
        }
        // Each appointment of this writer's doctor gets its own half hour.
        let start = (base + Minutes::minutes(30 * (round * 100_000 + n) as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let body = json!({"doctor": doctor, "patient": patient, "appointment_datetime": start});
        match client.try_send("POST", "/api/appointments/", Some(&body)) {
            Ok(r) if r.status == 201 => {
                answer(&r);
                acked.push(Acked::Appointment { id: r.id(), start });
                acked_total.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => panic!("unexpected answer {r:?}"),
            Err(_) => return (acked, 1, answered),
        }
    }
    (acked, 0, answered)
}

/// Asserts that every request id in `answered` has exactly one audit event.
fn audited(db: &TestDb, answered: &[String]) {
    let counts = healthcare_persistence::testing::audit_events_by_request_id(&db.db).unwrap();
    for id in answered {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "answered request {id}: its audit event"
        );
    }
}

fn total(admin: &Client, path: &str) -> usize {
    let r = admin.get(&format!("{path}?limit=1"));
    assert_eq!(r.status, 200, "{r:?}");
    r.header("x-total-count").unwrap().parse().unwrap()
}

fn verify(admin: &Client, acked: &[Acked]) {
    for a in acked {
        match a {
            Acked::Patient { id, first_name } => {
                let r = admin.get(&format!("/api/patients/{id}/"));
                assert_eq!(r.status, 200, "acknowledged patient {id} lost: {r:?}");
                assert_eq!(r.body["first_name"], json!(first_name));
            }
            Acked::Appointment { id, start } => {
                let r = admin.get(&format!("/api/appointments/{id}/"));
                assert_eq!(r.status, 200, "acknowledged appointment {id} lost: {r:?}");
                assert_eq!(r.body["appointment_datetime"], json!(start));
                assert_eq!(r.body["status"], "SCHEDULED");
            }
        }
    }
}

fn crash_rounds(db: &TestDb, backend: &str) {
    let started = Instant::now();
    let sqlite = db.url.starts_with("sqlite://");
    let app = TestApp::on(backend);
    let mut server = app.serve(&db.url);
    let admin = server.client().register("admin", PW);
    let token = admin.token.clone().expect("token");
    let doctors: Vec<i64> = (0..WRITERS)
        .map(|t| {
            let r = admin.post(
                "/api/doctors/",
                json!({"first_name": format!("Crash{t}"), "last_name": "Test", "specialization": "GP",
                       "contact_number": "555 0101", "email": "crash@example.org",
                       "license_number": format!("CRASH-{t}"), "hospital": "General"}),
            );
            assert_eq!(r.status, 201, "{r:?}");
            r.id()
        })
        .collect();
    let mut all_acked: Vec<Acked> = Vec::new();
    let mut all_answered: Vec<String> = Vec::new();
    let mut kill_points: Vec<String> = Vec::new();
    let mut rng = rand::rng();
    for round in 0..ROUNDS {
        let acked_total = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let client = server.client().with_token(&token);
                let (doctor, acked_total, stop) = (doctors[t], acked_total.clone(), stop.clone());
                std::thread::spawn(move || writer(client, round, t, doctor, acked_total, stop))
            })
            .collect();
        // A random moment in the stream of writes (counted from the first acknowledged one,
        // so a slow start on a loaded machine cannot leave a round without writes).
        let waiting = Instant::now();
        while acked_total.load(Ordering::Relaxed) == 0 {
            assert!(
                waiting.elapsed() < Duration::from_secs(60),
                "round {round}: no write acknowledged"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = Duration::from_millis(rng.random_range(300..1500));
        std::thread::sleep(delay);
        let at_kill = acked_total.load(Ordering::Relaxed);
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let mut in_flight = 0;
        let mut this_round = Vec::new();
        for h in handles {
            let (acked, open, answered) = h.join().unwrap();
            in_flight += open;
            this_round.extend(acked);
            all_answered.extend(answered);
        }
        assert!(
            !this_round.is_empty(),
            "round {round}: no write was acknowledged before the kill"
        );
        kill_points.push(format!(
            "round {round}: SIGKILL {} ms after the first acknowledged write, after {at_kill} acknowledged writes ({} in all, {in_flight} in flight)",
            delay.as_millis(),
            this_round.len()
        ));
        all_acked.extend(this_round);
        if sqlite {
            assert_eq!(integrity(&db.url), vec!["ok".to_owned()], "round {round}");
        }
        // Every answered request of every round has its audit event.
        audited(db, &all_answered);
        // Restart on the same database: every acknowledged write of every round is there.
        server = app.serve(&db.url);
        let admin = server.client().with_token(&token);
        verify(&admin, &all_acked);
        let patients_acked = all_acked
            .iter()
            .filter(|a| matches!(a, Acked::Patient { .. }))
            .count();
        let appointments_acked = all_acked.len() - patients_acked;
        let (patients, appointments) = (
            total(&admin, "/api/patients/"),
            total(&admin, "/api/appointments/"),
        );
        // At most the requests in flight at each kill may have landed unacknowledged.
        let slack = WRITERS * (round + 1);
        assert!(
            (patients_acked..=patients_acked + slack).contains(&patients),
            "patients: {patients} stored, {patients_acked} acknowledged"
        );
        assert!(
            (appointments_acked..=appointments_acked + slack).contains(&appointments),
            "appointments: {appointments} stored, {appointments_acked} acknowledged"
        );
    }
    // The restarted server still takes writes.
    let admin = server.client().with_token(&token);
    let after = admin.post(
        "/api/patients/",
        json!({"first_name": "After", "last_name": "Crash", "date_of_birth": "1970-02-03",
               "gender": "M", "contact_number": "555 0199"}),
    );
    assert_eq!(after.status, 201, "{after:?}");
    // The chain, across the kills, verifies once the last server sealed everything.
    let verified = healthcare_testing::audit_verified(db);
    drop(server);
    if sqlite {
        assert_eq!(integrity(&db.url), vec!["ok".to_owned()]);
    }
    let acked_count: Value = json!(all_acked.len());
    healthcare_testing::report(&format!(
        "crash[{backend}]: {ROUNDS} kills, {acked_count} acknowledged writes all present after restart, {} answered requests each with its audit event, {}{}; {} ({:.2?})",
        all_answered.len(),
        verified.trim(),
        if sqlite { ", integrity_check ok after each kill" } else { "" },
        kill_points.join("; "),
        started.elapsed()
    ));
}

#[test]
fn kill_nine_sqlite() {
    let db = TestApp::sqlite().database().unwrap();
    crash_rounds(&db, "sqlite");
}

#[test]
fn kill_nine_postgres() {
    if let Some(db) = TestApp::postgres().database() {
        crash_rounds(&db, "postgres");
    }
}
