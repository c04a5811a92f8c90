//! Concurrent reads of single records, taken to the database together.
//!
//! The application keeps the single-record reads of one kind (`GET
//! /api/{appointments,patients,doctors,mappings}/{id}/`) that arrive, on any HTTP worker, while
//! as many batches of that kind as it allows ([`Queues`]) are with the database, and sends them
//! as the next batch when one returns: one hop to the blocking pool and (on
//! PostgreSQL) one query for all of them, instead of one each. At low load every read goes
//! alone and nothing waits; under load the batches grow with it. Every
//! read keeps its own scope (the WHERE clause of its kind's `find`).
//!
//! The audit events of audited reads travel with them: the visit that reads a batch also
//! inserts the batch's events, each completed with what its own read found (on SQLite as one
//! job of the writer thread, on PostgreSQL as the visit's last statement), so an audited read
//! waits for one trip to the database, as an unaudited one does, instead of a second one for
//! its event.
//!
//! A kind takes part by implementing [`Batched`]: its key, its single read, its batch read and
//! its queue in [`Queues`]. [`find`] is the one way in, for every kind.

use crate::error::{ApiError, ApiResult};
use crate::state::State;
use healthcare_domain::{
    Appointment, AppointmentId, Doctor, DoctorId, Mapping, MappingId, Patient, PatientId, Scope,
};
use healthcare_persistence::audit::{self, NewAuditEvent};
use healthcare_persistence::{appointments, doctors, mappings, patients};
use healthcare_persistence::{Database, DbConnection, StoreError, StoreResult};
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// A kind of record read by id through [`find`], alone or in batches.
pub trait Batched: crate::audit::Traced + Sized + Send + 'static {
    /// What one read asks for: the id, with the scope it is read in where the kind has one.
    type Key: Copy + Send + 'static;

    /// One read, alone: the record `key` names as its scope sees it (`NotFound` when it cannot).
    fn find(conn: &mut DbConnection, key: Self::Key) -> StoreResult<Self>;

    /// Several reads in one visit to the database, in the order of `keys`: each record as
    /// [`Batched::find`] sees it, or `None` where that answers not found.
    fn find_each(conn: &mut DbConnection, keys: &[Self::Key]) -> StoreResult<Vec<Option<Self>>>;

    /// The reads of this kind waiting for a visit: its queue in `queues`.
    fn pending(queues: &Queues) -> &Mutex<Pending<Self>>;
}

/// The reads of each kind waiting for a visit to the database, and how many visits of one kind
/// may be with it at once: one application's (a field of its state), shared by its HTTP
/// workers.
pub struct Queues {
    places: usize,
    appointments: Mutex<Pending<Appointment>>,
    patients: Mutex<Pending<Patient>>,
    doctors: Mutex<Pending<Doctor>>,
    mappings: Mutex<Pending<Mapping>>,
}

impl Queues {
    /// Empty queues for reads of `db`. Visits of one kind at once: on PostgreSQL one, so that
    /// every read arriving meanwhile, on any worker, shares the next visit's one query and (for
    /// audited reads) one INSERT and commit; on SQLite, which has no array parameters and reads
    /// each key of a batch in turn, one per core, so that the reads of a batch do not wait for
    /// one another while a core is free.
    pub fn new(db: &Database) -> Self {
        let places = match db.writer() {
            Some(_) => std::thread::available_parallelism().map_or(1, usize::from),
            None => 1,
        };
        Self {
            places,
            appointments: Mutex::default(),
            patients: Mutex::default(),
            doctors: Mutex::default(),
            mappings: Mutex::default(),
        }
    }
}

impl Batched for Appointment {
    type Key = (AppointmentId, Scope);

    fn find(conn: &mut DbConnection, (id, scope): Self::Key) -> StoreResult<Self> {
        appointments::find(conn, id, scope)
    }

    fn find_each(conn: &mut DbConnection, keys: &[Self::Key]) -> StoreResult<Vec<Option<Self>>> {
        appointments::find_each(conn, keys)
    }

    fn pending(queues: &Queues) -> &Mutex<Pending<Self>> {
        &queues.appointments
    }
}

impl Batched for Patient {
    type Key = (PatientId, Scope);

    fn find(conn: &mut DbConnection, (id, scope): Self::Key) -> StoreResult<Self> {
        patients::find(conn, id, scope)
    }

    fn find_each(conn: &mut DbConnection, keys: &[Self::Key]) -> StoreResult<Vec<Option<Self>>> {
        patients::find_each(conn, keys)
    }

    fn pending(queues: &Queues) -> &Mutex<Pending<Self>> {
        &queues.patients
    }
}

/// Doctors have no scope: the directory is visible to every role.
impl Batched for Doctor {
    type Key = DoctorId;

    fn find(conn: &mut DbConnection, id: Self::Key) -> StoreResult<Self> {
        doctors::find(conn, id)
    }

    fn find_each(conn: &mut DbConnection, keys: &[Self::Key]) -> StoreResult<Vec<Option<Self>>> {
        doctors::find_each(conn, keys)
    }

    fn pending(queues: &Queues) -> &Mutex<Pending<Self>> {
        &queues.doctors
    }
}

impl Batched for Mapping {
    type Key = (MappingId, Scope);

    fn find(conn: &mut DbConnection, (id, scope): Self::Key) -> StoreResult<Self> {
        mappings::find(conn, id, scope)
    }

    fn find_each(conn: &mut DbConnection, keys: &[Self::Key]) -> StoreResult<Vec<Option<Self>>> {
        mappings::find_each(conn, keys)
    }

    fn pending(queues: &Queues) -> &Mutex<Pending<Self>> {
        &queues.mappings
    }
}

/// The queue of one kind, held only to look at it or change it (never across an await).
fn lock<T: Batched>(pending: &Mutex<Pending<T>>) -> MutexGuard<'_, Pending<T>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a read is told: the record (or why not), and whether its audit event was recorded with
/// it.
type Answer<T> = (ApiResult<T>, bool);

/// One waiting read: what it asks for, its request's audit event (if the request is audited)
/// and where its answer goes.
struct Waiter<T: Batched> {
    key: T::Key,
    event: Option<NewAuditEvent>,
    answer: oneshot::Sender<Answer<T>>,
}

/// The reads of one kind waiting for a visit, and how many visits of that kind are with the
/// database now.
pub struct Pending<T: Batched> {
    in_flight: usize,
    waiting: Vec<Waiter<T>>,
}

impl<T: Batched> Default for Pending<T> {
    /// Nothing waiting, nothing with the database.
    fn default() -> Self {
        Self {
            in_flight: 0,
            waiting: Vec::new(),
        }
    }
}

/// Where a read that does not go alone stands.
enum Turn<T: Batched> {
    /// It took a free place: it goes now, with its key and event.
    Now(T::Key, Option<NewAuditEvent>),
    /// Every place was taken: it waits in the queue for this answer.
    Queued(oneshot::Receiver<Answer<T>>),
}

impl<T: Batched> Pending<T> {
    /// Takes a free place for a read, or else queues it: both under one lock, so that a visit
    /// ending meanwhile either sees this read in the queue or leaves its place free for it.
    fn join(&mut self, places: usize, key: T::Key, event: Option<NewAuditEvent>) -> Turn<T> {
        if self.in_flight < places {
            self.in_flight += 1;
            return Turn::Now(key, event);
        }
        let (answer, receiver) = oneshot::channel();
        self.waiting.push(Waiter { key, event, answer });
        Turn::Queued(receiver)
    }
}

/// The record `key` names, as its scope sees it (404 when it cannot). A read that finds fewer
/// visits of its kind with the database than [`Queues`] allows goes at once, alone, the plain
/// way; one that finds them all taken waits and goes with the others that wait, as the next
/// batch.
///
/// The audit event of an audited read goes with it and is written in the same visit to the
/// database ([`crate::audit::read_event`]): the handler must not refuse the request after
/// this read (its checks come first). On SQLite an audited read always goes at once: its visit
/// is a job of the writer thread, which already takes every job queued while it commits into
/// its next transaction; waiting here for a previous batch would only add that
/// batch's commit to the read's wait (measured in docs/performance.md). On PostgreSQL the
/// batch is what shares one INSERT, and one commit, among the reads.
///
/// Every record of every kind reaches its handler here, whether it was read alone or in a
/// batch: the one place to observe what single-record reads return.
pub async fn find<T: Batched>(state: &State, key: T::Key) -> ApiResult<T> {
    let event = crate::audit::read_event();
    let goes_alone = event.is_some() && state.db.writer().is_some();
    let turn = if goes_alone {
        Turn::Now(key, event)
    } else {
        lock(T::pending(&state.coalesced)).join(state.coalesced.places, key, event)
    };
    let (record, recorded) = match turn {
        Turn::Now(key, event) => {
            let _next = (!goes_alone).then(|| HandOver::<T>(state.clone(), PhantomData));
            let mut answers = visit::<T>(state, vec![key], vec![event]).await;
            answers.pop().unwrap_or((Err(ApiError::Unavailable), false))
        }
        // The sender is dropped unanswered only if the worker is shutting down.
        Turn::Queued(receiver) => receiver
            .await
            .unwrap_or((Err(ApiError::Unavailable), false)),
    };
    if recorded {
        crate::audit::recorded();
    } else if let Ok(record) = &record {
        // Read on the blocking pool or by a spawned task, outside this request's future: its
        // record joins the request's audit trace here.
        crate::audit::touched(record);
    }
    record
}

/// Reads `keys` in one visit to the database and, in the same visit, records the `events`
/// (one per key, where its request is audited), each completed with what its read found.
async fn visit<T: Batched>(
    state: &State,
    keys: Vec<T::Key>,
    events: Vec<Option<NewAuditEvent>>,
) -> Vec<Answer<T>> {
    let recording: Vec<bool> = events.iter().map(Option::is_some).collect();
    let found = if recording.contains(&true) {
        state
            .read_recording(move |c| {
                let found = find_all::<T>(c, &keys)?;
                let completed: Vec<NewAuditEvent> = events
                    .iter()
                    .zip(&found)
                    .filter_map(|(event, record)| {
                        let mut event = event.clone()?;
                        crate::audit::finish_read(&mut event, record.as_ref());
                        Some(event)
                    })
                    .collect();
                audit::record(c, &completed)
                    .map_err(|e| StoreError::AuditUnavailable(e.to_string()))?;
                Ok(found)
            })
            .await
    } else {
        state.read(move |c| find_all::<T>(c, &keys)).await
    };
    match found {
        Ok(found) => found
            .into_iter()
            .zip(recording)
            .map(|(record, recorded)| (record.ok_or(ApiError::NotFound), recorded))
            .collect(),
        Err(e) => recording.iter().map(|_| (Err(e.clone()), false)).collect(),
    }
}

/// The records `keys` name, in their order (`None` where one is not found): one read alone,
/// several as a batch.
fn find_all<T: Batched>(conn: &mut DbConnection, keys: &[T::Key]) -> StoreResult<Vec<Option<T>>> {
    match keys {
        [key] => match T::find(conn, *key) {
            Ok(record) => Ok(vec![Some(record)]),
            Err(StoreError::NotFound) => Ok(vec![None]),
            Err(e) => Err(e),
        },
        _ => T::find_each(conn, keys),
    }
}

/// When a read that went alone is done (or dropped: the client went away), the reads of its
/// kind that arrived meanwhile go next, as one batch; with none waiting, the next read goes
/// alone again.
struct HandOver<T: Batched>(State, PhantomData<fn() -> T>);

impl<T: Batched> Drop for HandOver<T> {
    fn drop(&mut self) {
        // With reads waiting, this visit's place passes to their batch.
        let waiting = {
            let mut p = lock(T::pending(&self.0.coalesced));
            let waiting = !p.waiting.is_empty();
            p.in_flight -= usize::from(!waiting);
            waiting
        };
        if waiting {
            actix_web::rt::spawn(run_batches::<T>(self.0.clone()));
        }
    }
}

/// Sends the waiting reads of one kind to the database, batch after batch, until none wait.
async fn run_batches<T: Batched>(state: State) {
    loop {
        let mut batch = {
            let mut p = lock(T::pending(&state.coalesced));
            p.in_flight -= usize::from(p.waiting.is_empty());
            std::mem::take(&mut p.waiting)
        };
        if batch.is_empty() {
            return;
        }
        let (keys, events): (Vec<T::Key>, Vec<Option<NewAuditEvent>>) =
            batch.iter_mut().map(|w| (w.key, w.event.take())).unzip();
        let answers = visit::<T>(&state, keys, events).await;
        for (waiter, answer) in batch.into_iter().zip(answers) {
            let _ = waiter.answer.send(answer);
        }
    }
}
