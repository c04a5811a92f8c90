//! Throttling of logins and self-registrations, decided by the database so that every server
//! process on it agrees.
//!
//! An attempt is *admitted* in one write transaction that counts the recent attempts of its
//! buckets and records the new one before anything slow (the password hash) runs: a login is
//! counted as a failure until it succeeds, so N concurrent wrong passwords can never be
//! evaluated more often than the limit allows. On SQLite the write transaction is IMMEDIATE
//! (one writer at a time, across processes); on PostgreSQL transaction-scoped advisory locks on
//! the client address and then the username serialise the count-and-insert of attempts that
//! share a bucket (always in that order, so two admissions cannot deadlock).

use crate::db::DbConnection;
use crate::error::StoreResult;
use crate::schema::{login_failures, registration_attempts};
use crate::time::to_db;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

/// A limit: at most `max` attempts within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Attempts allowed within the window.
    pub max: u32,
    /// The sliding window.
    pub window: Duration,
}

/// The login limits: per (username, client address), per client address, per username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures per (username, client address).
    pub per_user_address: Bucket,
    /// Failures per client address, all usernames.
    pub per_address: Bucket,
    /// Failures per username, all addresses.
    pub per_user: Bucket,
}

impl LoginLimits {
    /// The longest window: records older than it count for nothing.
    pub fn longest_window(&self) -> Duration {
        self.per_user_address
            .window
            .max(self.per_address.window)
            .max(self.per_user.window)
    }
}

/// The answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go on; the attempt is recorded under this id (a login's record counts as a failure
    /// until [`login_succeeded`] removes it).
    Admitted(i64),
    /// Over a limit: try again in this many seconds (at least 1).
    Throttled(u64),
}

/// Seconds until the `max`-th newest attempt at `nth_newest` leaves the window, when there is
/// one (then the bucket is full).
fn wait_for(
    nth_newest: Option<NaiveDateTime>,
    window: Duration,
    now: DateTime<Utc>,
) -> Option<u64> {
    nth_newest.map(|t| {
        let until = t.and_utc() + window;
        u64::try_from((until - now).num_seconds())
            .unwrap_or(0)
            .max(1)
    })
}

/// On PostgreSQL, waits for the transaction-scoped advisory lock of each key, in order.
fn lock_keys(conn: &mut DbConnection, keys: &[String]) -> StoreResult<()> {
    if let DbConnection::Postgresql(_) = conn {
        for key in keys {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7273))")
                .bind::<Text, _>(key)
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The `n`-th newest login failure (1-based) in a bucket since `since`.
fn nth_newest_failure(
    conn: &mut DbConnection,
    username_key: Option<&str>,
    client_ip: Option<&str>,
    since: DateTime<Utc>,
    n: u32,
) -> StoreResult<Option<NaiveDateTime>> {
    let mut query = login_failures::table
        .filter(login_failures::attempted_at.ge(to_db(since)))
        .select(login_failures::attempted_at)
        .order(login_failures::attempted_at.desc())
        .offset(i64::from(n.max(1)) - 1)
        .limit(1)
        .into_boxed();
    if let Some(key) = username_key {
        query = query.filter(login_failures::username_key.eq(key.to_owned()));
    }
    if let Some(ip) = client_ip {
        query = query.filter(login_failures::client_ip.eq(ip.to_owned()));
    }
    Ok(query.get_result(conn).optional()?)
}

/// Admits a login attempt for `username_key` from `client_ip`, or refuses it when a bucket is
/// full (call inside a write transaction). An admitted attempt is recorded as a failure at once.
pub fn admit_login(
    conn: &mut DbConnection,
    username_key: &str,
    client_ip: &str,
    now: DateTime<Utc>,
    limits: &LoginLimits,
) -> StoreResult<Admission> {
    lock_keys(
        conn,
        &[
            format!("login-ip:{client_ip}"),
            format!("login-user:{username_key}"),
        ],
    )?;
    let checks = [
        (Some(username_key), Some(client_ip), limits.per_user_address),
        (None, Some(client_ip), limits.per_address),
        (Some(username_key), None, limits.per_user),
    ];
    let mut wait: Option<u64> = None;
    for (user, ip, bucket) in checks {
        let nth = nth_newest_failure(conn, user, ip, now - bucket.window, bucket.max)?;
        if let Some(secs) = wait_for(nth, bucket.window, now) {
            wait = Some(wait.map_or(secs, |w| w.max(secs)));
        }
    }
    if let Some(secs) = wait {
        return Ok(Admission::Throttled(secs));
    }
    let id = diesel::insert_into(login_failures::table)
        .values((
            login_failures::username_key.eq(username_key),
            login_failures::client_ip.eq(client_ip),
            login_failures::attempted_at.eq(to_db(now)),
        ))
        .returning(login_failures::id)
        .get_result(conn)?;
    Ok(Admission::Admitted(id))
}

/// A login admitted as `attempt` succeeded: its record goes, and so do the earlier failures of
/// the same username from the same address.
pub fn login_succeeded(
    conn: &mut DbConnection,
    attempt: i64,
    username_key: &str,
    client_ip: &str,
) -> StoreResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::id
                .eq(attempt)
                .or(login_failures::username_key
                    .eq(username_key)
                    .and(login_failures::client_ip.eq(client_ip))),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// Admits a self-registration from `client_ip`, or refuses it when the address has used its
/// bucket (call inside a write transaction). Every admitted attempt counts, whether or not the
/// account is then created.
pub fn admit_registration(
    conn: &mut DbConnection,
    client_ip: &str,
    now: DateTime<Utc>,
    bucket: Bucket,
) -> StoreResult<Admission> {
    lock_keys(conn, &[format!("register-ip:{client_ip}")])?;
    let nth: Option<NaiveDateTime> = registration_attempts::table
        .filter(registration_attempts::client_ip.eq(client_ip))
        .filter(registration_attempts::attempted_at.ge(to_db(now - bucket.window)))
        .select(registration_attempts::attempted_at)
        .order(registration_attempts::attempted_at.desc())
        .offset(i64::from(bucket.max.max(1)) - 1)
        .limit(1)
        .get_result(conn)
        .optional()?;
    if let Some(secs) = wait_for(nth, bucket.window, now) {
        return Ok(Admission::Throttled(secs));
    }
    let id = diesel::insert_into(registration_attempts::table)
        .values((
            registration_attempts::client_ip.eq(client_ip),
            registration_attempts::attempted_at.eq(to_db(now)),
        ))
        .returning(registration_attempts::id)
        .get_result(conn)?;
    Ok(Admission::Admitted(id))
}

/// Deletes throttling records older than `window_start` (pass the longest window's start).
pub fn purge(conn: &mut DbConnection, window_start: DateTime<Utc>) -> StoreResult<usize> {
    let at = to_db(window_start);
    let a = diesel::delete(login_failures::table.filter(login_failures::attempted_at.lt(at)))
        .execute(conn)?;
    let b = diesel::delete(
        registration_attempts::table.filter(registration_attempts::attempted_at.lt(at)),
    )
    .execute(conn)?;
    Ok(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_when_the_oldest_counted_attempt_leaves_the_window() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let window = Duration::minutes(15);
        assert_eq!(wait_for(None, window, now), None);
        let t = (now - Duration::minutes(5)).naive_utc();
        assert_eq!(wait_for(Some(t), window, now), Some(600));
        let edge = (now - window).naive_utc();
        assert_eq!(wait_for(Some(edge), window, now), Some(1), "never 0");
    }
}
