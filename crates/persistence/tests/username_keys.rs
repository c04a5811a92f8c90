//! Re-keying usernames written under the old key rule (`trim().to_lowercase()`), on SQLite and
//! on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use diesel::prelude::*;
use healthcare_domain::{Role, UserId};
use healthcare_persistence::schema::users as users_table;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::username_keys::{self, rekey_usernames};
use healthcare_persistence::{both_backends, users, StoreError};

/// Inserts an account whose username key is `key` (as an older rule would have stored it).
fn account_with_key(t: &TestDb, username: &str, key: &str) -> UserId {
    use users_table::dsl;
    let (username, key) = (username.to_owned(), key.to_owned());
    t.db.write(move |c| {
        let id: i64 = diesel::insert_into(dsl::users)
            .values((
                dsl::username.eq(&username),
                dsl::username_key.eq(&key),
                dsl::email.eq(""),
                dsl::password_hash.eq("hash"),
                dsl::role.eq(Role::Patient.as_str()),
                dsl::is_active.eq(true),
                dsl::date_joined.eq(chrono::Utc::now().naive_utc()),
            ))
            .returning(dsl::id)
            .get_result(c)?;
        Ok(UserId(id))
    })
    .unwrap()
}

/// An account as the old rule would have stored it.
fn old_account(t: &TestDb, username: &str) -> UserId {
    account_with_key(t, username, &username.trim().to_lowercase())
}

fn keys(t: &TestDb) -> Vec<(i64, String)> {
    t.db.read(|c| {
        Ok(users_table::table
            .select((users_table::id, users_table::username_key))
            .order(users_table::id)
            .load(c)?)
    })
    .unwrap()
}

fn found(t: &TestDb, username: &str) -> Option<i64> {
    let username = username.to_owned();
    t.db.read(move |c| users::find_by_username(c, &username))
        .unwrap()
        .map(|row| row.to_domain().unwrap().id.0)
}

both_backends! {
    colliding_accounts_are_named_and_nothing_changes => |t: &TestDb| {
        let alice = old_account(t, "alice");
        // Distinct under the old rule ("straße" / "strasse"), one name under the new one.
        let sharp = old_account(t, "Straße");
        let double = old_account(t, "STRASSE");
        // Fullwidth ＡＤＭＩＮ ("ａｄｍｉｎ" before) and admin.
        let admin = old_account(t, "admin");
        let wide = old_account(t, "ＡＤＭＩＮ");
        // A key that would change but collides with nothing: still not written.
        let gross = old_account(t, "Groß");
        let before = keys(t);

        let err = rekey_usernames(&t.db).unwrap_err();
        let StoreError::Config(message) = &err else {
            panic!("not a refusal: {err:?}");
        };
        for (id, name) in [(sharp, "Straße"), (double, "STRASSE"), (admin, "admin"), (wide, "ＡＤＭＩＮ")] {
            assert!(message.contains(&format!("id {} {name:?}", id.0)), "{message}");
        }
        assert!(message.contains("4 accounts"), "{message}");
        assert!(!message.contains("alice"), "{message}");
        assert!(!message.contains("Groß"), "{message}");
        assert_eq!(keys(t), before);

        let plan = t.db.read(username_keys::plan).unwrap();
        let groups: Vec<(String, Vec<UserId>)> = plan
            .collisions
            .iter()
            .map(|c| (c.key.clone(), c.accounts.iter().map(|a| a.id).collect()))
            .collect();
        assert_eq!(
            groups,
            [("admin".to_owned(), vec![admin, wide]), ("strasse".to_owned(), vec![sharp, double])]
        );
        // The write path refuses too (another process may have written in between).
        assert!(matches!(t.db.write(username_keys::apply), Err(StoreError::Config(_))));
        assert_eq!(keys(t), before);
        let _ = (alice, gross);
    };

    changed_keys_are_rewritten_once => |t: &TestDb| {
        let alice = old_account(t, "alice");
        let gross = old_account(t, "Groß");
        let fin = old_account(t, "\u{FB01}nn");
        // The Kelvin sign lower-cases to k: its old key is already the new one.
        let kelvin = old_account(t, "\u{212A}elvin");
        let wide = old_account(t, "ＡＤＭＩＮ");
        // Old keys are not found by the new rule.
        assert_eq!(found(t, "GROSS"), None);

        assert_eq!(rekey_usernames(&t.db).unwrap(), 3);
        assert_eq!(
            keys(t),
            [
                (alice.0, "alice".to_owned()),
                (gross.0, "gross".to_owned()),
                (fin.0, "finn".to_owned()),
                (kelvin.0, "kelvin".to_owned()),
                (wide.0, "admin".to_owned()),
            ]
        );
        assert_eq!(found(t, "GROSS"), Some(gross.0));
        assert_eq!(found(t, "groß"), Some(gross.0));
        assert_eq!(found(t, "FINN"), Some(fin.0));
        assert_eq!(found(t, "Kelvin"), Some(kelvin.0));
        assert_eq!(found(t, "admin"), Some(wide.0));
        // A second start has nothing to do.
        assert_eq!(rekey_usernames(&t.db).unwrap(), 0);
        // And the new rule keeps the names apart from now on.
        let taken = t.db.write(|c| users::create(c, "ADMIN", "", "hash", Role::Patient));
        assert!(matches!(taken, Err(StoreError::Duplicate { field: "username" })), "{taken:?}");
    };

    a_new_key_may_be_another_accounts_old_one => |t: &TestDb| {
        // Stale keys: Groß holds "groß", bob holds "gross" (Groß's new key).
        let gross = account_with_key(t, "Groß", "groß");
        let bob = account_with_key(t, "bob", "gross");
        assert_eq!(rekey_usernames(&t.db).unwrap(), 2);
        assert_eq!(
            keys(t),
            [(gross.0, "gross".to_owned()), (bob.0, "bob".to_owned())]
        );
    };

    an_empty_or_current_database_needs_nothing => |t: &TestDb| {
        assert_eq!(rekey_usernames(&t.db).unwrap(), 0);
        t.db.write(|c| users::create(c, "Straße", "", "hash", Role::Admin)).unwrap();
        assert_eq!(rekey_usernames(&t.db).unwrap(), 0);
        assert_eq!(t.db.read(username_keys::plan).unwrap(), Default::default());
    };
}
