//! Idempotency keys (docs/api.md "Retries and concurrent edits"): a key is reserved in a short
//! transaction of its own before the request's work ([`reserve`]), so a concurrent duplicate on
//! any process finds it; the answer is stored in the change's own transaction ([`store`]), so a
//! change and its stored answer commit together or not at all.
//!
//! Stored answers are sealed: a row is found by the SHA-256 of its `Idempotency-Key`
//! ([`key_id`]) and its body is encrypted (AES-256-GCM) with a key derived from the
//! `Idempotency-Key` itself, bound to the account and the row. The key never reaches the
//! database, so neither a copy of the database nor a backup reads an answer (a calendar token,
//! a webhook secret) back; a retry, which sends the key again, does. Rows stored by an older
//! build (`sealed` false: the key and the body as sent) are sealed by [`seal_stored`].

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::schema::idempotency_keys as keys;
use crate::time::{now, to_db};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sha2::{Digest, Sha256};

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
    /// `ETag`, when the answer is one versioned record (as it was then).
    pub etag: Option<String>,
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

/// What a row's `key` holds for an `Idempotency-Key`: its SHA-256, hex.
pub fn key_id(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The AES-256-GCM key of the answers stored for `key`: HMAC-SHA256 keyed by the
/// `Idempotency-Key` over a fixed label.
fn sealing_key(key: &str) -> StoreResult<LessSafeKey> {
    let derived = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes()),
        b"healthcare idempotency answer v1",
    );
    UnboundKey::new(&AES_256_GCM, derived.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| StoreError::Corrupt("cannot derive the answer's key".into()))
}

/// What the seal binds a body to: the account and the row.
fn binding(user: i64, key: &str) -> String {
    format!("{user}/{}", key_id(key))
}

/// `body` sealed for `user`'s `key`: a random nonce, then the ciphertext and its tag.
fn seal(user: i64, key: &str, body: &[u8]) -> StoreResult<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = Vec::with_capacity(NONCE_LEN + body.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(body);
    let tag = sealing_key(key)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(binding(user, key).as_bytes()),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| StoreError::Corrupt("cannot seal the answer".into()))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// The body [`seal`] sealed for `user`'s `key`; [`StoreError::Corrupt`] when it was changed
/// or sealed for another row.
fn unseal(user: i64, key: &str, sealed: &[u8]) -> StoreResult<Vec<u8>> {
    let corrupt = || StoreError::Corrupt("a stored answer does not open with its key".into());
    if sealed.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
    let mut plain = ciphertext.to_vec();
    let len = sealing_key(key)?
        .open_in_place(nonce, Aad::from(binding(user, key).as_bytes()), &mut plain)
        .map_err(|_| corrupt())?
        .len();
    plain.truncate(len);
    Ok(plain)
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
    sealed: bool,
    etag: Option<String>,
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
    let id = key_id(&request.key);
    let values = (
        keys::user_id.eq(request.user),
        keys::key.eq(&id),
        keys::sealed.eq(true),
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
    let mine = keys::table.find((request.user, &id)).select((
        keys::method,
        keys::path,
        keys::body_sha256,
        keys::owner,
        keys::reserved_until,
        keys::created_at,
        keys::status,
        keys::location,
        keys::body,
        keys::sealed,
        keys::etag,
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
        let body = row.body.unwrap_or_default();
        return Ok(Reservation::Replay(StoredAnswer {
            status: u16::try_from(status).unwrap_or(500),
            location: row.location,
            etag: row.etag,
            body: match row.sealed {
                true => unseal(request.user, &request.key, &body)?,
                false => body,
            },
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
            .find((request.user, &id))
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
        keys::etag.eq(None::<String>),
        keys::body.eq(None::<Vec<u8>>),
        keys::sealed.eq(true),
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
    let body = seal(user, key, &answer.body)?;
    let stored = diesel::update(
        keys::table
            .find((user, key_id(key)))
            .filter(keys::owner.eq(owner))
            .filter(keys::status.is_null()),
    )
    .set((
        keys::status.eq(Some(i32::from(answer.status))),
        keys::location.eq(answer.location.as_deref()),
        keys::etag.eq(answer.etag.as_deref()),
        keys::body.eq(Some(body)),
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
            .find((user, key_id(key)))
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

/// Seals up to `limit` rows stored by an older build (the key and the body as sent): each
/// moves to its [`key_id`] with its answer sealed, or is removed when a request with the same
/// key already has a row of its own. A reservation still running is left until it answers or
/// dies (its request, on an older process, stores its answer by the plain key). Returns how
/// many rows it changed.
pub fn seal_stored(conn: &mut DbConnection, limit: i64) -> StoreResult<usize> {
    let t = to_db(now());
    let old: Vec<(i64, String, Option<Vec<u8>>)> = keys::table
        .filter(keys::sealed.eq(false))
        .filter(keys::status.is_not_null().or(keys::reserved_until.le(t)))
        .select((keys::user_id, keys::key, keys::body))
        .limit(limit)
        .load(conn)?;
    let mut changed = 0;
    for (user, key, body) in &old {
        let id = key_id(key);
        let plain = keys::table.find((user, key)).filter(keys::sealed.eq(false));
        let taken: i64 = keys::table
            .filter(keys::user_id.eq(user))
            .filter(keys::key.eq(&id))
            .count()
            .get_result(conn)?;
        changed += match taken {
            0 => {
                let body = body.as_deref().map(|b| seal(*user, key, b)).transpose()?;
                diesel::update(plain)
                    .set((
                        keys::key.eq(&id),
                        keys::body.eq(body),
                        keys::sealed.eq(true),
                    ))
                    .execute(conn)?
            }
            _ => diesel::delete(plain).execute(conn)?,
        };
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_answer_opens_only_with_its_key_for_its_account() {
        let body = br#"{"token":"secret-calendar-token"}"#;
        let sealed = seal(7, "key-1", body).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(unseal(7, "key-1", &sealed).unwrap(), body);
        assert!(unseal(7, "key-2", &sealed).is_err());
        assert!(unseal(8, "key-1", &sealed).is_err());
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(unseal(7, "key-1", &changed).is_err());
        assert!(unseal(7, "key-1", &sealed[..4]).is_err());
        // A fresh nonce each time: the same answer sealed twice differs.
        assert_ne!(seal(7, "key-1", body).unwrap(), sealed);
    }

    #[test]
    fn the_key_id_is_the_hex_sha256_of_the_key() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            key_id("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
