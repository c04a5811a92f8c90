//! No double booking under real concurrency: two server processes on one database (a SQLite
//! file, and a PostgreSQL database), 200 simultaneous booking and rescheduling requests, split
//! across both processes, aimed at eight contested slots (four contested on the doctor's side,
//! four on the patient's). Exactly one request per slot wins, every other one gets the seed's
//! 409, none gets a 5xx, and afterwards an SQL self-join over the database finds no overlapping
//! pair of SCHEDULED appointments. Two admins demoting each other at once leave one admin.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(clippy::needless_range_loop)] // k indexes several parallel pools at once

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use healthcare_persistence::DbConnection;
use healthcare_testing::{Client, Reply, TestApp, TestDb};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::Instant;

const PW: &str = "correct horse battery";
/// Contested slots per side.
const SLOTS: usize = 4;
/// Competitors per slot: `POSTS` new bookings plus `PATCHES` reschedules into the slot.
const COMPETITORS: usize = 25;
const POSTS: usize = 18;
const DOCTOR_CONFLICT: &str = "Doctor already has an appointment at this time.";
const PATIENT_CONFLICT: &str = "Patient already has an appointment at this time.";

fn patient_body(name: &str) -> Value {
    json!({"first_name": name, "last_name": "Concurrent", "date_of_birth": "1980-01-01",
           "gender": "O", "contact_number": "555 0100"})
}

fn doctor_body(name: &str) -> Value {
    json!({"first_name": name, "last_name": "Contested", "specialization": "GP",
           "contact_number": "555 0101", "email": format!("{name}@example.org"),
           "license_number": format!("LIC-{name}"), "hospital": "General"})
}

fn create(admin: &Client, path: &str, body: Value) -> i64 {
    let r = admin.post(path, body);
    assert_eq!(r.status, 201, "{path}: {r:?}");
    r.id()
}

/// `2031-MM-DDTHH:MM:00Z`.
fn at(month: u32, day: usize, hour: usize, minute: usize) -> String {
    format!("2031-{month:02}-{day:02}T{hour:02}:{minute:02}:00Z")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Doctor,
    Patient,
}

/// One request of the storm.
struct Shot {
    slot: usize,
    side: Side,
    method: &'static str,
    path: String,
    body: Value,
}

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Counts with raw SQL, straight from the database.
fn sql_count(db: &TestDb, sql: &str) -> i64 {
    let sql = sql.to_owned();
    db.db
        .read(move |c| {
            let found: Count = match c {
                DbConnection::Sqlite(s) => diesel::sql_query(&sql).get_result(s)?,
                DbConnection::Postgresql(p) => diesel::sql_query(&sql).get_result(p)?,
            };
            Ok(found.n)
        })
        .expect("SQL count")
}

/// Pairs of SCHEDULED, unarchived appointments of one doctor or one patient whose half-open
/// intervals overlap.
const OVERLAPPING_PAIRS: &str = "SELECT COUNT(*) AS n FROM appointments a JOIN appointments b \
     ON a.id < b.id AND (a.doctor_id = b.doctor_id OR a.patient_id = b.patient_id) \
     WHERE a.status = 'SCHEDULED' AND b.status = 'SCHEDULED' \
       AND a.archived_at IS NULL AND b.archived_at IS NULL \
       AND a.appointment_datetime < b.end_datetime AND b.appointment_datetime < a.end_datetime";

fn storm(db: &TestDb, backend: &str) {
    let started = Instant::now();
    // Two processes on one database, each with its own pool and write lock.
    let app = TestApp::on(backend);
    let servers = [app.serve(&db.url), app.serve(&db.url)];
    let admin = servers[0].client().register("admin", PW);
    // The signing key lives in the database: a token from one process works on the other.
    let token = admin.token.clone().expect("token");
    let other = servers[1].client().with_token(&token);
    assert_eq!(other.get("/api/auth/me/").status, 200);

    // Contested doctors D0..D3 and patients Q0..Q3; pools of 25 doctors E and patients R.
    let d: Vec<i64> = (0..SLOTS)
        .map(|i| create(&admin, "/api/doctors/", doctor_body(&format!("D{i}"))))
        .collect();
    let q: Vec<i64> = (0..SLOTS)
        .map(|i| create(&admin, "/api/patients/", patient_body(&format!("Q{i}"))))
        .collect();
    let e: Vec<i64> = (0..COMPETITORS)
        .map(|k| create(&other, "/api/doctors/", doctor_body(&format!("E{k}"))))
        .collect();
    let r: Vec<i64> = (0..COMPETITORS)
        .map(|k| create(&other, "/api/patients/", patient_body(&format!("R{k}"))))
        .collect();

    let mut shots = Vec::new();
    for i in 0..SLOTS {
        // Doctor-side slot i: D_i on 2031-06-(1+i) from 10:00; every competitor starts within
        // 25 minutes of 10:00 and lasts 30, so any two overlap.
        for k in 0..COMPETITORS {
            let start = at(6, 1 + i, 10, (k % 6) * 5);
            if k < POSTS {
                shots.push(Shot {
                    slot: i,
                    side: Side::Doctor,
                    method: "POST",
                    path: "/api/appointments/".into(),
                    body: json!({"doctor": d[i], "patient": r[k], "appointment_datetime": start,
                                 "duration_minutes": 30, "reason": format!("race {i}/{k}")}),
                });
            } else {
                // An appointment of D_i elsewhere (July), rescheduled into the slot.
                let existing = create(
                    &admin,
                    "/api/appointments/",
                    json!({"doctor": d[i], "patient": r[k],
                           "appointment_datetime": at(7, 1 + i, 8 + k - POSTS, 0)}),
                );
                shots.push(Shot {
                    slot: i,
                    side: Side::Doctor,
                    method: "PATCH",
                    path: format!("/api/appointments/{existing}/"),
                    body: json!({"appointment_datetime": start}),
                });
            }
        }
        // Patient-side slot i: Q_i on 2031-06-(11+i) from 10:00, each with another doctor.
        for k in 0..COMPETITORS {
            let start = at(6, 11 + i, 10, (k % 6) * 5);
            if k < POSTS {
                shots.push(Shot {
                    slot: SLOTS + i,
                    side: Side::Patient,
                    method: "POST",
                    path: "/api/appointments/".into(),
                    body: json!({"doctor": e[k], "patient": q[i], "appointment_datetime": start,
                                 "duration_minutes": 30}),
                });
            } else {
                let existing = create(
                    &admin,
                    "/api/appointments/",
                    json!({"doctor": e[k], "patient": q[i],
                           "appointment_datetime": at(8, 1 + i, 8 + k - POSTS, 0)}),
                );
                shots.push(Shot {
                    slot: SLOTS + i,
                    side: Side::Patient,
                    method: "PATCH",
                    path: format!("/api/appointments/{existing}/"),
                    body: json!({"appointment_datetime": start, "duration_minutes": 30}),
                });
            }
        }
    }
    assert_eq!(shots.len(), 2 * SLOTS * COMPETITORS);
    let setup = started.elapsed();

    // Fire: one thread and one HTTP client per request, released together, alternating
    // between the two processes.
    let barrier = Arc::new(Barrier::new(shots.len()));
    let fired = Instant::now();
    let handles: Vec<_> = shots
        .into_iter()
        .enumerate()
        .map(|(n, shot)| {
            let client = servers[n % 2].client().with_token(&token);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let reply = client.try_send(shot.method, &shot.path, Some(&shot.body));
                (shot, reply)
            })
        })
        .collect();
    let results: Vec<(Shot, Result<Reply, String>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let storm_time = fired.elapsed();

    let mut wins = vec![0usize; 2 * SLOTS];
    let (mut created, mut moved, mut conflicts, mut server_errors) = (0, 0, 0, 0);
    for (shot, reply) in &results {
        let reply = reply
            .as_ref()
            .unwrap_or_else(|e| panic!("{} {}: transport error {e}", shot.method, shot.path));
        match reply.status {
            200 | 201 => {
                wins[shot.slot] += 1;
                assert_eq!(reply.body["status"], "SCHEDULED", "{reply:?}");
                if reply.status == 201 {
                    created += 1;
                } else {
                    moved += 1;
                }
            }
            409 => {
                conflicts += 1;
                let expected = match shot.side {
                    Side::Doctor => DOCTOR_CONFLICT,
                    Side::Patient => PATIENT_CONFLICT,
                };
                // The seed's message, and what the request ran into (`conflicts`).
                assert_eq!(
                    reply.body["non_field_errors"],
                    json!([expected]),
                    "{} {}",
                    shot.method,
                    shot.path
                );
                assert!(
                    reply.body["conflicts"].is_array(),
                    "{} {}: {}",
                    shot.method,
                    shot.path,
                    reply.body
                );
            }
            s if s >= 500 => server_errors += 1,
            _ => panic!(
                "unexpected answer to {} {}: {reply:?}",
                shot.method, shot.path
            ),
        }
    }
    assert_eq!(server_errors, 0, "5xx answers: {server_errors}");
    assert_eq!(wins, vec![1; 2 * SLOTS], "one winner per contested slot");
    assert_eq!(conflicts, results.len() - 2 * SLOTS);

    // The database itself: no overlapping SCHEDULED pair, and exactly one SCHEDULED
    // appointment in each contested window.
    assert_eq!(sql_count(db, OVERLAPPING_PAIRS), 0, "overlapping pairs");
    for i in 0..SLOTS {
        for (column, id, day) in [("doctor_id", d[i], 1 + i), ("patient_id", q[i], 11 + i)] {
            let listed = admin.get(&format!(
                "/api/appointments/?{}={id}&status=SCHEDULED&date_from=2031-06-{day:02}&date_to=2031-06-{day:02}",
                column.trim_end_matches("_id")
            ));
            assert_eq!(
                listed.body.as_array().map(Vec::len),
                Some(1),
                "{column} {id}: {listed:?}"
            );
        }
    }
    let pre_existing = 2 * SLOTS * (COMPETITORS - POSTS);
    let rows = sql_count(db, "SELECT COUNT(*) AS n FROM appointments");
    assert_eq!(rows as usize, pre_existing + created);
    healthcare_testing::report(&format!(
        "concurrency[{backend}]: 2 processes, {} requests ({} POST, {} PATCH) on {} slots in {:.2?}: \
         {created} x 201, {moved} x 200, {conflicts} x 409, {server_errors} x 5xx; \
         overlapping SCHEDULED pairs in the database: 0; setup {:.2?}, total {:.2?}",
        results.len(),
        2 * SLOTS * POSTS,
        2 * SLOTS * (COMPETITORS - POSTS),
        2 * SLOTS,
        storm_time,
        setup,
        started.elapsed()
    ));
}

#[test]
fn two_processes_sqlite() {
    let db = TestApp::sqlite().database().unwrap();
    storm(&db, "sqlite");
}

#[test]
fn two_processes_postgres() {
    if let Some(db) = TestApp::postgres().database() {
        storm(&db, "postgres");
    }
}

/// Two admins demoting each other at the same moment: at most one succeeds, and an active admin
/// remains (the change holds the active admins' rows, `users::keep_an_admin`); the last one
/// may neither be demoted nor deactivated.
fn last_admin_stays(server: &healthcare_testing::Server) {
    let anon = server.client();
    let root = anon.register("root", PW);
    let root_id = root.get("/api/auth/me/").id();
    let second = root.post(
        "/api/users/",
        json!({"username": "second", "password": PW, "role": "admin"}),
    );
    assert_eq!(second.status, 201, "{second:?}");
    let second_id = second.id();
    let other = anon.login("second", PW);
    let barrier = Arc::new(Barrier::new(2));
    let shots = [(root.clone(), second_id), (other.clone(), root_id)].map(|(client, target)| {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            barrier.wait();
            client.patch(&format!("/api/users/{target}/"), json!({"role": "staff"}))
        })
    });
    let replies: Vec<Reply> = shots.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<usize> = (0..2).filter(|i| replies[*i].status == 200).collect();
    assert_eq!(won.len(), 1, "{replies:#?}");
    let loser = &replies[1 - won[0]];
    assert!(matches!(loser.status, 400 | 401), "{loser:?}");
    let (survivor, survivor_id) = match won[0] {
        0 => (&root, root_id),
        _ => (&other, second_id),
    };
    let users = survivor.get("/api/users/");
    assert_eq!(users.status, 200, "{users:?}");
    let admins: Vec<&Value> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin")
        .collect();
    assert_eq!(admins.len(), 1, "{users:?}");
    assert_eq!(admins[0]["id"], survivor_id);
}

healthcare_testing::http_test! {
    admins_demoting_each_other => super::last_admin_stays;
}
