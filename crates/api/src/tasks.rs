//! Background tasks of the server: each is named, runs one pass (a write transaction) every
//! interval, logs one line per pass that did something, and stops (after its current pass) when
//! the server stops. On SQLite a pass runs on the group-commit writer thread and the task waits
//! on the executor, so no blocking thread is kept busy (or alive) for it; on PostgreSQL it runs on
//! the blocking pool. A task that must run in one process at a time holds a lease in the
//! database (`healthcare_persistence::leases`) and renews it on every pass.

use crate::dispatch::{DeliverySettings, Dispatcher};
use crate::mailer::Mailer;
use actix_web::web;
use healthcare_persistence::{audit, leases, mail, outbox, Database, DbConnection, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the audit sealer links new events into the chain.
pub const SEAL_EVERY: Duration = Duration::from_millis(500);
/// How long the sealer's lease lasts without renewal: another process takes over after it.
pub const SEALER_LEASE_TTL: chrono::Duration = chrono::Duration::seconds(10);
/// How often the dispatcher looks for due deliveries when nothing woke it.
pub const DISPATCH_EVERY: Duration = Duration::from_millis(250);
/// The least time between the starts of two dispatcher passes that found nothing to send:
/// under a burst of writes, each pass fans out the events of several commits at once instead
/// of one pass per commit.
pub const DISPATCH_GAP: Duration = Duration::from_millis(10);
/// How often due reminders are queued.
pub const REMIND_EVERY: Duration = Duration::from_secs(15);
/// The reminder scheduler's lease: one process queues reminders at a time.
pub const REMINDER_LEASE: &str = "reminders";
/// How long the reminder scheduler's lease lasts without renewal.
pub const REMINDER_LEASE_TTL: chrono::Duration = chrono::Duration::seconds(60);
/// How often expired holds are marked EXPIRED, forgotten idempotency keys removed and answers
/// stored in plain by an older build sealed.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Most holds and most keys one sweep handles (each).
pub const SWEEP_BATCH: i64 = 500;
/// Most reminders one pass queues.
pub const REMINDER_BATCH: i64 = 500;
/// Most events one sealing pass links (one write transaction; a full pass is followed by the
/// next at once, so the chain keeps up with any load while the writer serves other work between
/// passes).
pub const SEAL_BATCH: usize = 500;

/// One pass of a task, a write transaction: `Ok(n)` with how much it did (0: nothing, no log
/// line).
type Pass = Arc<dyn Fn(&mut DbConnection) -> Result<usize, StoreError> + Send + Sync>;

/// Runs `pass` as a write transaction: on SQLite through the writer thread, waiting on the
/// executor; on PostgreSQL on the blocking pool.
pub(crate) async fn write<T, F>(db: &Arc<Database>, pass: F) -> Result<T, String>
where
    T: Send + 'static,
    F: Fn(&mut DbConnection) -> Result<T, StoreError> + Send + Sync + 'static,
{
    let pass = Arc::new(pass);
    if let Some(writer) = db.writer() {
        let (reply, answer) = tokio::sync::oneshot::channel();
        writer
            .submit(
                move |c| pass(c),
                move |result| {
                    let _ = reply.send(result);
                },
            )
            .map_err(|e| e.to_string())?;
        return match answer.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the writer dropped a job".to_owned()),
        };
    }
    let db = db.clone();
    match web::block(move || db.write(move |c| pass(c))).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The running background tasks.
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    /// No task yet.
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }

    /// Starts task `name`: `pass` every `every` (the first at once; the next at once after a
    /// pass that did `full` items or more) until [`Tasks::stop`], then `on_stop`. Call inside
    /// the actix system.
    fn spawn(
        &mut self,
        name: &'static str,
        db: Arc<Database>,
        (every, full): (Duration, usize),
        pass: Pass,
        on_stop: Pass,
    ) {
        let mut stopped = self.stop.subscribe();
        let handle = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut behind = false;
            loop {
                if behind {
                    // The last pass was full: more is waiting, so the next goes at once
                    // (after other work on this thread had its turn).
                    tokio::task::yield_now().await;
                    if *stopped.borrow() {
                        break;
                    }
                } else {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.changed() => break,
                    }
                }
                behind = false;
                let this = pass.clone();
                match write(&db, move |c| this(c)).await {
                    Ok(0) => {}
                    Ok(n) => {
                        behind = n >= full;
                        tracing::info!(task = name, items = n, "background task batch");
                    }
                    Err(e) => tracing::warn!(task = name, error = %e, "background task failed"),
                }
            }
            if let Err(e) = write(&db, move |c| on_stop(c)).await {
                tracing::warn!(task = name, error = %e, "background task did not stop cleanly");
            }
            tracing::info!(task = name, "background task stopped");
        });
        self.running.push((name, handle));
    }

    /// Starts the audit sealer: under the lease [`audit::SEALER_LEASE`] (one process per
    /// database seals; the others only try to take the lease), it links the events recorded
    /// since its last pass into the hash chain every [`SEAL_EVERY`].
    pub fn spawn_sealer(&mut self, db: Arc<Database>) {
        let holder = format!("pid {} #{:08x}", std::process::id(), rand::random::<u32>());
        let pass_holder = holder.clone();
        let pass: Pass = Arc::new(move |c| {
            audit::seal_leased(c, &pass_holder, SEALER_LEASE_TTL, SEAL_BATCH)
                .map(Option::unwrap_or_default)
        });
        let on_stop: Pass =
            Arc::new(move |c| leases::release(c, audit::SEALER_LEASE, &holder).map(usize::from));
        self.spawn("audit_sealer", db, (SEAL_EVERY, SEAL_BATCH), pass, on_stop);
    }

    /// Starts the reminder scheduler: under the lease [`REMINDER_LEASE`], every
    /// [`REMIND_EVERY`] it queues the `appointment.reminder` events that are due
    /// (`outbox::queue_reminders`), and, when mail is on, the reminder mails due `mail_before`
    /// the start (`mail::queue_reminders`).
    pub fn spawn_reminders(&mut self, db: Arc<Database>, mail_before: Option<chrono::Duration>) {
        let holder = format!("pid {} #{:08x}", std::process::id(), rand::random::<u32>());
        let pass_holder = holder.clone();
        let pass: Pass = Arc::new(move |c| {
            if !leases::take(c, REMINDER_LEASE, &pass_holder, REMINDER_LEASE_TTL)? {
                return Ok(0);
            }
            let queued = outbox::queue_reminders(c, REMINDER_BATCH)?;
            let mailed = match mail_before {
                Some(before) => mail::queue_reminders(c, before, REMINDER_BATCH)?,
                None => 0,
            };
            Ok(queued + mailed)
        });
        let on_stop: Pass =
            Arc::new(move |c| leases::release(c, REMINDER_LEASE, &holder).map(usize::from));
        self.spawn(
            "reminders",
            db,
            (REMIND_EVERY, REMINDER_BATCH as usize),
            pass,
            on_stop,
        );
    }

    /// Starts the sweeper: at start and then every [`SWEEP_EVERY`] it marks EXPIRED the holds
    /// past their `expires_at` (they read as EXPIRED and block nothing before that already),
    /// removes the idempotency keys older than 24 hours and seals the answers an older build
    /// stored in plain (`idempotency::seal_stored`). All are idempotent, so every process runs
    /// it without a lease.
    pub fn spawn_sweeper(&mut self, db: Arc<Database>) {
        let pass: Pass = Arc::new(|c| {
            Ok(
                healthcare_persistence::appointments::expire_due_holds(c, SWEEP_BATCH)?
                    + healthcare_persistence::idempotency::purge(c, SWEEP_BATCH)?
                    + healthcare_persistence::idempotency::seal_stored(c, SWEEP_BATCH)?,
            )
        });
        let on_stop: Pass = Arc::new(|_| Ok(0));
        self.spawn(
            "sweeper",
            db,
            (SWEEP_EVERY, 3 * SWEEP_BATCH as usize),
            pass,
            on_stop,
        );
    }

    /// Starts the webhook and mail dispatcher (`crate::dispatch`): a pass at once when `wake`
    /// is notified (a change committed in this process), else every [`DISPATCH_EVERY`] (events
    /// of other processes, retries that fell due), and the next at once after a pass that sent
    /// something; passes that sent nothing start at least [`DISPATCH_GAP`] apart.
    pub fn spawn_dispatcher(
        &mut self,
        db: Arc<Database>,
        settings: DeliverySettings,
        mailer: Option<Arc<Mailer>>,
        wake: Arc<tokio::sync::Notify>,
    ) {
        let mut stopped = self.stop.subscribe();
        let handle = actix_web::rt::spawn(async move {
            let dispatcher = Dispatcher::new(settings, mailer);
            let mut tick = actix_web::rt::time::interval(DISPATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut busy = false;
            let mut started = tokio::time::Instant::now();
            loop {
                if !busy {
                    tokio::select! {
                        _ = tokio::time::sleep_until(started + DISPATCH_GAP) => {}
                        _ = stopped.changed() => break,
                    }
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = wake.notified() => {}
                        _ = stopped.changed() => break,
                    }
                } else if *stopped.borrow() {
                    break;
                }
                busy = false;
                started = tokio::time::Instant::now();
                match dispatcher.pass(&db).await {
                    Ok(0) => {}
                    Ok(n) => {
                        busy = true;
                        tracing::info!(
                            task = "webhook_dispatcher",
                            items = n,
                            "background task batch"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(task = "webhook_dispatcher", error = %e, "background task failed")
                    }
                }
            }
            tracing::info!(task = "webhook_dispatcher", "background task stopped");
        });
        self.running.push(("webhook_dispatcher", handle));
    }

    /// Tells every task to stop and waits until each has finished its pass and stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for (name, handle) in self.running {
            if let Err(e) = handle.await {
                tracing::warn!(task = name, error = %e, "background task ended abnormally");
            }
        }
    }
}
