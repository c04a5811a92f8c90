//! Concurrent reads of single appointments, taken to the database together.
//!
//! Each HTTP worker thread keeps the `GET /api/appointments/{id}/` reads that arrive while one
//! batch of them is with the database, and sends them as the next batch when it returns: one
//! hop to the blocking pool and (on PostgreSQL) one query for all of them, instead of one each.
//! At low load every read goes alone and nothing waits; under load the batches grow with it.
//! Every read keeps its own scope (the WHERE clause of [`appointments::find`]).

use crate::error::{ApiError, ApiResult};
use crate::state::State;
use healthcare_domain::{Appointment, AppointmentId, Scope};
use healthcare_persistence::appointments;
use std::cell::RefCell;
use tokio::sync::oneshot;

/// One waiting read: what it asks for and where its answer goes.
type Waiter = (
    AppointmentId,
    Scope,
    oneshot::Sender<ApiResult<Appointment>>,
);

/// The reads waiting on this worker thread, and whether a batch is with the database now.
#[derive(Default)]
struct Pending {
    busy: bool,
    waiting: Vec<Waiter>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
}

/// The appointment `id` as `scope` sees it (404 when it cannot). A read that finds no batch
/// with the database goes at once, alone, the plain way; one that finds a batch there waits
/// and goes with the others that wait, as the next batch.
pub async fn find_appointment(
    state: &State,
    id: AppointmentId,
    scope: Scope,
) -> ApiResult<Appointment> {
    let found = find_batched(state, id, scope).await;
    if let Ok(appointment) = &found {
        crate::audit::touched(appointment);
    }
    found
}

async fn find_batched(state: &State, id: AppointmentId, scope: Scope) -> ApiResult<Appointment> {
    let leads = PENDING.with_borrow_mut(|p| !std::mem::replace(&mut p.busy, true));
    if !leads {
        let (answer, receiver) = oneshot::channel();
        PENDING.with_borrow_mut(|p| p.waiting.push((id, scope, answer)));
        // The sender is dropped unanswered only if the worker is shutting down.
        return receiver.await.unwrap_or(Err(ApiError::Unavailable));
    }
    let _next = HandOver(state.clone());
    state.read(move |c| appointments::find(c, id, scope)).await
}

/// When a read that went alone is done (or dropped: the client went away), the reads that
/// arrived meanwhile go next, as one batch; with none waiting, the next read goes alone again.
struct HandOver(State);

impl Drop for HandOver {
    fn drop(&mut self) {
        let waiting = PENDING.with_borrow_mut(|p| {
            p.busy = !p.waiting.is_empty();
            p.busy
        });
        if waiting {
            actix_web::rt::spawn(run_batches(self.0.clone()));
        }
    }
}

/// Sends the waiting reads to the database, batch after batch, until none wait.
async fn run_batches(state: State) {
    loop {
        let batch = PENDING.with_borrow_mut(|p| {
            p.busy = !p.waiting.is_empty();
            std::mem::take(&mut p.waiting)
        });
        if batch.is_empty() {
            return;
        }
        let keys: Vec<(AppointmentId, Scope)> = batch.iter().map(|w| (w.0, w.1)).collect();
        let found = state.read(move |c| appointments::find_each(c, &keys)).await;
        match found {
            Ok(found) => {
                for ((_, _, answer), appointment) in batch.into_iter().zip(found) {
                    let _ = answer.send(appointment.ok_or(ApiError::NotFound));
                }
            }
            Err(e) => {
                for (_, _, answer) in batch {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}
