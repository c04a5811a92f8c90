//! The audit trail's guarantees through the real binary, on SQLite and PostgreSQL:
//!
//! * **Fail-closed**: while the database refuses audit inserts (a trigger an operator or an
//!   attacker added), every audited request answers 503: a read returns no data, and a change
//!   does not happen (its event and the change share one transaction). Unaudited requests go on.
//! * **One chain across processes**: two server processes on one database under concurrent
//!   load record one event for every answered request, and their sealers link all of them into
//!   one chain that `healthcare audit verify` accepts.
//!
//! (That no answered request loses its event to a `kill -9` is checked by `crash.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use healthcare_persistence::schema::audit_events::dsl;
use healthcare_persistence::{on_backend, Database};
use healthcare_testing::{Client, Reply, TestApp};
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

const PW: &str = "correct horse battery";

fn patient_body(name: &str) -> serde_json::Value {
    json!({"first_name": name, "last_name": "Audit", "date_of_birth": "1980-04-05",
           "gender": "F", "contact_number": "555 0142"})
}

/// Makes the database refuse every insert into `audit_events` (`on`), or stop refusing.
fn block_audit_inserts(db: &Database, on: bool) {
    db.write(move |c| {
        let sql = match (&c, on) {
            (healthcare_persistence::DbConnection::Sqlite(_), true) => {
                "CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit inserts blocked by the test'); END;"
            }
            (healthcare_persistence::DbConnection::Sqlite(_), false) => {
                "DROP TRIGGER audit_blocked;"
            }
            (_, true) => {
                "CREATE FUNCTION audit_blocked() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit inserts blocked by the test'; END $$; \
                 CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION audit_blocked();"
            }
            (_, false) => {
                "DROP TRIGGER audit_blocked ON audit_events; DROP FUNCTION audit_blocked();"
            }
        };
        c.batch_execute(sql)?;
        Ok(())
    })
    .expect("change the test trigger");
}

fn events_with_request_id(db: &Database, request_id: &str) -> i64 {
    let id = request_id.to_owned();
    db.read(move |c| {
        Ok(on_backend!(c, |c| dsl::audit_events
            .filter(dsl::request_id.eq(&id))
            .count()
            .get_result::<i64>(c))?)
    })
    .unwrap()
}

fn assert_unavailable(r: &Reply, what: &str) {
    assert_eq!(r.status, 503, "{what}: {r:?}");
    assert!(r.body["detail"].is_string(), "{what}: JSON detail: {r:?}");
    assert_eq!(r.header("retry-after"), Some("1"), "{what}: {r:?}");
}

fn fail_closed(backend: &str) {
    let Some(app) = TestApp::on(backend).start() else {
        return;
    };
    let admin = app.client().register("admin", PW);
    let created = admin.post("/api/patients/", patient_body("Before"));
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.id();
    let path = format!("/api/patients/{id}/");

    block_audit_inserts(&app.db.db, true);
    // A read: no data without its trace.
    let read = admin.get(&path);
    assert_unavailable(&read, "read");
    assert!(read.body.get("first_name").is_none(), "{read:?}");
    assert_unavailable(&admin.get("/api/patients/"), "list");
    // Changes: refused, and not made.
    assert_unavailable(
        &admin.post("/api/patients/", patient_body("Lost")),
        "create",
    );
    assert_unavailable(
        &admin.patch(&path, json!({"first_name": "Changed"})),
        "update",
    );
    assert_unavailable(&admin.delete(&path), "archive");
    // A refused request is audited too, and fails the same way.
    assert_unavailable(&app.client().get(&path), "anonymous read");
    // Routes that touch no patient data are not held back.
    assert_eq!(admin.get("/api/doctors/").status, 200);
    assert_eq!(app.client().get("/api/health/").status, 200);

    block_audit_inserts(&app.db.db, false);
    let list = admin.get("/api/patients/");
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(
        list.header("x-total-count"),
        Some("1"),
        "a create whose event failed must not have happened: {list:?}"
    );
    let after = admin.get(&path);
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.body["first_name"], "Before", "{after:?}");
    let request_id = after.header("x-request-id").expect("request id").to_owned();
    assert_eq!(events_with_request_id(&app.db.db, &request_id), 1);
    healthcare_testing::report(&format!(
        "audit fail-closed[{backend}]: with audit inserts refused, reads, lists, creates, updates, \
         archives and refused requests answered 503 and changed nothing; unaudited routes 200"
    ));
}

#[test]
fn fail_closed_sqlite() {
    fail_closed("sqlite");
}

#[test]
fn fail_closed_postgres() {
    fail_closed("postgres");
}

/// What one client thread did: the request ids of its answered requests and their statuses.
fn load(client: Client, thread: usize, rounds: usize) -> Vec<(String, u16)> {
    let mut answered = Vec::new();
    let mut keep = |r: Reply| {
        let id = r.header("x-request-id").expect("request id").to_owned();
        answered.push((id, r.status));
        r
    };
    for n in 0..rounds {
        let created =
            keep(client.post("/api/patients/", patient_body(&format!("Load{thread}x{n}"))));
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.id();
        let read = keep(client.get(&format!("/api/patients/{id}/")));
        assert_eq!(read.status, 200, "{read:?}");
        let listed = keep(client.get("/api/patients/?limit=5"));
        assert_eq!(listed.status, 200, "{listed:?}");
        let missing = keep(client.get("/api/patients/999999999/"));
        assert_eq!(missing.status, 404, "{missing:?}");
    }
    answered
}

fn two_processes(backend: &str) {
    let Some(app) = TestApp::on(backend).start() else {
        return;
    };
    let second = app.spawn();
    let admin = app.client().register("admin", PW);
    let token = admin.token.clone().expect("token");
    let started = Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let server = if t % 2 == 0 { &app.server } else { &second };
            let client = server.client().with_token(&token);
            std::thread::spawn(move || load(client, t, 40))
        })
        .collect();
    let answered: Vec<(String, u16)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    let elapsed = started.elapsed();
    // Every answered request left exactly one event, with the status it answered.
    let counts: HashMap<String, i64> =
        healthcare_persistence::testing::audit_events_by_request_id(&app.db.db).unwrap();
    for (id, status) in &answered {
        assert_eq!(counts.get(id), Some(&1), "request {id} ({status})");
    }
    // Both sealers may run; the lease and the chain's unique positions keep one line.
    let stdout = healthcare_testing::audit_verified(&app.db);
    let total: i64 = counts.values().sum();
    assert!(
        stdout.contains(&format!("{total} ")),
        "verify should count all {total} events: {stdout}"
    );
    healthcare_testing::report(&format!(
        "audit two processes[{backend}]: {} answered requests in {elapsed:.2?} on two servers, \
         each with exactly one event; {total} events sealed into one chain, verify ok",
        answered.len()
    ));
}

#[test]
fn two_processes_one_chain_sqlite() {
    two_processes("sqlite");
}

#[test]
fn two_processes_one_chain_postgres() {
    two_processes("postgres");
}
