//! The JSON bodies the API answers with besides the domain's records: errors, tokens, the
//! registration and `me` answers, health. Each is the type really serialized, and its OpenAPI
//! schema is derived from it.

use healthcare_domain::User;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"detail": "..."}`: an error that belongs to no field.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"detail": "Not found."}))]
pub struct Detail {
    /// What went wrong, for a person to read.
    pub detail: String,
}

impl Detail {
    /// A body with this message.
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
        }
    }
}

/// The body of a 500: nothing internal, and the request's id (the `X-Request-Id` response
/// header's) under which the server logged the cause.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"detail": "Internal server error.", "request_id": "5f0c2a6e4b1d4c8f8e2f3a5b6c7d8e9f"}))]
pub struct InternalError {
    /// Always `Internal server error.`
    pub detail: &'static str,
    /// The request's id, as in the `X-Request-Id` response header.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    pub request_id: String,
}

/// Time off refused because SCHEDULED appointments fall into it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"detail": "The doctor has 2 scheduled appointment(s) in this period: cancel or move them first, or send \"keep_appointments\": true.", "affected_appointments": 2}))]
pub struct TimeOffConflict {
    /// What to do about it.
    pub detail: String,
    /// How many SCHEDULED appointments fall into the period.
    pub affected_appointments: i64,
}

/// An access token and its refresh token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    /// The access token (a JWT), sent as `Authorization: Bearer <access>`.
    pub access: String,
    /// The refresh token: `POST /api/token/refresh/` trades it, once, for a new pair.
    pub refresh: String,
}

/// The answer of a registration: the seed's message, then the new account.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"message": "User registered successfully", "id": 2, "username": "alice", "email": "alice@example.org", "role": "patient", "is_active": true, "date_joined": "2025-12-01T09:00:00Z"}))]
pub struct Registered {
    /// Always `User registered successfully`.
    #[schema(value_type = String, pattern = "^User registered successfully$")]
    pub message: &'static str,
    /// The new account.
    #[serde(flatten)]
    pub user: User,
}

/// The caller's account plus the linked doctor record, if any.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// For a doctor account: the Doctor record linked to it, else null.
    #[schema(required = true)]
    pub doctor: Option<healthcare_domain::DoctorId>,
}

/// The body of `/api/health/` and `/api/ready/`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready"}))]
pub struct Status {
    /// Where the server stands.
    pub status: Health,
}

/// Where the server stands: `ok` (alive), `ready`, `migrations pending` or `database
/// unreachable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Health {
    /// The process answers (`/api/health/`).
    #[serde(rename = "ok")]
    Alive,
    /// The database answers and its schema is current (`/api/ready/`).
    #[serde(rename = "ready")]
    Ready,
    /// The database answers but migrations are pending.
    #[serde(rename = "migrations pending")]
    MigrationsPending,
    /// The database does not answer.
    #[serde(rename = "database unreachable")]
    DatabaseUnreachable,
}
