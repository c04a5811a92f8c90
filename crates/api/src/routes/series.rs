//! `/api/appointment-series/`: recurring appointments (docs/scheduling.md "Series").

use super::{allow, check, id};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::idempotency::Answer;
use crate::state::State;
use actix_web::{http::StatusCode, web, HttpResponse};
use chrono::Utc;
use healthcare_auth::{create_appointment, scope, Action, ResourceKind, Target};
use healthcare_domain::series::{NewSeries, SeriesChanges};
use healthcare_persistence::{availability, series};

/// Book a series of appointments from an RFC 5545 rule, in one transaction.
#[utoipa::path(post, path = "/api/appointment-series/", tag = "appointments", operation_id = "series_create",
    request_body = healthcare_domain::series::NewSeries,
    responses((status = 201, body = healthcare_domain::series::Series, description = "The series: the occurrences booked (`created`) and, with `skip`, the ones that could not be (`skipped`)"),
              (status = 400), (status = 401), (status = 403),
              (status = 409, body = crate::bodies::SeriesConflict, description = "With `fail`: occurrences that cannot be booked, every one listed; nothing was booked")),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::Appointment)?;
    let input = NewSeries::parse(&body)?;
    // Whoever may book the first occurrence for the patient may book the series.
    check(create_appointment(
        &actor,
        &input.occurrence(input.start),
        Utc::now(),
    ))?;
    let zone = match input.timezone {
        Some(zone) => zone,
        None => {
            let doctor = input.doctor;
            state
                .read(move |c| availability::working_hours(c, doctor))
                .await?
                .map_or(chrono_tz::UTC, |hours| hours.tz())
        }
    };
    let starts = healthcare_scheduling::series::expand(&input.rrule, input.start, zone)
        .map_err(|e| ApiError::field("rrule", e.to_string()))?;
    NewSeries::check_starts(&starts)?;
    let scopes = (
        scope(&actor, ResourceKind::Patient),
        scope(&actor, ResourceKind::Appointment),
    );
    let by = actor.user;
    let zone = zone.name().to_owned();
    state
        .write_answered(
            move |c| series::create(c, &input, &starts, &zone, scopes, by),
            |created| {
                Answer::created_unversioned(
                    format!("/api/appointment-series/{}/", created.id),
                    created,
                )
            },
        )
        .await
}

/// One series, with its occurrences (archived ones left out).
#[utoipa::path(get, path = "/api/appointment-series/{id}/", tag = "appointments", operation_id = "series_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::series::Series, description = "The series and its occurrences"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let sid = id(&path)?;
    let seen = scope(&actor, ResourceKind::Appointment);
    let found = state.read(move |c| series::find(c, sid, seen)).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Change a series' future SCHEDULED occurrences: `this` one, it and the `following` ones, or
/// `all`; all of it or nothing.
#[utoipa::path(patch, path = "/api/appointment-series/{id}/", tag = "appointments", operation_id = "series_update",
    params(("id" = i64, Path)),
    request_body = healthcare_domain::series::SeriesChanges,
    responses((status = 200, body = healthcare_domain::series::Series, description = "The series and its occurrences after the change"),
              (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, body = crate::bodies::SeriesConflict, description = "Occurrences the change cannot be applied to (each with its `id`), every one listed; nothing was changed")),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let sid = id(&path)?;
    let seen = scope(&actor, ResourceKind::Appointment);
    // Not found before anything else: the series must be visible to the caller.
    state.read(move |c| series::find(c, sid, seen)).await?;
    allow(&actor, Action::Update, &Target::Appointment)?;
    let changes = SeriesChanges::parse(&body)?;
    let role = actor.role;
    state
        .write_answered(
            move |c| series::change(c, sid, &changes, seen, role),
            |changed| Answer::json(StatusCode::OK, changed),
        )
        .await
}
