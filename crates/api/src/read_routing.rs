//! Which reads may go to the read replica (`DATABASE_READ_URL`, docs/deployment.md "Read
//! replicas"): lists and searches of an account that has not written lately. After any change
//! an account asks for (a POST, PUT, PATCH or DELETE), its lists are read from the primary for
//! `HEALTHCARE_REPLICA_MAX_LAG_MS`, so a client always reads its own writes; single-record reads
//! and everything in a write's path always use the primary.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use healthcare_domain::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The accounts that asked for a change lately, and when.
#[derive(Debug)]
pub struct RecentWriters {
    window: Duration,
    seen: Mutex<HashMap<UserId, Instant>>,
}

/// Entries kept before the ones older than the window are dropped.
const PRUNE_AT: usize = 4096;

impl RecentWriters {
    /// Accounts count as recent writers for `window` after each change they ask for.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `user` asked for a change now.
    pub fn wrote(&self, user: UserId) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PRUNE_AT {
            seen.retain(|_, at| now.duration_since(*at) < self.window);
        }
        seen.insert(user, now);
    }

    /// Whether `user` asked for a change within the window.
    pub fn recently(&self, user: UserId) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&user).is_some_and(|at| at.elapsed() < self.window)
    }
}

/// Notes the caller of every request that may change something, whatever its answer (a change
/// may have committed before a later failure).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Only a change, and only when there is a replica to steer reads away from.
    let state = match *req.method() {
        Method::GET | Method::HEAD | Method::OPTIONS => None,
        _ => req
            .app_data::<crate::state::State>()
            .filter(|state| state.db.replica().is_some())
            .cloned(),
    };
    let res = next.call(req).await;
    if let (Some(state), Ok(res)) = (state, &res) {
        if let Some(user) = res.request().extensions().get::<UserId>().copied() {
            state.recent_writers.wrote(user);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_recent_for_the_window_only() {
        let recent = RecentWriters::new(Duration::from_millis(50));
        assert!(!recent.recently(UserId(1)));
        recent.wrote(UserId(1));
        assert!(recent.recently(UserId(1)));
        assert!(!recent.recently(UserId(2)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!recent.recently(UserId(1)));
    }
}
