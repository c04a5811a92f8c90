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

/// Applies every pending migration of the connection's backend; returns their versions.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let set = set_for(conn);
    match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(set),
        DbConnection::Postgresql(c) => c.run_pending_migrations(set),
    }
    .map(|v| v.iter().map(ToString::to_string).collect())
    .map_err(err)
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
