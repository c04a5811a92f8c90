//! `/api/patients/`.

use super::{allow, check, id};
use crate::coalesce;
use crate::conditional;
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use healthcare_auth::{owner_of_new_patient, scope, update_patient, Action, ResourceKind, Target};
use healthcare_domain::{FieldErrors, NewPatient, Patient, PatientChanges, PatientId};
use healthcare_persistence::patients::{self, PatientFilter};

/// List the patients the caller may see.
#[utoipa::path(get, path = "/api/patients/", tag = "patients", operation_id = "patients_list",
    params(("search" = Option<String>, Query, description = "Substring of first or last name"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Patient>, description = "One page of the patients the caller may see"), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Patient)?;
    let scope = scope(&actor, ResourceKind::Patient);
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let filter = PatientFilter {
        search: params.get("search").map(str::to_owned),
        ..PatientFilter::default()
    };
    let listed = state
        .read_list(actor.user, move |c| patients::list(c, scope, &filter, page))
        .await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Create a patient record (a patient account owns what it creates).
#[utoipa::path(post, path = "/api/patients/", tag = "patients", operation_id = "patients_create",
    request_body = healthcare_domain::NewPatient,
    responses((status = 201, body = healthcare_domain::Patient, description = "The new patient"), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::Patient)?;
    let mut input = NewPatient::parse(&body, Utc::now().date_naive())?;
    input.user = owner_of_new_patient(&actor, input.user);
    state
        .write_answered(
            move |c| patients::create(c, &input),
            |patient| Answer::created(format!("/api/patients/{}/", patient.id), patient),
        )
        .await
}

/// One patient.
#[utoipa::path(get, path = "/api/patients/{id}/", tag = "patients", operation_id = "patients_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::Patient, description = "The patient"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Patient);
    // Checked before the read: the read records the request's audit event with what it found.
    allow(&actor, Action::Read, &Target::Patient)?;
    let patient = coalesce::find::<Patient>(&state, (pid, scope)).await?;
    Ok(conditional::ok(&patient))
}

/// Change a patient.
#[utoipa::path(patch, path = "/api/patients/{id}/", tag = "patients", operation_id = "patients_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::PatientChanges,
    responses((status = 200, body = healthcare_domain::Patient, description = "The changed patient"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Patient);
    state.read(move |c| patients::find(c, pid, scope)).await?;
    allow(&actor, Action::Update, &Target::Patient)?;
    let changes = PatientChanges::parse(&body, Utc::now().date_naive())?;
    check(update_patient(&actor, &changes))?;
    state
        .write_answered(
            move |c| patients::update(c, pid, scope, &changes),
            Answer::ok,
        )
        .await
}

/// Archive a patient (refused while future appointments are scheduled).
#[utoipa::path(delete, path = "/api/patients/{id}/", tag = "patients", operation_id = "patients_archive",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Archived (no body)"), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn archive(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Patient);
    state.read(move |c| patients::find(c, pid, scope)).await?;
    allow(&actor, Action::Archive, &Target::Patient)?;
    state
        .write(move |c| patients::archive(c, pid, scope))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
