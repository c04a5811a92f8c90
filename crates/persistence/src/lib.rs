//! Persistence of the healthcare scheduling API: one Diesel codebase for SQLite (embedded
//! default) and PostgreSQL (production), embedded migrations, an r2d2 pool, and repositories
//! for every resource. Database invariants (no double booking, unique licence numbers and
//! usernames, one mapping per pair, foreign keys) are enforced by the database itself and
//! surface as typed [`StoreError`] variants.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod appointments;
pub mod audit;
pub mod audit_log;
pub mod availability;
pub mod blocks;
pub mod calendar;
pub mod db;
pub mod doctors;
mod each;
pub mod error;
pub mod idempotency;
pub mod leases;
pub mod mail;
pub mod mappings;
pub mod migrations;
pub mod outbox;
pub mod page;
pub mod patients;
pub mod replica;
pub mod schema;
pub mod series;
pub mod testing;
pub mod throttle;
pub mod time;
pub mod tokens;
pub mod username_keys;
pub mod users;
pub mod versions;
pub mod webhooks;
pub mod writer;

pub use db::{Backend, Database, DbConfig, DbConnection, SqliteSync};
pub use error::{StoreError, StoreResult};
pub use page::{Listed, Page};
