//! PostgreSQL's sealing horizon: an event whose transaction is still open holds back the events
//! of transactions that started after it. In a test binary of its own: the open transaction
//! holds back sealing on the whole server, which would slow the other audit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use healthcare_persistence::audit::{self, Action, NewAuditEvent, Resource};
use healthcare_persistence::testing::TestDb;

fn position(t: &TestDb, seq: i64) -> i64 {
    use healthcare_persistence::schema::audit_events::dsl;
    t.db.read(move |c| {
        Ok(healthcare_persistence::on_backend!(c, |c| {
            dsl::audit_events
                .filter(dsl::seq.eq(seq))
                .select(dsl::id)
                .first::<i64>(c)
        })?)
    })
    .unwrap()
}

/// PostgreSQL: an event whose transaction is still open holds back the events of transactions
/// that started after it; once it commits, both are linked in transaction order.
#[test]
fn postgres_seals_only_behind_the_horizon_of_finished_transactions() {
    let Some(t) = TestDb::postgres().unwrap() else {
        return;
    };
    let mut open = PgConnection::establish(&t.url).unwrap();
    // The open transaction takes its id first, then the other one inserts and commits (lower
    // row id), then the open one inserts (higher row id).
    open.batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .unwrap();
    let committed =
        t.db.write(|c| {
            audit::record(
                c,
                &[NewAuditEvent::new(Action::List, Resource::Doctor, 200)],
            )
        })
        .unwrap()[0];
    open.batch_execute(
        "INSERT INTO audit_events (at, action, resource, status) \
         VALUES (now(), 'read', 'patient', 200)",
    )
    .unwrap();
    let seal = || t.db.write(|c| audit::seal(c, 10)).unwrap();
    assert_eq!(seal(), 0, "the later transaction waits for the open one");
    open.batch_execute("COMMIT").unwrap();
    let mut sealed = 0;
    for _ in 0..200 {
        sealed += seal();
        if sealed == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(sealed, 2);
    assert_eq!(t.db.read(|c| Ok(audit::verify(c))).unwrap().unwrap(), 2);
    assert_eq!(
        position(&t, 2),
        committed,
        "linked in transaction order, not id order"
    );
    assert!(position(&t, 1) > committed);
}
