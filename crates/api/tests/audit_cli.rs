//! The audit trail through the real binary, on SQLite and PostgreSQL: events recorded in the
//! database are sealed by the running server's sealer (its lease, one log line per batch),
//! `healthcare audit verify` exits 0, `audit export` writes NDJSON, then an attacker with
//! sqlite3 or psql changes a sealed event (dropping the append-only trigger first) and
//! `audit verify` exits non-zero naming it; `audit prune` leaves a chain that verifies. With
//! two server processes on one database: one holds the lease and seals; on SIGTERM it stops its
//! sealer and gives the lease up, and the other takes over at once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use healthcare_persistence::audit::{self, Action, NewAuditEvent, Resource};
use healthcare_persistence::{leases, Backend};
use healthcare_testing::{binary, TestApp};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn healthcare(url: &str, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run healthcare")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn unsealed(db: &healthcare_persistence::Database) -> i64 {
    db.read(audit::unsealed).unwrap()
}

fn run(backend: &str) {
    let Some(app) = TestApp::on(backend)
        .env("RUST_LOG", "info")
        .logged()
        .start()
    else {
        return;
    };
    let (db, url) = (&app.db.db, app.db.url.clone());
    // A second server process on the same database: the two race for the sealer's lease.
    let second = app.spawn();
    let events: Vec<NewAuditEvent> = (1..=6)
        .map(|n| {
            let mut e = NewAuditEvent::new(Action::Read, Resource::Patient, 200);
            e.actor = Some(1);
            e.resource_id = Some(n);
            e.patients = vec![n];
            e
        })
        .collect();
    let ids = db
        .write(move |c| audit::record_unsealed(c, &events))
        .unwrap();
    // The server's sealer links them within a second or so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while unsealed(db) > 0 {
        assert!(
            Instant::now() < deadline,
            "the server did not seal the events"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let holder = db
        .read(|c| leases::holder(c, audit::SEALER_LEASE))
        .unwrap()
        .expect("a sealer holds the lease");
    let pids = [app.pid(), second.pid()];
    assert!(
        pids.iter()
            .any(|p| holder.starts_with(&format!("pid {p} "))),
        "{holder}"
    );
    // More events while both run: still one chain.
    let more: Vec<NewAuditEvent> = (7..=9)
        .map(|n| NewAuditEvent::new(Action::Update, Resource::Appointment, 200 + n))
        .collect();
    db.write(move |c| audit::record_unsealed(c, &more)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while unsealed(db) > 0 {
        assert!(
            Instant::now() < deadline,
            "the server did not seal the events"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let servers = [&app.server, &second];
    let batches = |log: String| log.contains("background task batch");
    assert!(
        batches(servers[0].log()) != batches(servers[1].log()),
        "exactly one process sealed:\n{}\n{}",
        servers[0].log(),
        servers[1].log()
    );
    // Graceful stop of the holder (SIGTERM): its sealer finishes its pass and gives the lease
    // up, and the other process takes it over at once (well before the 10 s expiry).
    let h = usize::from(!holder.starts_with(&format!("pid {} ", app.pid())));
    let (stopped, survivor) = (servers[h], servers[1 - h]);
    let term = Command::new("kill")
        .args(["-TERM", &stopped.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stopped.log().contains("background task stopped") {
        assert!(Instant::now() < deadline, "no stop line: {}", stopped.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stopped.log().contains("audit_sealer"), "{}", stopped.log());
    let stopped_at = Instant::now();
    loop {
        let now = db.read(|c| leases::holder(c, audit::SEALER_LEASE)).unwrap();
        if now.is_some_and(|h| h.starts_with(&format!("pid {} ", survivor.pid()))) {
            break;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(5),
            "the lease was not given up and taken over"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = vec![NewAuditEvent::new(Action::Logout, Resource::User, 204)];
    db.write(move |c| audit::record_unsealed(c, &last)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while unsealed(db) > 0 {
        assert!(Instant::now() < deadline, "the survivor did not seal");
        std::thread::sleep(Duration::from_millis(100));
    }

    let ok = healthcare(&url, &["audit", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("10 sealed events verified"),
        "{}",
        text(&ok.stdout)
    );

    let export = healthcare(&url, &["audit", "export", "--since", "2000-01-01"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let lines: Vec<serde_json::Value> = text(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0]["resource"], "patient");
    let none = healthcare(
        &url,
        &[
            "audit",
            "export",
            "--since",
            "2000-01-01",
            "--until",
            "2000-02-01",
        ],
    );
    assert!(none.status.success());
    assert!(none.stdout.is_empty());

    // An attacker edits a sealed event directly in the database.
    let victim = ids[3];
    let tamper = format!("UPDATE audit_events SET status = 403 WHERE id = {victim}");
    match db.backend() {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut c = SqliteConnection::establish(path).unwrap();
            assert!(c.batch_execute(&tamper).is_err(), "the trigger refuses it");
            c.batch_execute(&format!("DROP TRIGGER audit_events_no_update; {tamper}"))
                .unwrap();
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(&url).unwrap();
            assert!(c.batch_execute(&tamper).is_err(), "the trigger refuses it");
            c.batch_execute(&format!(
                "DROP TRIGGER audit_events_append_only ON audit_events; {tamper}"
            ))
            .unwrap();
        }
    }
    let broken = healthcare(&url, &["audit", "verify"]);
    assert!(!broken.status.success());
    let stderr = text(&broken.stderr);
    assert!(
        stderr.contains(&format!("event {victim}:")) && stderr.contains("changed"),
        "{stderr}"
    );
}

/// Prune through the binary: old events go, the anchor stays, the rest verifies.
fn prune(backend: &str) {
    let Some(t) = TestApp::on(backend).database() else {
        return;
    };
    let old = chrono::DateTime::parse_from_rfc3339("2020-06-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let events: Vec<NewAuditEvent> = (0..4)
        .map(|n| {
            let mut e = NewAuditEvent::new(Action::List, Resource::Doctor, 200);
            if n < 3 {
                e.at = old;
            }
            e
        })
        .collect();
    t.db.write(move |c| audit::record_unsealed(c, &events))
        .unwrap();
    while t.db.write(|c| audit::seal(c, 100)).unwrap() > 0 || unsealed(&t.db) > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pruned = healthcare(&t.url, &["audit", "prune", "--before", "2021-01-01"]);
    assert!(pruned.status.success(), "{}", text(&pruned.stderr));
    assert!(
        text(&pruned.stdout).contains("pruned 3 audit events"),
        "{}",
        text(&pruned.stdout)
    );
    let ok = healthcare(&t.url, &["audit", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("1 sealed events verified"),
        "{}",
        text(&ok.stdout)
    );
    // It names the prune, for comparing with the prunes that were run.
    assert!(
        text(&ok.stdout)
            .contains("pruned: the events up to position 3 (older than 2021-01-01T00:00:00+00:00)"),
        "{}",
        text(&ok.stdout)
    );
}

#[test]
fn sqlite_sealer_verify_export_tamper() {
    run("sqlite");
}

#[test]
fn postgres_sealer_verify_export_tamper() {
    run("postgres");
}

#[test]
fn sqlite_prune() {
    prune("sqlite");
}

#[test]
fn postgres_prune() {
    prune("postgres");
}
