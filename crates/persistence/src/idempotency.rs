//! Idempotency keys (docs/api.md "Retries and concurrent edits"): a key is reserved in a short
//! transaction of its own before the request's work ([`reserve`]), so a concurrent duplicate on
//! any process finds it; the answer is stored in the change's own transaction ([`store`]), so a
//! change and its stored answer commit together or not at all.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::schema::idempotency_keys as keys;
use crate::time::{now, to_db};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// How long a key keeps its answer.
pub const KEY_HOURS: i64 = 24;
/// How long a reservation lasts when its request neither answers nor gives it back (a process
/// that died): another request may then take the key over.
pub const RESERVATION_SECONDS: i64 = 60;

/// The request a key was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    /// The account.
    pub user: i64,
    /// The `Idempotency-Key`.
    pub key: String,
    /// `POST` or `PATCH`.
    pub method: String,
    /// The request path.
    pub path: String,
    /// SHA-256 of the body bytes, hex.
    pub body_sha256: String,
}

/// A stored answer: what a replay sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Location`, for a 201.
    pub location: Option<String>,
    /// The body bytes (JSON).
    pub body: Vec<u8>,
}

/// What [`reserve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key is this request's now: run it.
    Fresh,
    /// The same request was answered: send this again.
    Replay(StoredAnswer),
    /// The key was used for another request (422).
    Mismatch,
    /// The first request with the key is still running (409).
    InFlight,
}

#[derive(Queryable)]
struct KeyRow {
    method: String,
    path: String,
    body_sha256: String,
    owner: String,
    reserved_until: NaiveDateTime,
    created_at: NaiveDateTime,
    status: Option<i32>,
    location: Option<String>,
    body: Option<Vec<u8>>,
}

/// Reserves `request.key` for the request `owner` names (a random token of the request), or
/// says why not. Run it as a write of its own, before the request's work.
pub fn reserve(
    conn: &mut DbConnection,
    request: &KeyedRequest,
    owner: &str,
) -> StoreResult<Reservation> {
    let t = to_db(now());
    let until = t + Duration::seconds(RESERVATION_SECONDS);
    let values = (
        keys::user_id.eq(request.user),
        keys::key.eq(&request.key),
        keys::method.eq(&request.method),
        keys::path.eq(&request.path),
        keys::body_sha256.eq(&request.body_sha256),
        keys::owner.eq(owner),
        keys::reserved_until.eq(until),
        keys::created_at.eq(t),
    );
    let inserted = crate::on_backend!(conn, |c| diesel::insert_into(keys::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 1 {
        return Ok(Reservation::Fresh);
    }
    let mine = keys::table.find((request.user, &request.key)).select((
        keys::method,
        keys::path,
        keys::body_sha256,
        keys::owner,
        keys::reserved_until,
        keys::created_at,
        keys::status,
        keys::location,
        keys::body,
    ));
    let Some(row) = mine.get_result::<KeyRow>(conn).optional()? else {
        // Given back between the insert and the read: the next try takes it.
        return Ok(Reservation::InFlight);
    };
    let expired = row.created_at <= t - Duration::hours(KEY_HOURS);
    if !expired && !same_request(&row, request) {
        return Ok(Reservation::Mismatch);
    }
    if let (false, Some(status)) = (expired, row.status) {
        return Ok(Reservation::Replay(StoredAnswer {
            status: u16::try_from(status).unwrap_or(500),
            location: row.location,
            body: row.body.unwrap_or_default(),
        }));
    }
    let dead = row.status.is_none() && row.reserved_until <= t;
    if !expired && !dead {
        return Ok(Reservation::InFlight);
    }
    // A forgotten key, or the same request's reservation whose request died: taken over, only
    // if nobody else took it since it was read.
    let taken = diesel::update(
        keys::table
            .find((request.user, &request.key))
            .filter(keys::owner.eq(&row.owner))
            .filter(keys::created_at.eq(row.created_at)),
    )
    .set((
        keys::method.eq(&request.method),
        keys::path.eq(&request.path),
        keys::body_sha256.eq(&request.body_sha256),
        keys::owner.eq(owner),
        keys::reserved_until.eq(until),
        keys::created_at.eq(t),
        keys::status.eq(None::<i32>),
        keys::location.eq(None::<String>),
        keys::body.eq(None::<Vec<u8>>),
    ))
    .execute(conn)?;
    Ok(if taken == 1 {
        Reservation::Fresh
    } else {
        Reservation::InFlight
    })
}

fn same_request(row: &KeyRow, request: &KeyedRequest) -> bool {
    row.method == request.method
        && row.path == request.path
        && row.body_sha256 == request.body_sha256
}

/// Stores the answer of the request that holds the reservation; in the change's transaction
/// when it comes with a change. [`StoreError::KeyTakenOver`] when the reservation is not this
/// request's any more (it outlived [`RESERVATION_SECONDS`] and another request took the key):
/// the change must then roll back.
pub fn store(
    conn: &mut DbConnection,
    user: i64,
    key: &str,
    owner: &str,
    answer: &StoredAnswer,
) -> StoreResult<()> {
    let stored = diesel::update(
        keys::table
            .find((user, key))
            .filter(keys::owner.eq(owner))
            .filter(keys::status.is_null()),
    )
    .set((
        keys::status.eq(Some(i32::from(answer.status))),
        keys::location.eq(answer.location.as_deref()),
        keys::body.eq(Some(answer.body.as_slice())),
    ))
    .execute(conn)?;
    if stored == 1 {
        Ok(())
    } else {
        Err(StoreError::KeyTakenOver)
    }
}

/// Gives a reservation back without an answer (the request was refused in a way that is not
/// stored: 401, 403, 429, 5xx), so the same key may be tried again at once.
pub fn release(conn: &mut DbConnection, user: i64, key: &str, owner: &str) -> StoreResult<()> {
    diesel::delete(
        keys::table
            .find((user, key))
            .filter(keys::owner.eq(owner))
            .filter(keys::status.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

/// Removes the keys older than [`KEY_HOURS`] (at most `limit` of them); returns how many.
pub fn purge(conn: &mut DbConnection, limit: i64) -> StoreResult<usize> {
    let horizon = to_db(now()) - Duration::hours(KEY_HOURS);
    let old: Vec<(i64, String)> = keys::table
        .filter(keys::created_at.le(horizon))
        .select((keys::user_id, keys::key))
        .limit(limit)
        .load(conn)?;
    let mut removed = 0;
    for (user, key) in &old {
        removed += diesel::delete(
            keys::table
                .find((user, key))
                .filter(keys::created_at.le(horizon)),
        )
        .execute(conn)?;
    }
    Ok(removed)
}
