//! Embedded migrations, one set per backend, applied at start-up.

use crate::db::DbConnection;
use crate::error::StoreError;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// The PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

fn set_for(conn: &DbConnection) -> EmbeddedMigrations {
    match conn {
        DbConnection::Sqlite(_) => SQLITE,
        DbConnection::Postgresql(_) => POSTGRES,
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("migration failed: {e}"))
}

/// The PostgreSQL advisory lock that lets one process at a time migrate a database.
const MIGRATION_LOCK: i64 = 0x6865_616c_7468_6d67; // "healthmg"

/// Applies every pending migration of the connection's backend; returns their versions. Processes
/// starting together on one database take turns: on PostgreSQL under a session advisory lock, on
/// SQLite in one IMMEDIATE transaction (the write lock held from its start); the second finds
/// nothing pending.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    use diesel::connection::SimpleConnection;
    let set = set_for(conn);
    let versions = |v: Vec<diesel::migration::MigrationVersion<'_>>| {
        v.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    match conn {
        DbConnection::Sqlite(c) => {
            c.immediate_transaction(|c| c.run_pending_migrations(set).map(versions).map_err(err))
        }
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = c.run_pending_migrations(set).map(versions).map_err(err);
            let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
    }
}

/// Whether every embedded migration has been applied (readiness).
pub fn is_up_to_date(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let set = set_for(conn);
    match conn {
        DbConnection::Sqlite(c) => c.has_pending_migration(set),
        DbConnection::Postgresql(c) => c.has_pending_migration(set),
    }
    .map(|pending| !pending)
    .map_err(err)
}

/// Reverts every applied migration (tests and operators only: this drops all data).
pub fn revert_all(conn: &mut DbConnection) -> Result<(), StoreError> {
    let set = set_for(conn);
    match conn {
        DbConnection::Sqlite(c) => c.revert_all_migrations(set),
        DbConnection::Postgresql(c) => c.revert_all_migrations(set),
    }
    .map(|_| ())
    .map_err(err)
}
