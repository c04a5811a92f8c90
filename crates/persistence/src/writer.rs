//! Group commit for SQLite: one writer thread owns a connection, takes the concurrent write
//! jobs from a queue, runs each in its own SAVEPOINT inside one IMMEDIATE transaction (a job that
//! fails rolls back only itself), commits once per batch, and only then answers every job.
//! One fsync then covers a whole batch, and writers of this process never fight for the lock.
//! Other processes on the same file stay safe: the transaction is IMMEDIATE.
//!
//! Checkpoints (copying the WAL back into the database file, with an fsync of that file) are
//! mostly taken off the writer's path: a checkpointer thread on its own connection runs a
//! PASSIVE checkpoint every [`CHECKPOINT_EVERY`], which blocks neither the writer nor readers.
//! The writer keeps SQLite's automatic checkpoint (at 1,000 WAL pages): it then finds most
//! frames already copied, and completing the checkpoint itself lets the next transaction start
//! the WAL file over, so it does not grow without bound under a steady stream of writes.

use crate::db::DbConnection;
use crate::error::StoreError;
use diesel::connection::SimpleConnection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, Weak};

/// Most jobs committed together.
pub const MAX_BATCH: usize = 64;

/// How often the checkpointer copies the WAL back into the database file.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Most jobs waiting for the writer; a request beyond it is refused as busy rather than queued
/// without bound.
pub const QUEUE_LEN: usize = 16_384;

thread_local! {
    /// On the writer thread, a number naming the write transaction open now and what it has
    /// written so far (0 outside one, and on every other thread): a new one at every `BEGIN`
    /// and whenever a job's changes are rolled back, never one given before. A value read
    /// inside the transaction and kept with the number it was read under is still what the
    /// database holds while the number is the same (no other writer can run meanwhile, in this
    /// process or another).
    static TRANSACTION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// The last number given on this thread.
    static LAST_GIVEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The writer transaction open on this thread and what it has written so far, or `None`
/// outside the writer's transactions (see `TRANSACTION`).
pub(crate) fn current_transaction() -> Option<u64> {
    Some(TRANSACTION.get()).filter(|t| *t != 0)
}

/// A new number for the writer's transaction (a new transaction, or one of whose jobs was
/// rolled back); `open` false: none open any more.
fn next_transaction(open: bool) {
    if open {
        let next = LAST_GIVEN.get().wrapping_add(1).max(1);
        LAST_GIVEN.set(next);
        TRANSACTION.set(next);
    } else {
        TRANSACTION.set(0);
    }
}

/// A queued write: run inside a savepoint, then told whether the batch committed.
trait Job: Send {
    /// Runs the work; `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &mut DbConnection) -> bool;
    /// Delivers the result: the job's own, or the commit failure.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F, D> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    done: D,
}

impl<T, F, D> Job for TypedJob<T, F, D>
where
    T: Send,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send,
    D: FnOnce(Result<T, StoreError>) + Send,
{
    fn run(&mut self, conn: &mut DbConnection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Config("write job panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.result) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(StoreError::Config(format!("commit failed: {e}"))),
            (Ok(()), None) => Err(StoreError::Config("write job did not run".into())),
        };
        (self.done)(result);
    }
}

/// What is told the size of each batch the writer commits (the API's metrics).
type BatchObserver = Arc<OnceLock<Box<dyn Fn(usize) + Send + Sync>>>;

/// The queue in front of the writer thread.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Box<dyn Job>>,
    /// Told the size of every committed batch, once someone asked ([`Writer::observe_batches`]).
    observer: BatchObserver,
    /// The checkpointer stops once every handle on this writer is gone.
    _alive: Arc<()>,
}

fn job<T, F, D>(work: F, done: D) -> Box<dyn Job>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    D: FnOnce(Result<T, StoreError>) + Send + 'static,
{
    Box::new(TypedJob {
        work: Some(work),
        result: None,
        done,
    })
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread on `conn` and the checkpointer thread on `checkpoints`.
    pub fn spawn(conn: DbConnection, checkpoints: DbConnection) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::sync_channel::<Box<dyn Job>>(QUEUE_LEN);
        let observer = BatchObserver::default();
        let observed = observer.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, jobs, &observed))
            .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
        let alive = Arc::new(());
        let watch = Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, watch))
            .map_err(|e| StoreError::Config(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            queue,
            observer,
            _alive: alive,
        })
    }

    /// Tells `observe` the number of jobs of every batch committed from now on (the first
    /// observer stays; a second call changes nothing and answers false).
    pub fn observe_batches(&self, observe: impl Fn(usize) + Send + Sync + 'static) -> bool {
        self.observer.set(Box::new(observe)).is_ok()
    }

    /// Runs `f` in the next batch and waits until that batch is committed (blocking: call from
    /// a blocking thread).
    pub fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = job(f, move |result| {
            let _ = reply.send(result);
        });
        self.queue
            .send(job)
            .map_err(|_| StoreError::Config("the writer thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Config("the writer thread dropped a job".into()))?
    }

    /// Queues `f` for the next batch without waiting (never blocks: an async caller can use it
    /// from its executor); `done` is called on the writer thread with `f`'s result once that
    /// batch is committed (or with the commit's failure). A full queue is [`StoreError::Busy`].
    pub fn submit<T, F, D>(&self, f: F, done: D) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        D: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        self.queue.try_send(job(f, done)).map_err(|e| match e {
            TrySendError::Full(_) => StoreError::Busy,
            TrySendError::Disconnected(_) => {
                StoreError::Config("the writer thread has stopped".into())
            }
        })
    }
}

/// The writer's transaction-control statements, each a type of its own of fixed text: Diesel
/// prepares it once per connection and then finds it in its statement cache by that type
/// (`sql_query` text is never cached: it was compiled again on every call, twice a job and twice
/// a batch).
mod control {
    use diesel::query_builder::{AstPass, QueryFragment, QueryId};
    use diesel::sqlite::{Sqlite, SqliteConnection};

    macro_rules! statement {
        ($(#[$doc:meta] $name:ident = $sql:literal;)*) => {$(
            #[$doc]
            #[derive(Debug, Clone, Copy, QueryId)]
            pub(super) struct $name;

            impl QueryFragment<Sqlite> for $name {
                fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> diesel::QueryResult<()> {
                    out.push_sql($sql);
                    Ok(())
                }
            }

            impl diesel::RunQueryDsl<SqliteConnection> for $name {}
        )*};
    }

    statement! {
        /// Opens the batch's transaction, taking the write lock at once.
        Begin = "BEGIN IMMEDIATE";
        /// Opens a job's savepoint.
        Savepoint = "SAVEPOINT job";
        /// Undoes what the failed job wrote.
        RollbackTo = "ROLLBACK TO job";
        /// Closes a job's savepoint.
        Release = "RELEASE job";
        /// Commits the batch.
        Commit = "COMMIT";
        /// Abandons a batch whose commit failed.
        Rollback = "ROLLBACK";
    }
}

/// Runs one of the writer's transaction-control statements ([`control`]), prepared once per
/// connection. The writer runs on SQLite only.
fn exec<S>(conn: &mut DbConnection, statement: S) -> Result<(), String>
where
    S: diesel::query_dsl::methods::ExecuteDsl<diesel::SqliteConnection>,
{
    match conn {
        DbConnection::Sqlite(c) => S::execute(statement, c)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        DbConnection::Postgresql(_) => Err("the writer runs on SQLite only".into()),
    }
}

fn writer_loop(
    mut conn: DbConnection,
    jobs: Receiver<Box<dyn Job>>,
    observer: &OnceLock<Box<dyn Fn(usize) + Send + Sync>>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = exec(&mut conn, control::Begin) {
            for job in batch {
                job.finish(Err(e.clone()));
            }
            continue;
        }
        next_transaction(true);
        for job in batch.iter_mut() {
            if exec(&mut conn, control::Savepoint).is_err() {
                continue;
            }
            let ok = job.run(&mut conn);
            if !ok {
                let _ = exec(&mut conn, control::RollbackTo);
                next_transaction(true);
            }
            let _ = exec(&mut conn, control::Release);
        }
        let commit = exec(&mut conn, control::Commit);
        if commit.is_err() {
            let _ = exec(&mut conn, control::Rollback);
        }
        next_transaction(false);
        if let (Some(observe), Ok(())) = (observer.get(), &commit) {
            observe(batch.len());
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

/// Checkpoints every [`CHECKPOINT_EVERY`] while a handle on this process's writer exists.
fn checkpoint_loop(mut conn: DbConnection, writer: Weak<()>) {
    while writer.strong_count() > 0 {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
