//! Several processes starting together on one new database: each runs the migrations at start,
//! they take turns (a PostgreSQL advisory lock, an IMMEDIATE transaction on SQLite), every one
//! starts, and each migration is applied once.
#![allow(clippy::unwrap_used, missing_docs)]

use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{Database, DbConfig};

fn race(db: &TestDb) {
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let db = Database::connect(&DbConfig::new(url))?;
                db.migrate()
            })
        })
        .collect();
    let applied: Vec<Vec<String>> = starts
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("a start failed: {e}"))
        })
        .collect();
    // One start applied them all; the others found nothing pending.
    let mut conn = db.db.conn().unwrap();
    assert!(healthcare_persistence::migrations::is_up_to_date(&mut conn).unwrap());
    let mut counts: Vec<usize> = applied.iter().map(Vec::len).collect();
    counts.sort_unstable();
    assert_eq!(counts[..3], [0, 0, 0], "{applied:?}");
    assert!(counts[3] > 5, "{applied:?}");
}

#[test]
fn sqlite() {
    race(&TestDb::sqlite_unmigrated().unwrap());
}

#[test]
fn postgres() {
    if let Some(db) = TestDb::postgres_unmigrated().unwrap() {
        race(&db);
    }
}
