//! What authentication keeps in the database so several server processes agree: the signing
//! key, login sessions and their refresh tokens (rotation, reuse detection, revocation).

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::schema::{refresh_tokens, sessions, settings};
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

/// Starts a login session: records the session and its first refresh token (call inside a
/// write transaction, so both exist or neither does).
pub fn start_session(
    conn: &mut DbConnection,
    session: &str,
    user: UserId,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(session),
            sessions::user_id.eq(user.0),
            sessions::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    record_refresh(conn, jti, user, session, expires_at)
}

/// Records a newly issued refresh token of an existing session.
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
        /// Family (session) to continue.
        family: String,
    },
    /// Already used or revoked: the whole family and its session have now been revoked
    /// (theft detection), tokens issued by the exchange that won included.
    Reused,
    /// Not on record (or expired).
    Unknown,
}

/// Exchanges a refresh token (call inside a write transaction, and record the next refresh
/// token of the family in the same transaction). The exchange is one conditional `UPDATE`:
/// of several concurrent exchanges of one token exactly one marks it used, on any number of
/// processes; on PostgreSQL the others wait for the winner's lock, then find it used (and the
/// winner's new token committed), and revoke the family. Every writer of a family takes its
/// session row first ([`lock_session`]), so exchanges and revocations of one family queue up
/// instead of deadlocking.
pub fn use_refresh(
    conn: &mut DbConnection,
    jti: &str,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    let at = to_db(now);
    let Some(family) = family_of(conn, jti)? else {
        return Ok(RefreshOutcome::Unknown);
    };
    lock_session(conn, &family)?;
    let claimed: Option<(i64, String)> = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::jti.eq(jti))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(at)),
    )
    .set(refresh_tokens::used_at.eq(Some(at)))
    .returning((refresh_tokens::user_id, refresh_tokens::family))
    .get_result(conn)
    .optional()?;
    if let Some((user, family)) = claimed {
        return Ok(RefreshOutcome::Rotated {
            user: UserId(user),
            family,
        });
    }
    let rec: Option<RefreshRecord> = refresh_tokens::table
        .find(jti)
        .get_result(conn)
        .optional()?;
    match rec {
        Some(rec) if rec.expires_at > at => {
            revoke_family(conn, &rec.family, now)?;
            Ok(RefreshOutcome::Reused)
        }
        _ => Ok(RefreshOutcome::Unknown),
    }
}

/// Ends a session: revokes it (its access tokens stop working) and every refresh token of its
/// family (logout, or reuse detected). Returns whether any token was still live.
pub fn revoke_family(
    conn: &mut DbConnection,
    family: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    lock_session(conn, family)?;
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(family))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(to_db(now))))
    .execute(conn)?;
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n > 0)
}

/// Takes the row lock of session `family` on PostgreSQL, whether or not it is still live: the
/// first lock every writer of a family takes, so that no two of them hold a token row and the
/// session row in opposite orders (which PostgreSQL resolves by aborting one of them).
/// Nothing on SQLite, whose writes run one at a time.
fn lock_session(conn: &mut DbConnection, family: &str) -> StoreResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        let _: Option<String> = sessions::table
            .filter(sessions::id.eq(family))
            .select(sessions::id)
            .for_no_key_update()
            .get_result(c)
            .optional()?;
    }
    Ok(())
}

/// The family of a recorded refresh token.
pub fn family_of(conn: &mut DbConnection, jti: &str) -> StoreResult<Option<String>> {
    Ok(refresh_tokens::table
        .find(jti)
        .select(refresh_tokens::family)
        .get_result(conn)
        .optional()?)
}

/// Ends every session of an account but `keep` (a password change by its owner ends their
/// other sessions), and revokes their refresh tokens and the account's calendar token.
pub fn revoke_user_sessions(
    conn: &mut DbConnection,
    user: UserId,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let at = Some(to_db(now));
    let keep = keep.unwrap_or("");
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user.0))
            .filter(sessions::id.ne(keep))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(at))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.0))
            .filter(refresh_tokens::family.ne(keep))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)?;
    crate::calendar::revoke(conn, user)?;
    Ok(())
}

/// Revokes every session and refresh token of an account (deactivation, password reset, role
/// change; the account's `token_version` moves as well).
pub fn revoke_user(conn: &mut DbConnection, user: UserId) -> StoreResult<()> {
    revoke_user_sessions(conn, user, None, Utc::now())
}

/// Deletes refresh tokens that expired before `now`, the sessions left without any (their
/// access tokens, never longer-lived than their refresh tokens, have expired too), and the
/// throttling records older than `window_start` (see [`crate::throttle`]).
pub fn purge(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> StoreResult<usize> {
    let a = diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(to_db(now))))
        .execute(conn)?;
    let b = diesel::delete(sessions::table.filter(diesel::dsl::not(diesel::dsl::exists(
        refresh_tokens::table.filter(refresh_tokens::family.eq(sessions::id)),
    ))))
    .execute(conn)?;
    let c = crate::throttle::purge(conn, window_start)?;
    Ok(a + b + c)
}
