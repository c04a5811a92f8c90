//! `/api/audit/` and `/api/patients/{id}/access-log/`: the audit trail read back.

use super::{check, id};
use crate::bodies::{AccessLogEntry, AuditEventBody};
use crate::error::ApiResult;
use crate::extract::{Caller, Params};
use crate::pagination;
use crate::routes::appointments::bound;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use healthcare_auth::{read_access_log, read_audit_trail, scope, ResourceKind};
use healthcare_domain::{FieldErrors, PatientId, Role};
use healthcare_persistence::audit::{Action, Resource};
use healthcare_persistence::audit_log::{self, AuditFilter};
use healthcare_persistence::{patients, Listed};

/// A stored name of `params[name]` checked against `names` (400 naming the choices otherwise).
fn name_filter(
    params: &Params,
    name: &str,
    names: &[&'static str],
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = params.get(name)?;
    match names.iter().find(|n| **n == value) {
        Some(found) => Some((*found).to_owned()),
        None => {
            errors.add(
                name,
                format!(
                    "\"{value}\" is not a valid choice: use one of {}.",
                    names.join(", ")
                ),
            );
            None
        }
    }
}

/// The audit trail, newest first (admin only).
#[utoipa::path(get, path = "/api/audit/", tag = "audit", operation_id = "audit_list",
    params(("patient" = Option<i64>, Query, description = "Events that touched this patient record"),
           ("actor" = Option<i64>, Query, description = "Events of this user id"),
           ("action" = Option<String>, Query, description = "read | list | create | update | archive | login | login_failed | token_refresh | logout | export"),
           ("resource" = Option<String>, Query, description = "patient | doctor | mapping | appointment | user | working_hours | time_off | webhook | email | audit"),
           ("resource_id" = Option<i64>, Query, description = "Events on this record id"),
           ("date_from" = Option<String>, Query, description = "YYYY-MM-DD (inclusive) or a date-time with an offset"),
           ("date_to" = Option<String>, Query, description = "YYYY-MM-DD (inclusive) or a date-time with an offset (exclusive)"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<AuditEventBody>, description = "One page of events, newest first"), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    check(read_audit_trail(&actor))?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    let actions: Vec<&'static str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let resources: Vec<&'static str> = Resource::ALL.iter().map(|r| r.as_str()).collect();
    let filter = AuditFilter {
        patient: params.int("patient", &mut errors),
        actor: params.int("actor", &mut errors),
        action: name_filter(&params, "action", &actions, &mut errors),
        resource: name_filter(&params, "resource", &resources, &mut errors),
        resource_id: params.int("resource_id", &mut errors),
        from: bound(&params, "date_from", false, &mut errors),
        until: bound(&params, "date_to", true, &mut errors),
    };
    pagination::check(errors)?;
    let listed = state
        .read(move |c| audit_log::list(c, &filter, page))
        .await?;
    let listed = Listed {
        total: listed.total,
        items: listed.items.into_iter().map(AuditEventBody::from).collect(),
    };
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Who saw or changed this patient's data: the answered requests that touched the record,
/// newest first (the owning patient, staff and admin; addresses for staff and admin only).
#[utoipa::path(get, path = "/api/patients/{id}/access-log/", tag = "audit", operation_id = "patients_access_log",
    params(("id" = i64, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<AccessLogEntry>, description = "One page of the accesses, newest first"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn access_log(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let patients_scope = scope(&actor, ResourceKind::Patient);
    state
        .read(move |c| patients::find(c, pid, patients_scope))
        .await?;
    check(read_access_log(&actor))?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let listed = state
        .read(move |c| audit_log::access_log(c, pid.0, page))
        .await?;
    let addresses = actor.role != Role::Patient;
    let listed = Listed {
        total: listed.total,
        items: listed
            .items
            .into_iter()
            .map(|e| AccessLogEntry {
                at: e.at.and_utc(),
                actor_username: e.actor_username,
                actor_role: e.actor_role,
                action: e.action,
                resource: e.resource,
                resource_id: e.resource_id,
                client: addresses.then_some(e.client),
            })
            .collect(),
    };
    Ok(pagination::respond(&req, &params, page, &listed))
}
