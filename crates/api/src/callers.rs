//! Short-lived caches on the authentication path: access tokens already verified, and who a
//! token's account is (role, active flag, linked doctor), so an authenticated request pays
//! neither the signature check nor a database round trip every time.
//!
//! Entries live [`CALLER_TTL`]. This process forgets an account at once when it changes it
//! (deactivation, role change, doctor link), so a change made here applies to the very next
//! request; a change made by another server process on the same database applies here within
//! [`CALLER_TTL`].

use healthcare_auth::LEEWAY_SECS;
use healthcare_domain::{DoctorId, Role, UserId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an account's role and active flag are trusted without asking the database.
pub const CALLER_TTL: Duration = Duration::from_secs(1);

/// What is cached about an account: role, whether active, linked doctor.
pub type CallerFacts = (Role, bool, Option<DoctorId>);

/// The cache.
#[derive(Debug, Default)]
pub struct CallerCache {
    entries: Mutex<HashMap<UserId, (Instant, CallerFacts)>>,
}

impl CallerCache {
    /// Fresh facts about an account, if cached.
    pub fn get(&self, user: UserId) -> Option<CallerFacts> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(&user)
            .filter(|(at, _)| at.elapsed() < CALLER_TTL)
            .map(|(_, facts)| *facts)
    }

    /// Remembers facts just read from the database.
    pub fn put(&self, user: UserId, facts: CallerFacts) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() > 100_000 {
            entries.retain(|_, (at, _)| at.elapsed() < CALLER_TTL);
        }
        entries.insert(user, (Instant::now(), facts));
    }

    /// Forgets everything (after a change to accounts or doctor links).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Most tokens remembered by [`VerifiedTokens`]; beyond it the expired ones are dropped, and if
/// that is not enough, all.
const MAX_VERIFIED: usize = 50_000;

/// Access tokens whose signature, algorithm and kind were checked, with their account and
/// expiry. Keyed by the whole token text, so any other payload or signature is a miss and is
/// verified in full; the expiry is checked on every hit with the same leeway as a full check.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, (UserId, i64)>>,
}

impl VerifiedTokens {
    /// The account of `token` if it was verified before and has not expired at `now` (seconds
    /// since the epoch).
    pub fn get(&self, token: &str, now: i64) -> Option<UserId> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(token)
            .filter(|(_, exp)| !expired(*exp, now))
            .map(|(user, _)| *user)
    }

    /// Remembers a token that passed the full check.
    pub fn put(&self, token: &str, user: UserId, exp: i64, now: i64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_VERIFIED {
            entries.retain(|_, (_, exp)| !expired(*exp, now));
            if entries.len() >= MAX_VERIFIED {
                entries.clear();
            }
        }
        entries.insert(token.into(), (user, exp));
    }
}

/// Whether a token expiring at `exp` is refused at `now` (as `jsonwebtoken` decides it).
fn expired(exp: i64, now: i64) -> bool {
    exp.saturating_add(LEEWAY_SECS as i64) < now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_expires_with_the_same_leeway_as_a_full_check() {
        let tokens = VerifiedTokens::default();
        tokens.put("a.b.c", UserId(7), 1_000, 900);
        assert_eq!(tokens.get("a.b.c", 1_000), Some(UserId(7)));
        assert_eq!(
            tokens.get("a.b.c", 1_000 + LEEWAY_SECS as i64),
            Some(UserId(7))
        );
        assert_eq!(tokens.get("a.b.c", 1_001 + LEEWAY_SECS as i64), None);
        assert_eq!(
            tokens.get("a.b.d", 1_000),
            None,
            "another signature is a miss"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let tokens = VerifiedTokens::default();
        for i in 0..MAX_VERIFIED + 10 {
            tokens.put(&format!("t{i}"), UserId(1), 2_000, 1_000);
        }
        let len = tokens.entries.lock().unwrap().len();
        assert!(len <= MAX_VERIFIED, "{len} entries");
        assert_eq!(
            tokens.get(&format!("t{}", MAX_VERIFIED + 9), 1_000),
            Some(UserId(1))
        );
    }
}
