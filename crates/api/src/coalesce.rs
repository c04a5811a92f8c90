//! Concurrent reads of single appointments, taken to the database together.
//!
//! Each HTTP worker thread keeps the `GET /api/appointments/{id}/` reads that arrive while one
//! batch of them is with the database, and sends them as the next batch when it returns: one
//! hop to the blocking pool and (on PostgreSQL) one query for all of them, instead of one each.
//! At low load a batch holds one read and nothing waits; under load the batches grow with it.
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

/// The appointment `id` as `scope` sees it (404 when it cannot), read together with the other
/// single-appointment reads of this worker that wait at the same time.
pub async fn find_appointment(
    state: &State,
    id: AppointmentId,
    scope: Scope,
) -> ApiResult<Appointment> {
    let (answer, receiver) = oneshot::channel();
    let start = PENDING.with_borrow_mut(|p| {
        p.waiting.push((id, scope, answer));
        !std::mem::replace(&mut p.busy, true)
    });
    if start {
        actix_web::rt::spawn(run_batches(state.clone()));
    }
    // The sender is dropped unanswered only if the worker is shutting down.
    receiver.await.unwrap_or(Err(ApiError::Unavailable))
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
