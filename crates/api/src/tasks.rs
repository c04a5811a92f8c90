//! Background tasks of the server: each is named, runs one pass every interval on a blocking
//! thread, logs one line per pass that did something, and stops (after its current pass) when
//! the server stops. A task that must run in one process at a time holds a lease in the
//! database (`healthcare_persistence::leases`) and renews it on every pass.

use actix_web::web;
use healthcare_persistence::{audit, leases, Database, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the audit sealer links new events into the chain.
pub const SEAL_EVERY: Duration = Duration::from_millis(500);
/// How long the sealer's lease lasts without renewal: another process takes over after it.
pub const SEALER_LEASE_TTL: chrono::Duration = chrono::Duration::seconds(10);
/// Most events one sealing pass links.
pub const SEAL_BATCH: usize = 5000;

/// One pass of a task: `Ok(n)` with how much it did (0: nothing, no log line).
type Pass = Arc<dyn Fn() -> Result<usize, StoreError> + Send + Sync>;
/// Run once when a task stops (gives its lease up).
type OnStop = Box<dyn FnOnce() + Send>;

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

    /// Starts task `name`: `pass` every `every` (the first at once) until [`Tasks::stop`], then
    /// `on_stop`. Call inside the actix system.
    fn spawn(&mut self, name: &'static str, every: Duration, pass: Pass, on_stop: OnStop) {
        let mut stopped = self.stop.subscribe();
        let handle = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let pass = pass.clone();
                match web::block(move || pass()).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(task = name, items = n, "background task batch"),
                    Ok(Err(e)) => tracing::warn!(task = name, error = %e, "background task failed"),
                    Err(e) => tracing::warn!(task = name, error = %e, "background task failed"),
                }
            }
            if let Err(e) = web::block(on_stop).await {
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
        let (pass_db, pass_holder) = (db.clone(), holder.clone());
        let pass: Pass = Arc::new(move || {
            audit::seal_leased(&pass_db, &pass_holder, SEALER_LEASE_TTL, SEAL_BATCH)
                .map(Option::unwrap_or_default)
        });
        let on_stop: OnStop = Box::new(move || {
            let released = db.write(move |c| leases::release(c, audit::SEALER_LEASE, &holder));
            if let Err(e) = released {
                tracing::warn!(error = %e, "cannot give the audit sealer's lease up");
            }
        });
        self.spawn("audit_sealer", SEAL_EVERY, pass, on_stop);
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
