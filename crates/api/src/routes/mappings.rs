//! `/api/mappings/`.

use super::{allow, id};
use crate::coalesce;
use crate::conditional;
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use healthcare_auth::{may_reactivate_any_mapping, scope, Action, ResourceKind, Target};
use healthcare_domain::{
    DoctorId, FieldErrors, Mapping, MappingChanges, MappingId, NewMapping, PatientId,
};
use healthcare_persistence::mappings::{self, Assigned, MappingFilter, MayReactivate};

/// List the mappings the caller may see.
#[utoipa::path(get, path = "/api/mappings/", tag = "mappings", operation_id = "mappings_list",
    params(("doctor" = Option<i64>, Query), ("patient" = Option<i64>, Query), ("is_active" = Option<bool>, Query),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Mapping>, description = "One page of the mappings the caller may see"), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Mapping)?;
    let scope = scope(&actor, ResourceKind::Mapping);
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    let is_active = match params.get("is_active") {
        Some("true" | "True" | "1") => Some(true),
        Some("false" | "False" | "0") => Some(false),
        Some(_) => {
            errors.add("is_active", healthcare_domain::msg::NOT_BOOLEAN);
            None
        }
        None => None,
    };
    let filter = MappingFilter {
        doctor: params.int("doctor", &mut errors).map(DoctorId),
        patient: params.int("patient", &mut errors).map(PatientId),
        is_active,
    };
    pagination::check(errors)?;
    let listed = state
        .read_list(actor.user, move |c| mappings::list(c, scope, filter, page))
        .await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Assign a doctor to a patient. Re-creating a pair whose mapping is inactive reactivates it
/// (200): `assigned_by` and `assigned_date` stay as first assigned, the reason stays unless a
/// non-empty one is given, and `reactivated_by` / `reactivated_at` are set. A patient may only
/// reactivate a mapping they made inactive themselves (403 otherwise). An active pair is a 400.
#[utoipa::path(post, path = "/api/mappings/", tag = "mappings", operation_id = "mappings_create",
    request_body = healthcare_domain::NewMapping,
    responses((status = 201, body = healthcare_domain::Mapping, description = "A new mapping"),
              (status = 200, body = healthcare_domain::Mapping, description = "The pair's inactive mapping, reactivated with its history kept"),
              (status = 400, body = healthcare_domain::FieldErrors, description = "Validation error, or the pair already has an active mapping", example = json!({"non_field_errors": ["The fields doctor, patient must make a unique set."]})),
              (status = 401),
              (status = 403, description = "Not allowed, or a patient re-creating a mapping that someone else made inactive")),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::Mapping)?;
    let input = NewMapping::parse(&body)?;
    let patients = scope(&actor, ResourceKind::Patient);
    let by = actor.user;
    let may = if may_reactivate_any_mapping(&actor) {
        MayReactivate::Any
    } else {
        MayReactivate::OwnDeactivation
    };
    state
        .write_answered(
            move |c| mappings::assign(c, &input, patients, by, may),
            |assigned| match assigned {
                Assigned::Created(mapping) => {
                    Answer::created(format!("/api/mappings/{}/", mapping.id), mapping)
                }
                Assigned::Reactivated(mapping) => Answer::ok(mapping),
            },
        )
        .await
}

/// One mapping.
#[utoipa::path(get, path = "/api/mappings/{id}/", tag = "mappings", operation_id = "mappings_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::Mapping, description = "The mapping"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mid = MappingId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Mapping);
    // Checked before the read: the read records the request's audit event with what it found.
    allow(&actor, Action::Read, &Target::Mapping)?;
    let mapping = coalesce::find::<Mapping>(&state, (mid, scope)).await?;
    Ok(conditional::ok(&mapping))
}

/// Change a mapping's reason or active flag (a change of the flag records who made it and
/// when).
#[utoipa::path(patch, path = "/api/mappings/{id}/", tag = "mappings", operation_id = "mappings_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::MappingChanges,
    responses((status = 200, body = healthcare_domain::Mapping, description = "The changed mapping"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let mid = MappingId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Mapping);
    state.read(move |c| mappings::find(c, mid, scope)).await?;
    allow(&actor, Action::Update, &Target::Mapping)?;
    let changes = MappingChanges::parse(&body)?;
    let by = actor.user;
    state
        .write_answered(
            move |c| mappings::update(c, mid, scope, &changes, by),
            Answer::ok,
        )
        .await
}

/// Deactivate a mapping (kept as history, with who deactivated it and when).
#[utoipa::path(delete, path = "/api/mappings/{id}/", tag = "mappings", operation_id = "mappings_deactivate",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Deactivated (no body)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn deactivate(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mid = MappingId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Mapping);
    state.read(move |c| mappings::find(c, mid, scope)).await?;
    allow(&actor, Action::Archive, &Target::Mapping)?;
    let by = actor.user;
    state
        .write(move |c| mappings::deactivate(c, mid, scope, by))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The patient's active mappings, each with its doctor's record as `doctor_details` (the
/// seed's endpoint).
#[utoipa::path(get, path = "/api/mappings/patient/{patient_id}/", tag = "mappings", operation_id = "mappings_of_patient",
    params(("patient_id" = i64, Path)),
    responses((status = 200, body = Vec<healthcare_domain::MappingWithDoctor>, description = "The patient's active assignments"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn doctors_of_patient(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    allow(&actor, Action::Read, &Target::Mapping)?;
    let scope = scope(&actor, ResourceKind::Patient);
    let assigned = state
        .read(move |c| mappings::of_patient(c, pid, scope))
        .await?;
    Ok(HttpResponse::Ok().json(assigned))
}
