//! Calendar feeds (docs/api.md "Calendar feeds"): `calendar.ics` of a doctor or a patient, read
//! with a bearer token or with the account's calendar token as `?token=` (calendar apps cannot
//! send headers), and that token itself.

use super::{allow, id};
use crate::bodies::CalendarToken;
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::ical;
use crate::idempotency::Answer;
use crate::state::State;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use healthcare_auth::{scope, Action, Actor, ResourceKind, Target};
use healthcare_domain::{AppointmentStatus, DoctorId, PatientId};
use healthcare_persistence::calendar::{self, Feed, FeedEvent};
use healthcare_persistence::{doctors, patients, users};

/// The longest calendar token accepted (issued ones are 64 hex digits).
const MAX_TOKEN: usize = 128;

/// Make the caller's calendar token (replacing the one they had).
#[utoipa::path(post, path = "/api/auth/calendar-token/", tag = "auth", operation_id = "calendar_token_create",
    responses((status = 201, body = crate::bodies::CalendarToken, description = "The token, shown this once: it reads the caller's calendar feeds as `?token=`, and nothing else"),
              (status = 401)),
    security(("bearer" = [])))]
pub async fn create_token(state: State, Caller(actor): Caller) -> ApiResult<HttpResponse> {
    let user = actor.user;
    // A random 256-bit secret, as the server's own signing secret is made.
    let token = healthcare_auth::generate_secret();
    state
        .write_answered(
            move |c| {
                calendar::issue(c, user, &token).map(|()| CalendarToken {
                    token: token.clone(),
                })
            },
            // The token's resource is the caller's one: `DELETE` on the same path revokes it.
            |made| Answer::created_unversioned("/api/auth/calendar-token/".to_owned(), made),
        )
        .await
}

/// Revoke the caller's calendar token (feeds read with it answer 401 from now on).
#[utoipa::path(delete, path = "/api/auth/calendar-token/", tag = "auth", operation_id = "calendar_token_revoke",
    responses((status = 204, description = "Revoked (or there was none; no body)"), (status = 401)),
    security(("bearer" = [])))]
pub async fn revoke_token(state: State, Caller(actor): Caller) -> ApiResult<HttpResponse> {
    let user = actor.user;
    state.write(move |c| calendar::revoke(c, user)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A doctor's calendar: the appointments with this doctor the caller may see.
#[utoipa::path(get, path = "/api/doctors/{id}/calendar.ics", tag = "doctors", operation_id = "doctors_calendar",
    params(("id" = i64, Path), ("token" = Option<String>, Query, description = "The caller's calendar token, instead of a bearer token")),
    responses((status = 200, content_type = "text/calendar", body = String, description = "An RFC 5545 calendar: a VEVENT per appointment from 30 days back to 365 ahead"),
              (status = 401), (status = 404)),
    security(("bearer" = []), ("calendar_token" = [])))]
pub async fn doctor_feed(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let did = DoctorId(id(&path)?);
    let actor = feed_caller(&state, &req).await?;
    let doctor = state.read(move |c| doctors::find(c, did)).await?;
    allow(
        &actor,
        Action::Read,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    feed(&state, &actor, Feed::Doctor(did)).await
}

/// A patient's calendar: the patient's appointments the caller may see.
#[utoipa::path(get, path = "/api/patients/{id}/calendar.ics", tag = "patients", operation_id = "patients_calendar",
    params(("id" = i64, Path), ("token" = Option<String>, Query, description = "The caller's calendar token, instead of a bearer token")),
    responses((status = 200, content_type = "text/calendar", body = String, description = "An RFC 5545 calendar: a VEVENT per appointment from 30 days back to 365 ahead"),
              (status = 401), (status = 404)),
    security(("bearer" = []), ("calendar_token" = [])))]
pub async fn patient_feed(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let actor = feed_caller(&state, &req).await?;
    allow(&actor, Action::Read, &Target::Patient)?;
    let seen = scope(&actor, ResourceKind::Patient);
    state.read(move |c| patients::find(c, pid, seen)).await?;
    feed(&state, &actor, Feed::Patient(pid)).await
}

/// Who reads a feed: the caller of a bearer token when the request has an `Authorization`
/// header, else the owner of the calendar token in `?token=` (an active account).
async fn feed_caller(state: &State, req: &HttpRequest) -> ApiResult<Actor> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let Caller(actor) = Caller::extract(req).await?;
        return Ok(actor);
    }
    let token =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("token").cloned())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authentication credentials were not provided.".into())
            })?;
    let invalid = || ApiError::Unauthorized("The calendar token is not valid.".into());
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(invalid());
    }
    let user = state
        .read(move |c| calendar::owner(c, &token))
        .await?
        .ok_or_else(invalid)?;
    let facts = state
        .read(move |c| users::caller(c, user, ""))
        .await?
        .filter(|f| f.is_active)
        .ok_or_else(invalid)?;
    let actor = Actor {
        user,
        role: facts.role,
        doctor: facts.doctor,
    };
    crate::audit::caller(&actor);
    Ok(actor)
}

/// The feed as `text/calendar`.
async fn feed(state: &State, actor: &Actor, feed: Feed) -> ApiResult<HttpResponse> {
    let seen = scope(actor, ResourceKind::Appointment);
    let now = Utc::now();
    let events = state
        .read(move |c| calendar::events(c, feed, seen, now))
        .await?;
    let domain = state.settings.calendar_domain.clone();
    let summaries: Vec<String> = events
        .iter()
        .map(|e| match feed {
            Feed::Doctor(_) => "Appointment".to_owned(),
            Feed::Patient(_) => format!("Appointment with Dr. {}", e.doctor_last_name),
        })
        .collect();
    let vevents: Vec<ical::Event<'_>> = events
        .iter()
        .zip(&summaries)
        .map(|(FeedEvent { appointment: a, .. }, summary)| ical::Event {
            uid: ical::uid(a.id.0, &domain),
            // Every change of the appointment bumps its version; the first version is 0.
            sequence: a.version - 1,
            stamp: a.updated_at,
            start: a.appointment_datetime,
            end: a.end_datetime,
            status: match a.status {
                AppointmentStatus::Pending => ical::Status::Tentative,
                AppointmentStatus::Cancelled | AppointmentStatus::Expired => {
                    ical::Status::Cancelled
                }
                AppointmentStatus::Scheduled
                | AppointmentStatus::Completed
                | AppointmentStatus::NoShow => ical::Status::Confirmed,
            },
            summary,
            organizer: None,
            attendee: None,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(ical::calendar(None, &vevents)))
}
