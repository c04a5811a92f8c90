//! SQLite's fast paths stay fast and correct: the writer's non-blocking `submit`, and the query
//! plans of the overlap check, of a list count and of the dispatcher's reminder check (the
//! planner traps documented in docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use healthcare_domain::Role;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{users, StoreError};
use std::sync::mpsc;
use std::time::Duration;

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

fn plan(t: &TestDb, sql: &str) -> String {
    let sql = sql.to_owned();
    t.db.read(move |c| {
        Ok(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load::<PlanLine>(c)?)
    })
    .unwrap()
    .into_iter()
    .map(|l| l.detail)
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn the_overlap_check_searches_one_doctor_and_one_patient_not_every_scheduled_appointment() {
    let t = TestDb::sqlite().unwrap();
    // The WHERE clause of the no-overlap triggers, with values for NEW.
    let doctor = plan(&t, "SELECT 1 FROM appointments a WHERE a.doctor_id = 1 AND a.status = 'SCHEDULED' \
        AND a.archived_at IS NULL AND a.appointment_datetime > datetime('2031-01-01 10:00:00', '-480 minutes') \
        AND a.appointment_datetime < '2031-01-01 10:30:00' AND a.end_datetime > '2031-01-01 10:00:00'");
    assert!(doctor.contains("appointments_doctor_start_idx (doctor_id=? AND appointment_datetime>? AND appointment_datetime<?)"), "{doctor}");
    let patient = plan(&t, "SELECT 1 FROM appointments a WHERE a.patient_id = 1 AND a.status = 'SCHEDULED' \
        AND a.archived_at IS NULL AND a.appointment_datetime > datetime('2031-01-01 10:00:00', '-480 minutes') \
        AND a.appointment_datetime < '2031-01-01 10:30:00' AND a.end_datetime > '2031-01-01 10:00:00'");
    assert!(patient.contains("appointments_patient_start_idx (patient_id=? AND appointment_datetime>? AND appointment_datetime<?)"), "{patient}");
}

#[test]
fn a_doctor_list_is_counted_from_the_index_alone() {
    let t = TestDb::sqlite().unwrap();
    let count = plan(
        &t,
        "SELECT count(*) FROM appointments WHERE archived_at IS NULL AND doctor_id = 1 \
        AND appointment_datetime >= '2031-01-01 00:00:00'",
    );
    assert!(
        count.contains("COVERING INDEX appointments_doctor_start_idx"),
        "{count}"
    );
}

#[test]
fn leased_reminders_are_checked_by_their_event_not_by_scanning_the_appointments() {
    let t = TestDb::sqlite().unwrap();
    // The join of `outbox::claim` and `mail::claim` (is each leased reminder still due?).
    for table in ["reminders", "mail_reminders"] {
        let sql = format!(
            "SELECT r.event_id FROM {table} r INNER JOIN appointments \
            ON appointments.id = r.appointment_id AND appointments.appointment_datetime = r.start_at \
            WHERE r.event_id IN (1, 2, 3) AND appointments.status = 'SCHEDULED' \
            AND appointments.archived_at IS NULL"
        );
        let found = plan(&t, &sql);
        assert!(
            found.contains(&format!(
                "SEARCH r USING INDEX {table}_event_idx (event_id=?)"
            )),
            "{found}"
        );
        assert!(!found.contains("SCAN appointments"), "{found}");
    }
}

#[test]
fn a_submitted_write_is_answered_after_its_commit_without_blocking_the_caller() {
    let t = TestDb::sqlite().unwrap();
    let writer = t.db.writer().expect("SQLite has a writer thread");
    let (tx, rx) = mpsc::channel();
    let probe = t.url.clone();
    writer
        .submit(
            |c| users::create(c, "submitted", "", "h", Role::Staff),
            move |result: Result<_, StoreError>| {
                // Called on the writer thread once the batch is committed: another connection
                // (another process, say) already sees the row.
                let other = healthcare_persistence::Database::connect(
                    &healthcare_persistence::DbConfig::new(probe),
                )
                .unwrap();
                let seen = other
                    .read(|c| users::find_by_username(c, "submitted"))
                    .unwrap()
                    .is_some();
                tx.send((result.map(|u| u.username), seen)).unwrap();
            },
        )
        .unwrap();
    let (result, seen) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(result.unwrap(), "submitted");
    assert!(
        seen,
        "the row was visible to another connection when the job was answered"
    );

    // A failing job is answered with its own error and leaves nothing behind.
    let (tx, rx) = mpsc::channel();
    writer
        .submit(
            |c| {
                users::create(c, "rolled-back", "", "h", Role::Staff)?;
                Err::<(), _>(StoreError::Forbidden)
            },
            move |result| tx.send(result).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Err(StoreError::Forbidden)
    ));
    let gone =
        t.db.read(|c| users::find_by_username(c, "rolled-back"))
            .unwrap();
    assert!(gone.is_none());
}

/// A clean stop leaves the write-ahead log empty, so the next process opens the file without
/// reading a log back (`Database::checkpoint_wal`).
#[test]
fn a_final_checkpoint_empties_the_write_ahead_log() {
    let t = TestDb::sqlite().unwrap();
    for i in 0..50 {
        t.db.write(move |c| {
            users::create(c, &format!("u{i}"), "", "hash", Role::Staff).map(|_| ())
        })
        .unwrap();
    }
    let path = t.url.trim_start_matches("sqlite://").to_string();
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the writes went to the log"
    );
    t.db.checkpoint_wal().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    // Nothing was lost on the way.
    let n =
        t.db.read(|c| {
            users::list(
                c,
                healthcare_persistence::Page {
                    limit: 100,
                    offset: 0,
                },
            )
        })
        .unwrap()
        .total;
    assert_eq!(n, 50);
}

/// The mode bits of a file (permissions only).
fn mode_of(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A new database file and the `-wal` and `-shm` files SQLite makes beside it are readable and
/// writable by their owner only, whatever the process umask would have given them.
#[test]
fn a_new_database_and_its_log_files_are_private_to_their_owner() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir().join(format!(
        "healthcare_modes_{}_{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // What the umask gives a file asked for as 0666 (SQLite's default request): the database
    // files must not follow it.
    let probe = dir.join("probe");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&probe)
        .unwrap();
    let by_umask = mode_of(probe.to_str().unwrap());
    let path = dir.join("private.db").to_str().unwrap().to_owned();
    let db = healthcare_persistence::Database::connect(&healthcare_persistence::DbConfig::new(
        format!("sqlite://{path}"),
    ))
    .unwrap();
    db.migrate().unwrap();
    db.write(|c| users::create(c, "someone", "", "hash", Role::Staff).map(|_| ()))
        .unwrap();
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        assert_eq!(
            mode_of(&file),
            0o600,
            "{file} (the umask alone gives {by_umask:o})"
        );
    }
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An existing database file open to others is reported (a warning at start), never changed
/// behind the operator's back.
#[test]
fn an_existing_database_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestDb::sqlite().unwrap();
    let path = t.url.trim_start_matches("sqlite://").to_string();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = healthcare_persistence::Database::connect(&healthcare_persistence::DbConfig::new(
        t.url.clone(),
    ))
    .unwrap();
    drop(again);
    assert_eq!(mode_of(&path), 0o644);
    assert!(healthcare_persistence::db::permission_warning(&path, 0o644)
        .is_some_and(|w| w.contains(&path) && w.contains("0644")));
}
