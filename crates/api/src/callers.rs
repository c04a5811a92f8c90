//! A short-lived cache of who a token's account is (role, active flag, linked doctor), so an
//! authenticated request does not pay a database round trip for it every time.
//!
//! Entries live [`CALLER_TTL`]. This process forgets an account at once when it changes it
//! (deactivation, role change, doctor link), so a change made here applies to the very next
//! request; a change made by another server process on the same database applies here within
//! [`CALLER_TTL`].

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
