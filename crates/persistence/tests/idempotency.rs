//! Stored answers of idempotency keys as the database holds them, on SQLite and on PostgreSQL:
//! sealed, found by the key's hash, replayed with the key; rows an older build stored in plain
//! are sealed by the sweeper's step and still replayed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::prelude::*;
use healthcare_domain::Role;
use healthcare_persistence::idempotency::{self, key_id, KeyedRequest, Reservation, StoredAnswer};
use healthcare_persistence::schema::idempotency_keys as keys;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{both_backends, users};

const SECRET: &str = "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw";

fn account(t: &TestDb) -> i64 {
    t.db.write(|c| Ok(users::create(c, "clerk", "", "hash", Role::Admin)?.id.0))
        .unwrap()
}

fn request(user: i64, key: &str) -> KeyedRequest {
    KeyedRequest {
        user,
        key: key.into(),
        method: "POST".into(),
        path: "/api/webhooks/".into(),
        body_sha256: "00".repeat(32),
    }
}

fn answer() -> StoredAnswer {
    StoredAnswer {
        status: 201,
        location: Some("/api/webhooks/1/".into()),
        etag: Some("\"1\"".into()),
        body: format!(r#"{{"id":1,"secret":"{SECRET}"}}"#).into_bytes(),
    }
}

fn reserve(t: &TestDb, request: &KeyedRequest, owner: &str) -> Reservation {
    let (request, owner) = (request.clone(), owner.to_owned());
    t.db.write(move |c| idempotency::reserve(c, &request, &owner))
        .unwrap()
}

/// A new account's request with `key`, reserved and answered with [`answer`] by "request-1".
fn answered(t: &TestDb, key: &str) -> KeyedRequest {
    let user = account(t);
    let first = request(user, key);
    assert_eq!(reserve(t, &first, "request-1"), Reservation::Fresh);
    let key = key.to_owned();
    t.db.write(move |c| idempotency::store(c, user, &key, "request-1", &answer()))
        .unwrap();
    first
}

/// Every row as stored: (key, body, sealed, status).
type Row = (String, Option<Vec<u8>>, bool, Option<i32>);

fn rows(t: &TestDb) -> Vec<Row> {
    t.db.read(|c| {
        Ok(keys::table
            .select((keys::key, keys::body, keys::sealed, keys::status))
            .order(keys::key)
            .load(c)?)
    })
    .unwrap()
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

/// A row as a build before sealing stored it: the key and the body as sent.
fn plain_row(t: &TestDb, user: i64, key: &str, status: Option<i32>, reserved_secs: i64) {
    let key = key.to_owned();
    t.db.write(move |c| {
        let at = chrono::Utc::now().naive_utc();
        diesel::insert_into(keys::table)
            .values((
                keys::user_id.eq(user),
                keys::key.eq(&key),
                keys::method.eq("POST"),
                keys::path.eq("/api/webhooks/"),
                keys::body_sha256.eq("00".repeat(32)),
                keys::owner.eq("old-build"),
                keys::reserved_until.eq(at + chrono::Duration::seconds(reserved_secs)),
                keys::created_at.eq(at),
                keys::status.eq(status),
                keys::location.eq(status.map(|_| "/api/webhooks/1/")),
                keys::body.eq(status.map(|_| answer().body)),
            ))
            .execute(c)?;
        Ok(())
    })
    .unwrap();
}

both_backends! {
    answers_are_stored_sealed_and_replayed_with_their_key => |t: &TestDb| {
        let first = answered(t, "retry-me-7f3a");

        let stored = rows(t);
        assert_eq!(stored.len(), 1);
        let (key, body, sealed, status) = &stored[0];
        assert_eq!(key, &key_id("retry-me-7f3a"));
        assert_ne!(key, "retry-me-7f3a");
        assert!(sealed);
        assert_eq!(*status, Some(201));
        let body = body.as_deref().unwrap();
        assert!(!holds(body, SECRET), "the secret is readable in the database");
        assert!(!holds(body, "\"id\""), "the body is readable in the database");

        assert_eq!(reserve(t, &first, "request-2"), Reservation::Replay(answer()));
        // Another key is another request; the same key with another body is refused.
        assert_eq!(reserve(t, &request(first.user, "retry-me-7f3b"), "request-3"), Reservation::Fresh);
        let mut other = first.clone();
        other.body_sha256 = "11".repeat(32);
        assert_eq!(reserve(t, &other, "request-4"), Reservation::Mismatch);
    };

    a_changed_sealed_answer_is_refused_not_replayed => |t: &TestDb| {
        let first = answered(t, "tamper-key");
        t.db.write(|c| {
            let body: Vec<u8> = keys::table.select(keys::body.assume_not_null()).first(c)?;
            let mut changed = body.clone();
            changed[20] ^= 0x55;
            diesel::update(keys::table).set(keys::body.eq(changed)).execute(c)?;
            Ok(())
        })
        .unwrap();
        let found = t.db.write(move |c| idempotency::reserve(c, &first, "request-2"));
        assert!(found.is_err(), "a changed answer was replayed: {found:?}");
    };

    answers_stored_in_plain_are_sealed_and_still_replayed => |t: &TestDb| {
        let user = account(t);
        // Answered by an older build; still running on an older process; answered by an
        // older build while a request of this build already holds the key's row.
        plain_row(t, user, "answered-before", Some(201), 60);
        plain_row(t, user, "running-before", None, 60);
        plain_row(t, user, "both", Some(201), 60);
        assert_eq!(reserve(t, &request(user, "both"), "new"), Reservation::Fresh);

        let changed = t.db.write(|c| idempotency::seal_stored(c, 100)).unwrap();
        assert_eq!(changed, 2);
        let stored = rows(t);
        let by_key = |k: &str| stored.iter().find(|r| r.0 == k).cloned();
        let (_, body, sealed, _) = by_key(&key_id("answered-before")).unwrap();
        assert!(sealed);
        assert!(!holds(&body.unwrap(), SECRET));
        assert!(by_key("answered-before").is_none());
        assert!(by_key("both").is_none(), "the plain row of a key in use stays");
        assert!(by_key(&key_id("both")).is_some());
        let (_, _, sealed, status) = by_key("running-before").unwrap();
        assert!(!sealed && status.is_none(), "a running reservation was moved");
        assert_eq!(stored.len(), 3);

        // An older build stored no ETag: the replay has none.
        assert_eq!(
            reserve(t, &request(user, "answered-before"), "retry"),
            Reservation::Replay(StoredAnswer { etag: None, ..answer() })
        );
        assert_eq!(t.db.write(|c| idempotency::seal_stored(c, 100)).unwrap(), 0);
    };
}
