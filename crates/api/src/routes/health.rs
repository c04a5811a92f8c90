//! Liveness and readiness.

use crate::state::State;
use actix_web::HttpResponse;
use healthcare_persistence::migrations;
use serde_json::json;

/// Liveness: the process answers. No auth, no database.
#[utoipa::path(get, path = "/api/health/", tag = "operations", operation_id = "health",
    responses((status = 200, body = crate::openapi::StatusOut, description = "Alive", example = json!({"status": "ok"}))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(get, path = "/api/ready/", tag = "operations", operation_id = "ready",
    responses((status = 200, body = crate::openapi::StatusOut, description = "Ready", example = json!({"status": "ready"})),
               (status = 503, body = crate::openapi::StatusOut, description = "Not ready: migrations pending or the database unreachable", example = json!({"status": "database unreachable"}))))]
pub async fn ready(state: State) -> HttpResponse {
    match state.read(migrations::is_up_to_date).await {
        Ok(true) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(false) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "migrations pending" }))
        }
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unreachable" }))
        }
    }
}
