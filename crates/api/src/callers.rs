//! Short-lived caches on the authentication path: access tokens already verified, and the
//! facts of a token's account and session (role, active flag, token version, linked doctor,
//! whether the session is live), so an authenticated request pays neither the signature check
//! nor a database round trip every time.
//!
//! Entries live [`CALLER_TTL`]. This process forgets every entry at once when it changes an
//! account or a session (deactivation, role or password change, doctor link, logout), so a
//! change made here applies to the very next request; a change made by another server process
//! on the same database applies here within [`CALLER_TTL`].

use healthcare_auth::LEEWAY_SECS;
use healthcare_domain::UserId;
pub use healthcare_persistence::users::CallerFacts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an account's and a session's facts are trusted without asking the database.
pub const CALLER_TTL: Duration = Duration::from_millis(250);

/// A session of an account: the cache key.
pub type SessionKey = (UserId, Arc<str>);

/// The cache.
#[derive(Debug, Default)]
pub struct CallerCache {
    entries: Mutex<HashMap<SessionKey, (Instant, CallerFacts)>>,
}

impl CallerCache {
    /// Fresh facts about an account's session, if cached.
    pub fn get(&self, key: &SessionKey) -> Option<CallerFacts> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CALLER_TTL)
            .map(|(_, facts)| *facts)
    }

    /// Remembers facts just read from the database.
    pub fn put(&self, key: SessionKey, facts: CallerFacts) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() > 100_000 {
            entries.retain(|_, (at, _)| at.elapsed() < CALLER_TTL);
        }
        entries.insert(key, (Instant::now(), facts));
    }

    /// Forgets everything (after a change to accounts, sessions or doctor links).
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

/// What a verified access token says: its account, session and token version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// The account and session.
    pub session: SessionKey,
    /// The account's token version when the token was issued.
    pub version: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Access tokens whose signature, algorithm and kind were checked, with their account, session,
/// version and expiry. Keyed by the whole token text, so any other payload or signature is a
/// miss and is verified in full; the expiry is checked on every hit with the same leeway as a
/// full check.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, TokenFacts>>,
}

impl VerifiedTokens {
    /// The facts of `token` if it was verified before and has not expired at `now` (seconds
    /// since the epoch).
    pub fn get(&self, token: &str, now: i64) -> Option<TokenFacts> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(token)
            .filter(|facts| !expired(facts.exp, now))
            .cloned()
    }

    /// Remembers a token that passed the full check.
    pub fn put(&self, token: &str, facts: TokenFacts, now: i64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_VERIFIED {
            entries.retain(|_, facts| !expired(facts.exp, now));
            if entries.len() >= MAX_VERIFIED {
                entries.clear();
            }
        }
        entries.insert(token.into(), facts);
    }
}

/// Whether a token expiring at `exp` is refused at `now` (as `jsonwebtoken` decides it).
fn expired(exp: i64, now: i64) -> bool {
    exp.saturating_add(LEEWAY_SECS as i64) < now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(user: i64, exp: i64) -> TokenFacts {
        TokenFacts {
            session: (UserId(user), Arc::from("s")),
            version: 0,
            exp,
        }
    }

    #[test]
    fn a_remembered_token_expires_with_the_same_leeway_as_a_full_check() {
        let tokens = VerifiedTokens::default();
        tokens.put("a.b.c", facts(7, 1_000), 900);
        assert_eq!(tokens.get("a.b.c", 1_000), Some(facts(7, 1_000)));
        assert_eq!(
            tokens.get("a.b.c", 1_000 + LEEWAY_SECS as i64),
            Some(facts(7, 1_000))
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
            tokens.put(&format!("t{i}"), facts(1, 2_000), 1_000);
        }
        let len = tokens.entries.lock().unwrap().len();
        assert!(len <= MAX_VERIFIED, "{len} entries");
        assert_eq!(
            tokens.get(&format!("t{}", MAX_VERIFIED + 9), 1_000),
            Some(facts(1, 2_000))
        );
    }
}
