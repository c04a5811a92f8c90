//! What authentication keeps in the database so several server processes agree: the signing
//! key, refresh tokens (rotation, reuse detection, revocation) and failed-login counters.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::schema::{login_failures, refresh_tokens, settings};
use crate::time::to_db;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use healthcare_domain::UserId;

const SECRET_KEY: &str = "jwt_secret";

/// The JWT signing key kept in the database, created by `generate` on first use. Two processes
/// starting at once agree: the loser of the insert reads the winner's key.
pub fn signing_secret(
    conn: &mut DbConnection,
    generate: impl FnOnce() -> String,
) -> StoreResult<String> {
    let read = |conn: &mut DbConnection| -> StoreResult<Option<String>> {
        Ok(settings::table
            .find(SECRET_KEY)
            .select(settings::value)
            .get_result(conn)
            .optional()?)
    };
    if let Some(s) = read(conn)? {
        return Ok(s);
    }
    let inserted = diesel::insert_into(settings::table)
        .values((settings::key.eq(SECRET_KEY), settings::value.eq(generate())))
        .execute(conn);
    match inserted {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => read(conn)?.ok_or(StoreError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// A refresh token as recorded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRecord {
    /// Token id.
    pub jti: String,
    /// Owner.
    pub user_id: i64,
    /// Rotation family (one login session).
    pub family: String,
    /// Expiry.
    pub expires_at: NaiveDateTime,
    /// When it was exchanged for a new pair.
    pub used_at: Option<NaiveDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Records a newly issued refresh token.
pub fn record_refresh(
    conn: &mut DbConnection,
    jti: &str,
    user: UserId,
    family: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::jti.eq(jti),
            refresh_tokens::user_id.eq(user.0),
            refresh_tokens::family.eq(family),
            refresh_tokens::expires_at.eq(to_db(expires_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Fresh: now marked used; issue the next pair in this family.
    Rotated {
        /// Owner.
        user: UserId,
        /// Family to continue.
        family: String,
    },
    /// Already used or revoked: the whole family has now been revoked (theft detection).
    Reused,
    /// Not on record (or expired).
    Unknown,
}

/// Exchanges a refresh token (call inside a write transaction).
pub fn use_refresh(
    conn: &mut DbConnection,
    jti: &str,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    let rec: Option<RefreshRecord> = refresh_tokens::table
        .find(jti)
        .get_result(conn)
        .optional()?;
    let Some(rec) = rec else {
        return Ok(RefreshOutcome::Unknown);
    };
    if rec.expires_at <= to_db(now) {
        return Ok(RefreshOutcome::Unknown);
    }
    if rec.used_at.is_some() || rec.revoked_at.is_some() {
        revoke_family(conn, &rec.family, now)?;
        return Ok(RefreshOutcome::Reused);
    }
    diesel::update(refresh_tokens::table.find(jti))
        .set(refresh_tokens::used_at.eq(Some(to_db(now))))
        .execute(conn)?;
    Ok(RefreshOutcome::Rotated {
        user: UserId(rec.user_id),
        family: rec.family,
    })
}

/// Revokes every token of a family (logout, or reuse detected). Returns whether any existed.
pub fn revoke_family(
    conn: &mut DbConnection,
    family: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n > 0)
}

/// The family of a recorded refresh token.
pub fn family_of(conn: &mut DbConnection, jti: &str) -> StoreResult<Option<String>> {
    Ok(refresh_tokens::table
        .find(jti)
        .select(refresh_tokens::family)
        .get_result(conn)
        .optional()?)
}

/// Revokes every refresh token of an account (deactivation, password change).
pub fn revoke_user(conn: &mut DbConnection, user: UserId) -> StoreResult<()> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.0))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(to_db(Utc::now()))))
    .execute(conn)?;
    Ok(())
}

/// Deletes refresh tokens that expired before `now` and login failures older than `window_start`.
pub fn purge(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> StoreResult<usize> {
    let a = diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(to_db(now))))
        .execute(conn)?;
    let b = diesel::delete(
        login_failures::table.filter(login_failures::attempted_at.lt(to_db(window_start))),
    )
    .execute(conn)?;
    Ok(a + b)
}

/// Records a failed login.
pub fn record_failure(
    conn: &mut DbConnection,
    username_key: &str,
    client_ip: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::username_key.eq(username_key),
            login_failures::client_ip.eq(client_ip),
            login_failures::attempted_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Failed logins since `since`: (for this username, from this address), and the oldest of each
/// within the window (to compute `Retry-After`).
pub fn recent_failures(
    conn: &mut DbConnection,
    username_key: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> StoreResult<FailureCounts> {
    let since = to_db(since);
    let by_user: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::username_key.eq(username_key))
        .filter(login_failures::attempted_at.ge(since))
        .select(login_failures::attempted_at)
        .order(login_failures::attempted_at.asc())
        .load(conn)?;
    let by_ip: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::client_ip.eq(client_ip))
        .filter(login_failures::attempted_at.ge(since))
        .select(login_failures::attempted_at)
        .order(login_failures::attempted_at.asc())
        .load(conn)?;
    Ok(FailureCounts {
        by_user: by_user.iter().map(|t| t.and_utc()).collect(),
        by_ip: by_ip.iter().map(|t| t.and_utc()).collect(),
    })
}

/// Failed-login timestamps within the window, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// For the username.
    pub by_user: Vec<DateTime<Utc>>,
    /// From the client address.
    pub by_ip: Vec<DateTime<Utc>>,
}

/// Forgets the failures of a username (after a successful login).
pub fn clear_failures(conn: &mut DbConnection, username_key: &str) -> StoreResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::username_key.eq(username_key)))
        .execute(conn)?;
    Ok(())
}
