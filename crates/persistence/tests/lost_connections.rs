//! A pooled PostgreSQL connection whose server process went away (a restart, an administrator's
//! `pg_terminate_backend`, a network cut) fails its request as `ConnectionLost` once and is
//! then dropped from the pool, so later requests get working connections.

use healthcare_domain::DoctorId;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{doctors, Database, DbConfig, StoreError};

const POOL: u32 = 3;

fn probe(db: &Database) -> Result<bool, StoreError> {
    db.read(|c| doctors::exists(c, DoctorId(1)))
}

#[test]
fn postgres_lost_connections_leave_the_pool() {
    let Some(t) = TestDb::postgres().expect("postgres test database") else {
        return;
    };
    let db = Database::connect(&DbConfig {
        pool_size: POOL,
        ..DbConfig::new(t.url.clone())
    })
    .expect("pool");
    // Open every pooled connection: hold POOL of them at once.
    {
        let held: Vec<_> = (0..POOL).map(|_| db.conn().expect("conn")).collect();
        assert_eq!(held.len(), POOL as usize);
    }
    for _ in 0..5 {
        assert!(!probe(&db).expect("probe before"));
    }

    t.terminate_connections().expect("terminate");

    // Each dead connection may fail one request, with the typed error; no more than that.
    let mut lost = 0;
    let mut answered = 0;
    for _ in 0..(POOL * 4) {
        match probe(&db) {
            Ok(found) => {
                assert!(!found);
                answered += 1;
            }
            Err(StoreError::ConnectionLost) => lost += 1,
            Err(other) => panic!("a lost connection must be reported as such, got {other:?}"),
        }
    }
    assert!(lost <= POOL, "{lost} failures for {POOL} dead connections");
    assert!(answered >= POOL * 3, "only {answered} answered");
    // Writes (in a transaction) find working connections too.
    for _ in 0..POOL * 2 {
        db.write(|c| doctors::exists(c, DoctorId(1)))
            .expect("write after the connections were replaced");
    }
}
