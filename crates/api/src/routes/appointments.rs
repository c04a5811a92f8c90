//! `/api/appointments/`.

use super::{allow, check, id};
use crate::booking::{self, Wanted};
use crate::coalesce;
use crate::conditional;
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use healthcare_auth::{
    create_appointment, scope, update_appointment, Action, ResourceKind, Target,
};
use healthcare_domain::raw::{parse_date_filter, DateFilter};
use healthcare_domain::{
    Appointment, AppointmentChanges, AppointmentId, AppointmentStatus, DoctorId, FieldErrors,
    NewAppointment, PatientId,
};
use healthcare_persistence::appointments::{self, AppointmentFilter, AppointmentOrder};

/// `YYYY-MM-DD` (start of that UTC day, or of the next day for an end bound) or a date-time,
/// in the years inputs accept (`parse_date_filter`).
pub(crate) fn bound(
    params: &Params,
    name: &str,
    end: bool,
    errors: &mut FieldErrors,
) -> Option<DateTime<Utc>> {
    match parse_date_filter(params.get(name)?) {
        Ok(DateFilter::Date(d)) => {
            let d = if end { d.succ_opt()? } else { d };
            d.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
        }
        Ok(DateFilter::Instant(t)) => Some(t),
        Err(e) => {
            errors.add(name, e.to_string());
            None
        }
    }
}

fn filter(params: &Params, errors: &mut FieldErrors) -> AppointmentFilter {
    let mut statuses = Vec::new();
    for (k, v) in &params.0 {
        if k != "status" {
            continue;
        }
        for code in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match code.to_uppercase().parse::<AppointmentStatus>() {
                Ok(s) => statuses.push(s),
                Err(e) => errors.add("status", e.to_string()),
            }
        }
    }
    let order = match params.get("ordering") {
        None | Some("appointment_datetime") => AppointmentOrder::StartAsc,
        Some("-appointment_datetime") => AppointmentOrder::StartDesc,
        Some("id") => AppointmentOrder::Id,
        Some(other) => {
            errors.add("ordering", format!("\"{other}\" is not a valid ordering: use appointment_datetime, -appointment_datetime or id."));
            AppointmentOrder::StartAsc
        }
    };
    AppointmentFilter {
        doctor: params.int("doctor", errors).map(DoctorId),
        patient: params.int("patient", errors).map(PatientId),
        series: params.int("series", errors),
        statuses,
        from: bound(params, "date_from", false, errors),
        until: bound(params, "date_to", true, errors),
        order,
    }
}

/// List the appointments the caller may see.
#[utoipa::path(get, path = "/api/appointments/", tag = "appointments", operation_id = "appointments_list",
    params(("doctor" = Option<i64>, Query), ("patient" = Option<i64>, Query),
           ("series" = Option<i64>, Query, description = "Only the occurrences of this series"),
           ("status" = Option<String>, Query, description = "One status or several, comma-separated"),
           ("date_from" = Option<String>, Query, description = "YYYY-MM-DD (inclusive) or a date-time with an offset; years 1900-2199"),
           ("date_to" = Option<String>, Query, description = "YYYY-MM-DD (inclusive) or a date-time with an offset (exclusive); years 1900-2199"),
           ("ordering" = Option<String>, Query, description = "appointment_datetime | -appointment_datetime | id"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Appointment>, description = "One page of the appointments the caller may see"), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Appointment)?;
    let scope = scope(&actor, ResourceKind::Appointment);
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    let filter = filter(&params, &mut errors);
    pagination::check(errors)?;
    let listed = state
        .read_list(actor.user, move |c| {
            appointments::list(c, scope, &filter, page)
        })
        .await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Book an appointment. Conflicts answer 409.
#[utoipa::path(post, path = "/api/appointments/", tag = "appointments", operation_id = "appointments_create",
    request_body = healthcare_domain::NewAppointment,
    responses((status = 201, body = healthcare_domain::Appointment, description = "The booked appointment"), (status = 400), (status = 401), (status = 403),
              (status = 409, body = crate::bodies::BookingConflict, description = "The doctor or the patient is already booked at this time (`conflicts` names what was hit), or the patient already holds 3 slots")),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::Appointment)?;
    let input = NewAppointment::parse(&body)?;
    check(create_appointment(&actor, &input, Utc::now()))?;
    booking::book_new(&state, &actor, input, |appointment| {
        Answer::created(
            format!("/api/appointments/{}/", appointment.id),
            appointment,
        )
    })
    .await
}

/// One appointment.
#[utoipa::path(get, path = "/api/appointments/{id}/", tag = "appointments", operation_id = "appointments_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::Appointment, description = "The appointment"), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let aid = AppointmentId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Appointment);
    let appointment = coalesce::find::<Appointment>(&state, (aid, scope)).await?;
    Ok(conditional::ok(&appointment))
}

/// Reschedule, change the status, or edit the reason.
#[utoipa::path(patch, path = "/api/appointments/{id}/", tag = "appointments", operation_id = "appointments_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::AppointmentChanges,
    responses((status = 200, body = healthcare_domain::Appointment, description = "The changed appointment"), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, body = crate::bodies::BookingConflict, description = "The new time overlaps another booking of the doctor or the patient (`conflicts` names what was hit), or the hold being confirmed has expired (`{\"non_field_errors\": [\"This hold has expired.\"]}`)")),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let aid = AppointmentId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Appointment);
    let current = state
        .read(move |c| appointments::find(c, aid, scope))
        .await?;
    allow(&actor, Action::Update, &Target::Appointment)?;
    let changes = AppointmentChanges::parse(&body)?;
    check(update_appointment(&actor, &changes, Utc::now()))?;
    let role = actor.role;
    let start = changes.start.unwrap_or(current.appointment_datetime);
    let minutes = changes.duration_minutes.unwrap_or(current.duration_minutes);
    let wanted = Wanted {
        doctor: changes.doctor.unwrap_or(current.doctor),
        patient: changes.patient.unwrap_or(current.patient),
        start,
        end: start + chrono::Duration::minutes(i64::from(minutes)),
        except: Some(aid),
    };
    booking::take_slot(
        &state,
        wanted,
        scope,
        move |c| appointments::update(c, aid, scope, &changes, role),
        Answer::ok,
    )
    .await
}

/// Archive an appointment (admin, staff): it leaves lists and frees its slot.
#[utoipa::path(delete, path = "/api/appointments/{id}/", tag = "appointments", operation_id = "appointments_archive",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Archived (no body)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn archive(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let aid = AppointmentId(id(&path)?);
    let scope = scope(&actor, ResourceKind::Appointment);
    state
        .read(move |c| appointments::find(c, aid, scope))
        .await?;
    allow(&actor, Action::Archive, &Target::Appointment)?;
    state
        .write(move |c| appointments::archive(c, aid, scope))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
