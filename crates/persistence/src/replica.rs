//! A PostgreSQL read replica (`DATABASE_READ_URL`, docs/deployment.md "Read replicas"): a pool
//! of its own, and a monitor thread that measures its replay lag by WAL position every
//! [`SAMPLE_EVERY`]: the primary's current LSN is sampled with the time it was read, and the
//! replica is as far behind as the oldest sample whose position it has not replayed yet. Reads
//! are sent to it only while that lag is under the configured bound and it answers; a failed
//! read there is run again on the primary.

use crate::db::{DbConnection, Manager};
use crate::error::StoreError;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the monitor compares the replica with the primary.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// What the monitor found last.
#[derive(Debug, Default)]
pub struct ReplicaState {
    /// Whether reads may go to the replica now.
    usable: AtomicBool,
    /// Its replay lag, milliseconds (`u64::MAX` when it cannot be measured).
    lag_ms: AtomicU64,
}

impl ReplicaState {
    /// Whether reads may go to the replica now.
    pub fn usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    /// The replay lag measured last, milliseconds (`u64::MAX`: unknown, the replica did not
    /// answer).
    pub fn lag_ms(&self) -> u64 {
        self.lag_ms.load(Ordering::Acquire)
    }

    /// Takes the replica out of use until the monitor finds it answering again.
    pub fn failed(&self) {
        self.usable.store(false, Ordering::Release);
        self.lag_ms.store(u64::MAX, Ordering::Release);
    }
}

/// The replica: its pool and its state.
pub struct Replica {
    pub(crate) pool: r2d2::Pool<Manager>,
    /// What the monitor found last.
    pub state: Arc<ReplicaState>,
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}

fn position(conn: &mut DbConnection, sql: &str) -> Result<Option<i64>, StoreError> {
    let found: Position = crate::on_backend!(conn, |c| diesel::sql_query(sql).get_result(c))?;
    Ok(found.lsn)
}

/// The primary's WAL position, bytes.
const PRIMARY_LSN: &str = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS lsn";
/// The position the replica has replayed, bytes (NULL on a server that is not a replica).
const REPLAYED_LSN: &str = "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS lsn";

/// The lag of a replica that has replayed `replayed`, given the primary's positions sampled
/// over time (oldest first): zero when it has replayed the newest; else the age of the oldest
/// sample beyond what it replayed.
pub fn lag(samples: &VecDeque<(Instant, i64)>, replayed: i64, now: Instant) -> Duration {
    samples
        .iter()
        .find(|(_, lsn)| *lsn > replayed)
        .map_or(Duration::ZERO, |(at, _)| now.saturating_duration_since(*at))
}

impl Replica {
    /// The replica's pool, and its monitor on a thread of its own (it stops when the returned
    /// replica is dropped).
    pub(crate) fn start(
        pool: r2d2::Pool<Manager>,
        primary: r2d2::Pool<Manager>,
        max_lag: Duration,
    ) -> Replica {
        let state = Arc::new(ReplicaState::default());
        state.failed();
        let watched = Arc::downgrade(&state);
        let replica_pool = pool.clone();
        let _ = std::thread::Builder::new()
            .name("replica-monitor".into())
            .spawn(move || monitor(&primary, &replica_pool, max_lag, &watched));
        Replica { pool, state }
    }
}

fn monitor(
    primary: &r2d2::Pool<Manager>,
    replica: &r2d2::Pool<Manager>,
    max_lag: Duration,
    state: &Weak<ReplicaState>,
) {
    // Samples older than the bound say nothing more: a replica behind the oldest is over it.
    let mut samples: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut was_usable = false;
    while let Some(state) = state.upgrade() {
        let now = Instant::now();
        let sampled = primary
            .get()
            .map_err(StoreError::from)
            .and_then(|mut c| position(&mut c, PRIMARY_LSN));
        if let Ok(Some(lsn)) = sampled {
            samples.push_back((now, lsn));
        }
        while samples.len() > 1
            && samples
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > max_lag * 2)
        {
            samples.pop_front();
        }
        let replayed = replica
            .get()
            .map_err(StoreError::from)
            .and_then(|mut c| position(&mut c, REPLAYED_LSN));
        match replayed {
            Ok(Some(replayed)) if !samples.is_empty() => {
                let behind = lag(&samples, replayed, now);
                let usable = behind < max_lag;
                state
                    .lag_ms
                    .store(behind.as_millis() as u64, Ordering::Release);
                state.usable.store(usable, Ordering::Release);
                if usable != was_usable {
                    tracing::info!(lag_ms = behind.as_millis() as u64, usable, "read replica");
                }
                was_usable = usable;
            }
            other => {
                if was_usable {
                    let error = match other {
                        Err(e) => e.to_string(),
                        Ok(None) => "not a replica (pg_last_wal_replay_lsn is NULL)".into(),
                        Ok(Some(_)) => "the primary's position is unknown".into(),
                    };
                    tracing::warn!(%error, "read replica out of use");
                }
                state.failed();
                was_usable = false;
            }
        }
        drop(state);
        std::thread::sleep(SAMPLE_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_write_not_replayed() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples: VecDeque<(Instant, i64)> =
            [(at(0), 100), (at(50), 100), (at(100), 250), (at(150), 400)].into();
        assert_eq!(lag(&samples, 400, at(200)), Duration::ZERO);
        assert_eq!(lag(&samples, 500, at(200)), Duration::ZERO);
        assert_eq!(lag(&samples, 300, at(200)), Duration::from_millis(50));
        assert_eq!(lag(&samples, 100, at(200)), Duration::from_millis(100));
        assert_eq!(lag(&samples, 50, at(200)), Duration::from_millis(200));
    }
}
