//! Liveness and readiness.

use crate::bodies::{Health, Status};
use crate::state::State;
use actix_web::HttpResponse;
use healthcare_persistence::migrations;

/// Liveness: the process answers. No auth, no database.
#[utoipa::path(get, path = "/api/health/", tag = "operations", operation_id = "health",
    responses((status = 200, body = Status, description = "Alive", example = json!({"status": "ok"}))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: Health::Alive,
    })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(get, path = "/api/ready/", tag = "operations", operation_id = "ready",
    responses((status = 200, body = Status, description = "Ready", example = json!({"status": "ready"})),
               (status = 503, body = Status, description = "Not ready: migrations pending or the database unreachable", example = json!({"status": "database unreachable"}))))]
pub async fn ready(state: State) -> HttpResponse {
    let (ok, status) = match state.read(migrations::is_up_to_date).await {
        Ok(true) => (true, Health::Ready),
        Ok(false) => (false, Health::MigrationsPending),
        Err(_) => (false, Health::DatabaseUnreachable),
    };
    let mut answer = if ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    answer.json(Status { status })
}
