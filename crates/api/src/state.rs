//! What every handler shares: the database, the signing keys and the settings.

use crate::error::{ApiError, ApiResult};
use actix_web::web;
use healthcare_auth::Keys;
use healthcare_persistence::{Database, DbConnection, StoreError, StoreResult};
use std::sync::Arc;

/// Settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: i64,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Whether self-registration is open.
    pub allow_registration: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
}

/// Shared application state.
pub struct AppState {
    /// The database.
    pub db: Arc<Database>,
    /// JWT keys.
    pub keys: Keys,
    /// Settings.
    pub settings: Settings,
    /// Recently verified accounts.
    pub callers: crate::callers::CallerCache,
    /// Recently verified access tokens.
    pub tokens: crate::callers::VerifiedTokens,
    /// One permit per pooled connection. Requests queue here, first come first served, before
    /// they take a blocking thread; r2d2's own wait is not fair, and under load a waiter
    /// could be passed over for hundreds of milliseconds.
    pub connections: tokio::sync::Semaphore,
}

/// The state as handlers receive it.
pub type State = web::Data<AppState>;

impl AppState {
    /// Runs a read on the blocking pool (never on the async executor). A read that met a
    /// connection the database server had closed (a PostgreSQL restart) runs again on another:
    /// reads change nothing, so that is safe, and each failure drops one dead connection from
    /// the pool, so it ends after at most as many tries as the pool has connections.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let _turn = self.turn().await?;
        let db = self.db.clone();
        Ok(web::block(move || {
            let mut result = db.read(&f);
            for _ in 0..db.pool_size() {
                if !matches!(result, Err(StoreError::ConnectionLost)) {
                    break;
                }
                result = db.read(&f);
            }
            result
        })
        .await??)
    }

    /// Runs a write transaction: on SQLite through the group-commit writer thread, on
    /// PostgreSQL on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.write_in(f, false).await
    }

    /// Runs a change made by one statement (see [`Database::write_single`]): on SQLite as
    /// [`AppState::write`], on PostgreSQL without a transaction around it.
    pub async fn write_single<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.write_in(f, true).await
    }

    async fn write_in<T, F>(&self, f: F, single: bool) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        if let Some(writer) = self.db.writer() {
            // SQLite: queue the job for the writer thread and wait here, on the executor,
            // without occupying a blocking thread while its batch commits.
            let (reply, answer) = tokio::sync::oneshot::channel();
            writer.submit(f, move |result| {
                let _ = reply.send(result);
            })?;
            return Ok(answer
                .await
                .map_err(|_| ApiError::Internal("the writer dropped a job".into()))??);
        }
        let _turn = self.turn().await?;
        let db = self.db.clone();
        Ok(web::block(move || {
            if single {
                db.write_single(f)
            } else {
                db.write(f)
            }
        })
        .await??)
    }

    /// Waits, in arrival order, until a pooled connection is free for this request.
    async fn turn(&self) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
        self.connections
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("the connection queue was closed".into()))
    }
}

/// Runs CPU-heavy work (bcrypt) on the blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    web::block(f).await.map_err(ApiError::from)
}
