//! Stored username keys brought to the current key rule at start-up.
//!
//! Each account stores `username_key`, the key under which its username is unique and looked
//! up ([`crate::users::username_key`]). When the rule changes (it was `trim().to_lowercase()`;
//! it is now NFKC, then Unicode default case folding), keys written by the old rule would no
//! longer be found, and two accounts distinct under the old rule may be one name under the new
//! one (`Straße` and `STRASSE`). [`rekey_usernames`] runs after the migrations: it recomputes
//! every account's key; if the new rule gives two or more accounts one key it refuses, changing
//! nothing, with an error naming them; otherwise it rewrites the keys that changed, in one
//! transaction.

use crate::db::{Database, DbConnection};
use crate::error::{StoreError, StoreResult};
use crate::schema::users;
use crate::users::username_key;
use diesel::prelude::*;
use healthcare_domain::UserId;
use std::collections::BTreeMap;
use std::fmt;

/// Most collision groups named in the refusal (the count of the rest follows).
const NAMED_GROUPS: usize = 20;

/// An account as re-keying sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: UserId,
    /// Its username as stored.
    pub username: String,
}

/// Accounts whose usernames the current rule gives one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The key they would share.
    pub key: String,
    /// The accounts, by id.
    pub accounts: Vec<Account>,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: ", self.key)?;
        for (i, a) in self.accounts.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}id {} {:?}", a.id.0, a.username)?;
        }
        Ok(())
    }
}

/// What re-keying has to do, read from the accounts table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Accounts whose stored key is not the current rule's: (id, new key), by id.
    pub changes: Vec<(UserId, String)>,
    /// Groups of accounts the current rule would merge, by key.
    pub collisions: Vec<Collision>,
}

impl Plan {
    /// The error refusing the re-keying when accounts collide (`None` when none do): a
    /// [`StoreError::Config`] naming every colliding account, id and username.
    pub fn refusal(&self) -> Option<StoreError> {
        if self.collisions.is_empty() {
            return None;
        }
        let accounts: usize = self.collisions.iter().map(|c| c.accounts.len()).sum();
        let mut groups: Vec<String> = self
            .collisions
            .iter()
            .take(NAMED_GROUPS)
            .map(ToString::to_string)
            .collect();
        if self.collisions.len() > NAMED_GROUPS {
            groups.push(format!(
                "and {} more groups",
                self.collisions.len() - NAMED_GROUPS
            ));
        }
        Some(StoreError::Config(format!(
            "{accounts} accounts have usernames that are one name under the username rule \
             (NFKC, then Unicode case folding), so their keys were not changed: {}; rename all \
             but one account of each group (users.username) and start again",
            groups.join("; ")
        )))
    }
}

/// Reads every account and works out which keys the current rule changes and which accounts it
/// would merge. Changes nothing.
pub fn plan(conn: &mut DbConnection) -> StoreResult<Plan> {
    let rows: Vec<(i64, String, String)> = users::table
        .select((users::id, users::username, users::username_key))
        .order(users::id)
        .load(conn)?;
    let mut by_key: BTreeMap<String, Vec<Account>> = BTreeMap::new();
    let mut changes = Vec::new();
    for (id, username, stored) in rows {
        let key = username_key(&username);
        if key != stored {
            changes.push((UserId(id), key.clone()));
        }
        by_key.entry(key).or_default().push(Account {
            id: UserId(id),
            username,
        });
    }
    let collisions = by_key
        .into_iter()
        .filter(|(_, accounts)| accounts.len() > 1)
        .map(|(key, accounts)| Collision { key, accounts })
        .collect();
    Ok(Plan {
        changes,
        collisions,
    })
}

/// A key no username can have (usernames hold letters, digits and `@.+-_` only), unique per
/// account: where a changing key waits while others change, so that one account's new key
/// may be another's old one without the unique constraint seeing two at once.
fn parked_key(id: UserId) -> String {
    format!("\u{1}rekey\u{1}{}", id.0)
}

/// Brings every stored key to the current rule; returns how many changed. Run it in a write
/// transaction ([`Database::write`]): on PostgreSQL it first locks the accounts table against
/// writers (readers go on), so no account is added or renamed between reading and writing.
/// When accounts collide it changes nothing and returns [`Plan::refusal`]'s error.
pub fn apply(conn: &mut DbConnection) -> StoreResult<usize> {
    if let DbConnection::Postgresql(_) = conn {
        diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
    }
    let plan = plan(conn)?;
    if let Some(refusal) = plan.refusal() {
        return Err(refusal);
    }
    for (id, _) in &plan.changes {
        diesel::update(users::table.find(id.0))
            .set(users::username_key.eq(parked_key(*id)))
            .execute(conn)?;
    }
    for (id, key) in &plan.changes {
        diesel::update(users::table.find(id.0))
            .set(users::username_key.eq(key))
            .execute(conn)?;
    }
    Ok(plan.changes.len())
}

/// At start-up, after the migrations: recomputes every account's username key and stores the
/// ones that changed, in one transaction; returns how many did. When the current rule gives two
/// or more accounts one key, nothing is changed and the error ([`StoreError::Config`]) names
/// each of them, id and username, so the process refuses to start. A database whose keys are
/// all current costs one read of the accounts' ids and names, and no write.
pub fn rekey_usernames(db: &Database) -> StoreResult<usize> {
    let plan = db.read(plan)?;
    if let Some(refusal) = plan.refusal() {
        return Err(refusal);
    }
    if plan.changes.is_empty() {
        return Ok(0);
    }
    let changed = db.write(apply)?;
    tracing::info!(
        changed,
        "username keys brought to the current username rule"
    );
    Ok(changed)
}
