//! Group commit for SQLite: one writer thread owns a connection, takes the concurrent write
//! jobs from a queue, runs each in its own SAVEPOINT inside one IMMEDIATE transaction (a job that
//! fails rolls back only itself), commits once per batch, and only then answers every job.
//! One fsync then covers a whole batch, and writers of this process never fight for the lock.
//! Other processes on the same file stay safe: the transaction is IMMEDIATE.

use crate::db::DbConnection;
use crate::error::StoreError;
use diesel::connection::SimpleConnection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Most jobs committed together.
pub const MAX_BATCH: usize = 64;

/// A queued write: run inside a savepoint, then told whether the batch committed.
trait Job: Send {
    /// Runs the work; `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &mut DbConnection) -> bool;
    /// Delivers the result: the job's own, or the commit failure.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: SyncSender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send,
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
        let _ = self.reply.send(result);
    }
}

/// The queue in front of the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: SyncSender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn spawn(conn: DbConnection) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::sync_channel::<Box<dyn Job>>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, jobs))
            .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Runs `f` in the next batch and waits until that batch is committed (blocking: call from
    /// a blocking thread).
    pub fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = TypedJob {
            work: Some(f),
            result: None,
            reply,
        };
        self.queue
            .send(Box::new(job))
            .map_err(|_| StoreError::Config("the writer thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Config("the writer thread dropped a job".into()))?
    }
}

fn exec(conn: &mut DbConnection, sql: &str) -> Result<(), String> {
    conn.batch_execute(sql).map_err(|e| e.to_string())
}

fn writer_loop(mut conn: DbConnection, jobs: Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE") {
            for job in batch {
                job.finish(Err(e.clone()));
            }
            continue;
        }
        for job in batch.iter_mut() {
            if exec(&mut conn, "SAVEPOINT job").is_err() {
                continue;
            }
            let ok = job.run(&mut conn);
            if !ok {
                let _ = exec(&mut conn, "ROLLBACK TO job");
            }
            let _ = exec(&mut conn, "RELEASE job");
        }
        let commit = exec(&mut conn, "COMMIT");
        if commit.is_err() {
            let _ = exec(&mut conn, "ROLLBACK");
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}
