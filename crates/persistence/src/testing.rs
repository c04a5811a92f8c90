//! Fresh, throw-away databases for tests of this crate and of the crates above it: a SQLite
//! file in the temp directory, or a new PostgreSQL database created next to the one that
//! `TEST_DATABASE_URL` names. Both are removed when the [`TestDb`] is dropped.

use crate::db::{Database, DbConfig};
use crate::error::StoreError;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use healthcare_domain::{Gender, NewDoctor, NewPatient, Specialization, UserId};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

#[derive(diesel::QueryableByName)]
struct EventsOfRequest {
    #[diesel(sql_type = diesel::sql_types::Text)]
    request_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many audit events each request id has in `db` (a check that every answered request
/// left exactly one).
pub fn audit_events_by_request_id(
    db: &Database,
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    db.read(|c| {
        let rows: Vec<EventsOfRequest> = crate::on_backend!(c, |c| diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT request_id, COUNT(*) AS n FROM audit_events GROUP BY request_id"
            ),
            c
        ))?;
        Ok(rows.into_iter().map(|r| (r.request_id, r.n)).collect())
    })
}

/// A migrated database that disappears on drop.
pub struct TestDb {
    /// The connection URL (for a server process under test).
    pub url: String,
    /// A pool on it.
    pub db: Database,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// The PostgreSQL server tests use, if `TEST_DATABASE_URL` is set.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Says once per test process, past the test harness's output capture, that PostgreSQL tests
/// are skipped.
pub fn announce_skip() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: TEST_DATABASE_URL unset: PostgreSQL variants of these tests did not run"
        );
    });
}

/// Replaces the database name (the path) of a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// A fresh SQLite database file, migrated.
    pub fn sqlite() -> Result<Self, StoreError> {
        let made = Self::sqlite_unmigrated()?;
        made.db.migrate()?;
        Ok(made)
    }

    /// A fresh SQLite database file, not migrated.
    pub fn sqlite_unmigrated() -> Result<Self, StoreError> {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("healthcare_test")));
        let url = format!("sqlite://{}", path.display());
        let db = Database::connect(&DbConfig::new(url.clone()))?;
        Ok(Self {
            url,
            db,
            cleanup: Cleanup::File(path),
        })
    }

    /// A fresh PostgreSQL database, migrated; `None` (after announcing the skip) when
    /// `TEST_DATABASE_URL` is unset.
    pub fn postgres() -> Result<Option<Self>, StoreError> {
        let made = Self::postgres_unmigrated()?;
        if let Some(made) = &made {
            made.db.migrate()?;
        }
        Ok(made)
    }

    /// A fresh PostgreSQL database, not migrated; `None` as for [`TestDb::postgres`].
    pub fn postgres_unmigrated() -> Result<Option<Self>, StoreError> {
        let Some(admin_url) = postgres_admin_url() else {
            announce_skip();
            return Ok(None);
        };
        let name = unique_name("hc_test");
        let mut admin = PgConnection::establish(&admin_url)
            .map_err(|e| StoreError::Config(format!("TEST_DATABASE_URL: {e}")))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = with_database(&admin_url, &name);
        let cleanup = Cleanup::Postgres { admin_url, name };
        let db = Database::connect(&DbConfig::new(url.clone()))?;
        Ok(Some(Self { url, db, cleanup }))
    }
}

impl TestDb {
    /// PostgreSQL: ends every server process connected to this database (as a server restart
    /// would), so pooled connections to it are dead. Nothing on SQLite.
    pub fn terminate_connections(&self) -> Result<(), StoreError> {
        if let Cleanup::Postgres { .. } = self.cleanup {
            let mut own = PgConnection::establish(&self.url)
                .map_err(|e| StoreError::Config(format!("test database: {e}")))?;
            own.batch_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )?;
            // Terminated processes close their sockets asynchronously.
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

/// Defines `mod $name { fn sqlite(); fn postgres(); }`: one test per backend running the same
/// body, `fn(&TestDb)`. The PostgreSQL variant announces a skip when `TEST_DATABASE_URL` is
/// unset.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:expr;)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().expect("sqlite test database");
                ($body)(&db);
            }

            #[test]
            fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().expect("postgres test database") {
                    ($body)(&db);
                }
            }
        }
    )*};
}

/// A valid new doctor with this licence number (the rest fixed), for tests.
pub fn sample_doctor(license: &str) -> NewDoctor {
    NewDoctor {
        first_name: "Greg".into(),
        last_name: "House".into(),
        specialization: Specialization::GeneralPractice,
        contact_number: "555 0101".into(),
        email: "house@example.org".into(),
        license_number: license.into(),
        hospital: "PPTH".into(),
        address: String::new(),
        experience_years: 10,
        user: None,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
    }
}

/// A valid new patient with this first name and owner account (the rest fixed), for tests.
pub fn sample_patient(first: &str, user: Option<UserId>) -> NewPatient {
    NewPatient {
        first_name: first.into(),
        last_name: "Doe".into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 5, 17).unwrap_or_default(),
        gender: Gender::Female,
        contact_number: "+1 555 0100".into(),
        email: String::new(),
        address: "1 Main St".into(),
        medical_history: String::new(),
        user,
    }
}

/// Working hours around the clock (00:00-23:59 UTC, every day), for tests: bookings of such a
/// doctor take the checked path, and only time off and overlaps refuse them.
pub fn around_the_clock() -> healthcare_scheduling::WeeklySchedule {
    use chrono::{NaiveTime, Weekday};
    let day_long = |weekday| healthcare_scheduling::WeeklyInterval {
        weekday,
        start: NaiveTime::MIN,
        end: NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN),
    };
    let week = std::iter::successors(Some(Weekday::Mon), |d| Some(d.succ())).take(7);
    healthcare_scheduling::WeeklySchedule::new(chrono_tz::UTC, week.map(day_long).collect())
        .unwrap_or_else(|e| panic!("a valid week: {e}"))
}
