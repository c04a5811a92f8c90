//! Leases of background tasks: one row per task name in `leases` (name, holder, expires_at),
//! so that of several server processes on one database exactly one runs a task at a time.
//!
//! A holder takes or renews its lease with one conditional upsert: the row is written when it
//! does not exist, when the holder already has it, or when it has expired; otherwise nothing
//! changes and the caller is told it does not hold the lease. Expiry compares the clocks of the
//! processes (each writes `now + ttl` from its own clock), so the TTL must be well above their
//! skew; a holder renews far more often than its TTL.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::time::{now, to_db};
use chrono::Duration;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

/// Takes or renews the lease `name` for `holder` until `ttl` from now; `true` when `holder` has
/// it now. Run it in a write ([`crate::Database::write`]): on SQLite inside the writer's
/// transaction, on PostgreSQL the upsert locks the row until the transaction ends, so work done
/// in the same transaction under the lease is never done by two holders at once.
pub fn take(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = now();
    let until = to_db(now + ttl);
    let now = to_db(now);
    let rows = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
        )
        .bind::<Text, _>(name)
        .bind::<Text, _>(holder)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .execute(c)?,
        DbConnection::Postgresql(c) => diesel::sql_query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind::<Text, _>(name)
        .bind::<Text, _>(holder)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .execute(c)?,
    };
    Ok(rows == 1)
}

/// Gives the lease `name` up if `holder` has it (a clean stop), so another process can take it
/// at once instead of after its expiry; `true` when it was held.
pub fn release(conn: &mut DbConnection, name: &str, holder: &str) -> Result<bool, StoreError> {
    use crate::schema::leases::dsl;
    let rows = crate::on_backend!(conn, |c| diesel::delete(
        dsl::leases
            .filter(dsl::name.eq(name))
            .filter(dsl::holder.eq(holder))
    )
    .execute(c))?;
    Ok(rows == 1)
}

/// Who holds the lease `name` now (an unexpired row), if anyone.
pub fn holder(conn: &mut DbConnection, name: &str) -> Result<Option<String>, StoreError> {
    use crate::schema::leases::dsl;
    let now = to_db(now());
    Ok(crate::on_backend!(conn, |c| dsl::leases
        .filter(dsl::name.eq(name))
        .filter(dsl::expires_at.ge(now))
        .select(dsl::holder)
        .first::<String>(c)
        .optional())?)
}
