//! `/api/doctors/`.

use super::{allow, check, id};
use crate::coalesce;
use crate::conditional;
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use healthcare_auth::{update_doctor, Action, Target};
use healthcare_domain::{Doctor, DoctorChanges, DoctorId, FieldErrors, NewDoctor, Specialization};
use healthcare_persistence::doctors::{self, DoctorFilter};

/// The doctor directory (every role).
#[utoipa::path(get, path = "/api/doctors/", tag = "doctors", operation_id = "doctors_list",
    params(("search" = Option<String>, Query, description = "Substring of a name, or a specialization code"),
           ("specialization" = Option<String>, Query), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Doctor>, description = "One page of doctors"), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Doctor { linked_user: None })?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    let specialization = match params.get("specialization") {
        Some(s) => match s.trim().to_uppercase().parse::<Specialization>() {
            Ok(s) => Some(s),
            Err(e) => {
                errors.add("specialization", e.to_string());
                None
            }
        },
        None => None,
    };
    pagination::check(errors)?;
    let filter = DoctorFilter {
        search: params.get("search").map(str::to_owned),
        specialization,
        ..DoctorFilter::default()
    };
    let listed = state
        .read_list(actor.user, move |c| doctors::list(c, &filter, page))
        .await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Create a doctor (admin, staff).
#[utoipa::path(post, path = "/api/doctors/", tag = "doctors", operation_id = "doctors_create",
    request_body = healthcare_domain::NewDoctor,
    responses((status = 201, body = healthcare_domain::Doctor, description = "The new doctor"), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(
        &actor,
        Action::Create,
        &Target::Doctor { linked_user: None },
    )?;
    let input = NewDoctor::parse(&body)?;
    let links = input.user.is_some();
    let answer = state
        .write_answered(
            move |c| doctors::create(c, &input),
            |doctor| Answer::created(format!("/api/doctors/{}/", doctor.id), doctor),
        )
        .await;
    if links {
        state.callers.clear();
    }
    answer
}

/// One doctor.
#[utoipa::path(get, path = "/api/doctors/{id}/", tag = "doctors", operation_id = "doctors_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::Doctor, description = "The doctor"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let did = DoctorId(id(&path)?);
    let doctor = coalesce::find::<Doctor>(&state, did).await?;
    allow(
        &actor,
        Action::Read,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    Ok(conditional::ok(&doctor))
}

/// Change a doctor (admin, staff; a doctor their own profile, but not the licence or account).
#[utoipa::path(patch, path = "/api/doctors/{id}/", tag = "doctors", operation_id = "doctors_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::DoctorChanges,
    responses((status = 200, body = healthcare_domain::Doctor, description = "The changed doctor"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let did = DoctorId(id(&path)?);
    let doctor = state.read(move |c| doctors::find(c, did)).await?;
    allow(
        &actor,
        Action::Update,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    let changes = DoctorChanges::parse(&body)?;
    check(update_doctor(&actor, &changes))?;
    let relinks = changes.user.is_some();
    let answer = state
        .write_answered(move |c| doctors::update(c, did, &changes), Answer::ok)
        .await;
    if relinks {
        state.callers.clear();
    }
    answer
}

/// Archive a doctor (refused while future appointments are scheduled).
#[utoipa::path(delete, path = "/api/doctors/{id}/", tag = "doctors", operation_id = "doctors_archive",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Archived (no body)"), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn archive(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let did = DoctorId(id(&path)?);
    let doctor = state.read(move |c| doctors::find(c, did)).await?;
    allow(
        &actor,
        Action::Archive,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    state.write(move |c| doctors::archive(c, did)).await?;
    state.callers.clear();
    Ok(HttpResponse::NoContent().finish())
}
