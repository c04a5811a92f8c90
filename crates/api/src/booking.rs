//! Writes that take a slot (a booking, a move, a confirmed hold) and meet the no-overlap rule:
//! an expired hold in the way is marked EXPIRED and the write is tried once more, so an expired
//! hold never blocks, sweep or no sweep; a conflict that stands is answered with what it hit
//! (`conflicts`, each with its id only when the caller may see that appointment).

use crate::bodies::ConflictWith;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::Answer;
use crate::state::State;
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use healthcare_auth::{scope, Actor, ResourceKind};
use healthcare_domain::{Appointment, AppointmentId, DoctorId, NewAppointment, PatientId, Scope};
use healthcare_persistence::appointments;
use healthcare_persistence::{DbConnection, StoreResult};

/// The time a write wants: whose, when, and which appointment it moves (left out of the
/// conflicts).
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// The doctor.
    pub doctor: DoctorId,
    /// The patient.
    pub patient: PatientId,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// The appointment being changed, if any.
    pub except: Option<AppointmentId>,
}

/// Books `input` for `actor` (after the policy allowed it): the patient must be in the
/// actor's scope, the booking's creator is the actor, a hold lasts `HEALTHCARE_HOLD_SECONDS`;
/// through [`take_slot`], answered by `answer` (the REST and the FHIR `POST`s).
pub async fn book_new<A>(
    state: &State,
    actor: &Actor,
    input: NewAppointment,
    answer: A,
) -> ApiResult<HttpResponse>
where
    A: Fn(&Appointment) -> ApiResult<Answer> + Clone + Send + 'static,
{
    let patients = scope(actor, ResourceKind::Patient);
    let by = actor.user;
    let hold = state.settings.hold;
    let wanted = Wanted {
        doctor: input.doctor,
        patient: input.patient,
        start: input.start,
        end: input.end(),
        except: None,
    };
    let seen = scope(actor, ResourceKind::Appointment);
    take_slot(
        state,
        wanted,
        seen,
        move |c| appointments::book(c, &input, patients, by, hold),
        answer,
    )
    .await
}

/// Runs `write` (the request's change) as `AppState::write_answered` does, answering with
/// `answer`; when the no-overlap rule refuses it, marks the expired holds in the way EXPIRED
/// and, if there were any, runs it once more; a refusal that stands names its conflicts as
/// `scope` may see them.
pub async fn take_slot<F, A>(
    state: &State,
    wanted: Wanted,
    scope: Scope,
    write: F,
    answer: A,
) -> ApiResult<HttpResponse>
where
    F: FnMut(&mut DbConnection) -> StoreResult<Appointment> + Clone + Send + 'static,
    A: Fn(&Appointment) -> ApiResult<Answer> + Clone + Send + 'static,
{
    let refused = match state.write_answered(write.clone(), answer.clone()).await {
        Err(ApiError::Booking(refused)) => refused,
        other => return other,
    };
    let Wanted {
        doctor,
        patient,
        start,
        end,
        except,
    } = wanted;
    let expired = state
        .write_untraced(move |c| appointments::expire_holds(c, doctor, patient, start, end))
        .await?;
    let mut refused = if expired > 0 {
        match state.write_answered(write, answer).await {
            Err(ApiError::Booking(refused)) => refused,
            other => return other,
        }
    } else {
        refused
    };
    let found = state
        .read(move |c| {
            appointments::overlapping(c, doctor, patient, (start, end), except, scope).map(Overlaps)
        })
        .await?;
    refused.conflicts = found.0.iter().map(ConflictWith::of).collect();
    Err(ApiError::Booking(refused))
}

/// What a refused booking ran into (read after the refusal; the audit trail has nothing to
/// note about it: the request's own event names the request).
struct Overlaps(Vec<appointments::Overlap>);

impl crate::audit::Traced for Overlaps {}
