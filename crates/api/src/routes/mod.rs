//! HTTP handlers, one file per resource. Handlers stay thin: parse, authorize, call persistence
//! on the blocking pool, map the result.

pub mod appointments;
pub mod audit;
pub mod auth;
pub mod availability;
pub mod calendar;
pub mod doctors;
pub mod fhir;
pub mod health;
pub mod mappings;
pub mod patients;
pub mod series;
pub mod users;
pub mod webhooks;

use crate::error::{ApiError, ApiResult};
use healthcare_auth::{authorize, Action, Actor, Denied, Target};

/// Asks the policy; a refusal becomes 404 (cannot be seen) or 403 (seen, not allowed).
pub fn allow(actor: &Actor, action: Action, target: &Target) -> ApiResult<()> {
    check(authorize(actor, action, target))
}

/// A policy answer as the API gives it: 404, 403, or a field-keyed 400.
pub fn check(answer: Result<(), Denied>) -> ApiResult<()> {
    answer.map_err(|d| match d {
        Denied::NotFound => ApiError::NotFound,
        Denied::Forbidden => ApiError::Forbidden,
        Denied::Invalid { field, message } => ApiError::field(field, message),
    })
}

/// Parses a path id; anything but a positive integer is simply not found.
pub fn id(raw: &str) -> ApiResult<i64> {
    healthcare_domain::ids::parse_record_id(raw).ok_or(ApiError::NotFound)
}
