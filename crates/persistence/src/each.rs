//! What the `find_each` functions of the repositories share: several single-record reads in
//! one visit to the database, each answered exactly as the repository's `find` answers it.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};

/// Whether `keys` are better read one by one, each with `find`'s own cached lookup: on SQLite,
/// which has no array parameters (and whose reads cost no round trip), and for a single read
/// (`id = $1` costs PostgreSQL less than `id = ANY($1)` with one element).
pub(crate) fn one_by_one<K>(conn: &DbConnection, keys: &[K]) -> bool {
    keys.len() == 1 || matches!(conn, DbConnection::Sqlite(_))
}

/// Each key's record as `find` reads it, one at a time: `None` where it answers not found.
pub(crate) fn each_alone<K: Copy, T>(
    conn: &mut DbConnection,
    keys: &[K],
    find: impl Fn(&mut DbConnection, K) -> StoreResult<T>,
) -> StoreResult<Vec<Option<T>>> {
    keys.iter()
        .map(|&key| match find(conn, key) {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        })
        .collect()
}

/// Puts `record`, found for `key`, in the slot of every read that asked for that key (a batch
/// may ask for one key more than once).
pub(crate) fn place<K: PartialEq, T: Clone>(
    found: &mut [Option<T>],
    keys: &[K],
    key: &K,
    record: T,
) {
    for (slot, k) in found.iter_mut().zip(keys) {
        if k == key {
            *slot = Some(record.clone());
        }
    }
}

/// The distinct scopes of a batch, in order of first appearance, each with the ids asked in
/// it: one query each.
pub(crate) fn by_scope<I: Copy>(
    keys: &[(I, healthcare_domain::Scope)],
    raw: impl Fn(I) -> i64,
) -> Vec<(healthcare_domain::Scope, Vec<i64>)> {
    let mut groups: Vec<(healthcare_domain::Scope, Vec<i64>)> = Vec::new();
    for &(id, scope) in keys {
        match groups.iter_mut().find(|g| g.0 == scope) {
            Some(group) => group.1.push(raw(id)),
            None => groups.push((scope, vec![raw(id)])),
        }
    }
    groups
}
