//! What every handler shares: the database, the signing keys and the settings.

use crate::audit::{self, Traced};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::Answer;
use actix_web::web;
use actix_web::HttpResponse;
use healthcare_auth::Keys;
use healthcare_domain::UserId;
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
    /// Public base URL for absolute links (`HEALTHCARE_PUBLIC_URL`, no trailing slash); links
    /// are relative without it.
    pub public_url: Option<String>,
    /// The FHIR facade's absolute base URL (`<public URL>/fhir/R4`, else `http://<bind
    /// address>/fhir/R4`), for `fullUrl`s and Bundle links.
    pub fhir_base: String,
    /// The length of the FHIR `Slot`s served, in minutes.
    pub fhir_slot_minutes: i64,
    /// How long a client has to send a request body.
    pub body_timeout: std::time::Duration,
    /// The domain of the calendar events' UIDs (the same in mails and feeds): the mail
    /// sender's domain, else the public URL's host, else `healthcare.invalid`.
    pub calendar_domain: String,
    /// How long a tentative booking holds its slot.
    pub hold: chrono::Duration,
    /// Whether a PATCH or DELETE of a versioned record needs `If-Match` (else 428).
    pub require_if_match: bool,
    /// Login and registration throttling limits.
    pub throttle: crate::config::ThrottleConfig,
    /// Webhook deliveries.
    pub webhooks: crate::config::WebhookConfig,
}

/// Shared application state.
pub struct AppState {
    /// The database.
    pub db: Arc<Database>,
    /// Wakes this process's webhook dispatcher after a change committed (it may have written
    /// outbox events).
    pub dispatch: Arc<tokio::sync::Notify>,
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
    /// Password hashing, one at a time per core.
    pub hashing: Hashing,
    /// The audit events of reads and refused requests, group-committed.
    pub audit: crate::audit::GroupCommit,
    /// Prometheus metrics, when `HEALTHCARE_METRICS_BIND` is set.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The accounts whose lists are read from the primary for now (a read replica is set).
    pub recent_writers: crate::read_routing::RecentWriters,
    /// The single-record reads waiting to go to the database together, per kind.
    pub coalesced: crate::coalesce::Queues,
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
        T: Traced + Send + 'static,
        F: Fn(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let value = self.read_pooled(f).await?;
        audit::touched(&value);
        Ok(value)
    }

    /// Runs a read that records audit events after it (`f` reads, then inserts the events its
    /// read completed: `coalesce::find`), so that the events are durable when it returns: on
    /// SQLite as one job of the writer thread (one trip from the executor and back, one commit
    /// shared with the other jobs of its batch), on PostgreSQL as [`AppState::read`] runs a
    /// read, with the events' one INSERT as its last statement (atomic on its own, so no
    /// transaction around them). `f` must fail with [`StoreError::ConnectionLost`] only before
    /// its events were sent: such a run is tried again, as a read is.
    pub async fn read_recording<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        if self.db.writer().is_some() {
            return self.write_in(f, true).await;
        }
        self.read_pooled(f).await
    }

    /// Runs a list or search read for `user` as [`AppState::read`] does, on the read replica
    /// when one is in use and `user` has not asked for a change lately
    /// ([`crate::read_routing`]); else, and when the replica fails it, on the primary.
    pub async fn read_list<T, F>(&self, user: UserId, f: F) -> ApiResult<T>
    where
        T: Traced + Send + 'static,
        F: Fn(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let replicated =
            self.db.replica().is_some_and(|r| r.usable()) && !self.recent_writers.recently(user);
        if !replicated {
            return self.read(f).await;
        }
        let _turn = self.turn().await?;
        let db = self.db.clone();
        let span = tracing::Span::current();
        let value = web::block(move || {
            let _request = span.enter();
            db.read_replicated(&f)
        })
        .await??;
        audit::touched(&value);
        Ok(value)
    }

    /// Runs `f` on a pooled connection on the blocking pool, again on another connection while
    /// it meets closed ones (see [`AppState::read`]).
    async fn read_pooled<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let _turn = self.turn().await?;
        let db = self.db.clone();
        // What persistence logs on the blocking thread stays in the request's span.
        let span = tracing::Span::current();
        Ok(web::block(move || {
            let _request = span.enter();
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

    /// Runs the request's change as a write transaction: on SQLite through the group-commit
    /// writer thread, on PostgreSQL on the blocking pool. In an audited request the request's
    /// audit event is recorded in the same transaction, after the change and with what it
    /// returned ([`crate::audit`]); if it cannot be, the change rolls back and the request
    /// fails (503).
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Traced + Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.write_traced(f, false).await
    }

    /// Runs the request's change as [`AppState::write`] does and answers with what `answer`
    /// makes of its result. When the request holds an idempotency key
    /// ([`crate::idempotency`]), that answer is stored in the change's own transaction: the
    /// change and the answer a retry will get commit together.
    pub async fn write_answered<T, F, A>(&self, mut f: F, answer: A) -> ApiResult<HttpResponse>
    where
        T: Traced + Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
        A: Fn(&T) -> ApiResult<Answer> + Send + 'static,
    {
        let Some(reserved) = crate::idempotency::reserved() else {
            // No key: the answer is made here, not on the SQLite writer thread.
            let value = self.write(f).await?;
            return Ok(answer(&value)?.into_response());
        };
        let Answered(_, made) = self
            .write(move |c| {
                let value = f(c)?;
                let made = answer(&value).map_err(|e| StoreError::Corrupt(format!("{e:?}")))?;
                healthcare_persistence::idempotency::store(
                    c,
                    reserved.user,
                    &reserved.key,
                    &reserved.owner,
                    &made.stored(),
                )?;
                Ok(Answered(value, made))
            })
            .await?;
        crate::idempotency::stored_with_change();
        Ok(made.into_response())
    }

    /// Runs a change made by one statement (see [`Database::write_single`]): on SQLite as
    /// [`AppState::write`], on PostgreSQL without a transaction around it unless its audit
    /// event must commit with it.
    pub async fn write_single<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Traced + Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.write_traced(f, true).await
    }

    /// Runs a write that is not the request's change (throttling records, the audit trail's
    /// own group commit): no audit event goes with it.
    pub async fn write_untraced<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.write_in(f, false).await
    }

    async fn write_traced<T, F>(&self, mut f: F, single: bool) -> ApiResult<T>
    where
        T: Traced + Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        // An `If-Match` is compared in the change's own transaction, before the change.
        let precondition = crate::conditional::precondition();
        let Some((event, created)) = audit::change_event() else {
            let single = single && precondition.is_none();
            let value = self
                .write_in(
                    move |c| {
                        if let Some(p) = &precondition {
                            p.check(c)?;
                        }
                        f(c)
                    },
                    single,
                )
                .await?;
            audit::touched(&value);
            return Ok(value);
        };
        let value = self
            .write_in(
                move |c| {
                    if let Some(p) = &precondition {
                        p.check(c)?;
                    }
                    let value = f(c)?;
                    let mut event = event.clone();
                    audit::finish_change(&mut event, created, &value);
                    healthcare_persistence::audit::record(c, &[event])
                        .map_err(|e| StoreError::AuditUnavailable(e.to_string()))?;
                    Ok(value)
                },
                false,
            )
            .await?;
        audit::recorded();
        audit::touched(&value);
        self.dispatch.notify_one();
        Ok(value)
    }

    /// Runs `f` as a write (see [`AppState::write`]) or, with `single` on PostgreSQL, as
    /// statements without a transaction around them (one statement is atomic on its own), with
    /// no audit event.
    pub(crate) async fn write_in<T, F>(&self, f: F, single: bool) -> ApiResult<T>
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
        let span = tracing::Span::current();
        Ok(web::block(move || {
            let _request = span.enter();
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

/// A change's result with the answer made of it.
struct Answered<T>(T, Answer);

impl<T: Traced> Traced for Answered<T> {
    fn patients(&self, out: &mut Vec<i64>) {
        self.0.patients(out);
    }
    fn record_id(&self) -> Option<i64> {
        self.0.record_id()
    }
    fn status(&self) -> Option<u16> {
        self.0.status()
    }
}

/// How many passwords are hashed at once: one per core (more would not hash faster).
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Password hashing (bcrypt) on the blocking pool, [`hashing_slots`] at a time: the others wait
/// here in arrival order without holding a thread, so a flood of logins keeps only that many
/// threads hashing and leaves the rest of each worker's blocking pool to database work.
pub struct Hashing(Arc<tokio::sync::Semaphore>);

impl Default for Hashing {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(hashing_slots())))
    }
}

impl Hashing {
    /// Runs `f` (a hash or a verification) once a slot is free. The slot is given back when `f`
    /// ends, not when the caller stops waiting (a client that hangs up), so hashes that nobody
    /// waits for any more still count.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let slot = self
            .0
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the hashing queue was closed".into()))?;
        web::block(move || {
            let _slot = slot;
            f()
        })
        .await
        .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts the jobs running at once and keeps the largest count.
    #[derive(Clone, Default)]
    struct Overlap {
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl Overlap {
        /// A stand-in for a hash: busy for `ms` on its thread, counted while it runs.
        fn job(&self, ms: u64) -> impl FnOnce() + Send + 'static {
            let this = self.clone();
            move || {
                let now = this.running.fetch_add(1, Ordering::SeqCst) + 1;
                this.most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(ms));
                this.running.fetch_sub(1, Ordering::SeqCst);
            }
        }

        fn most(&self) -> usize {
            self.most.load(Ordering::SeqCst)
        }
    }

    #[actix_web::test]
    async fn hashes_run_one_per_core_at_most() {
        let (hashing, overlap) = (Hashing::default(), Overlap::default());
        let jobs = (0..hashing_slots() * 4).map(|_| hashing.run(overlap.job(20)));
        for done in futures_util::future::join_all(jobs).await {
            assert!(done.is_ok());
        }
        assert_eq!(overlap.most(), hashing_slots());
    }

    #[actix_web::test]
    async fn a_hash_nobody_waits_for_keeps_its_slot_until_it_ends() {
        let (hashing, overlap) = (Hashing::default(), Overlap::default());
        // Rounds of one job per slot, each abandoned by its caller 5 ms into its 40 ms: the next
        // round must wait for the abandoned ones to end.
        for _ in 0..3 {
            let jobs = (0..hashing_slots()).map(|_| {
                actix_web::rt::time::timeout(Duration::from_millis(5), hashing.run(overlap.job(40)))
            });
            futures_util::future::join_all(jobs).await;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(overlap.most(), hashing_slots());
    }
}
