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

/// One booking a 409 ran into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConflictWith {
    /// Whose booking it is: the doctor's or the patient's.
    #[schema(value_type = String, pattern = "^(doctor|patient)$")]
    pub with: &'static str,
    /// Its start.
    #[serde(serialize_with = "healthcare_domain::timestamps::serialize")]
    pub start: chrono::DateTime<chrono::Utc>,
    /// Its end.
    #[serde(serialize_with = "healthcare_domain::timestamps::serialize")]
    pub end: chrono::DateTime<chrono::Utc>,
    /// Its id, only when the caller may see that appointment.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<i64>,
}

/// A booking refused by the no-overlap rule: the seed's message, and what it ran into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"non_field_errors": ["Doctor already has an appointment at this time."], "conflicts": [{"with": "doctor", "start": "2031-03-03T09:00:00Z", "end": "2031-03-03T09:30:00Z", "id": 17}]}))]
pub struct BookingConflict {
    /// The seed's message (`Doctor already has an appointment at this time.` or the
    /// patient's).
    pub non_field_errors: Vec<String>,
    /// The blocking appointments that overlap the requested time (at most 20).
    pub conflicts: Vec<ConflictWith>,
}

/// One occurrence a `fail` series could not book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OccurrenceConflict {
    /// The occurrence (an appointment id), when a change of the series was refused for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The occurrence's start (the new one, for a change).
    #[serde(serialize_with = "healthcare_domain::timestamps::serialize")]
    pub appointment_datetime: chrono::DateTime<chrono::Utc>,
    /// Why: the seed's conflict message, `Doctor is not available at this time.`, or `The time
    /// is in the past.`
    pub reason: String,
    /// The bookings it overlaps (ids only where the caller may see them).
    pub conflicts: Vec<ConflictWith>,
}

/// A `fail` series refused (nothing was booked), or a change of a series refused (nothing was
/// changed): every occurrence that could not be booked or changed is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"non_field_errors": ["2 occurrence(s) of the series cannot be booked; nothing was booked."], "occurrences": [{"appointment_datetime": "2031-03-10T08:00:00Z", "reason": "Doctor already has an appointment at this time.", "conflicts": [{"with": "doctor", "start": "2031-03-10T08:00:00Z", "end": "2031-03-10T08:30:00Z"}]}]}))]
pub struct SeriesConflict {
    /// What happened, for a person to read.
    pub non_field_errors: Vec<String>,
    /// Every occurrence that could not be booked, earliest first.
    pub occurrences: Vec<OccurrenceConflict>,
}

impl SeriesConflict {
    /// The answer to a series refused: `message`, and every refused occurrence.
    pub fn of(message: String, refused: &[healthcare_persistence::series::Refused]) -> Self {
        Self {
            non_field_errors: vec![message],
            occurrences: refused
                .iter()
                .map(|r| OccurrenceConflict {
                    id: r.occurrence.map(|o| o.0),
                    appointment_datetime: r.start,
                    reason: r.reason.clone(),
                    conflicts: r.hit.iter().map(ConflictWith::of).collect(),
                })
                .collect(),
        }
    }
}

impl ConflictWith {
    /// A booking an occurrence or a booking ran into, as the caller may see it.
    pub fn of(o: &healthcare_persistence::appointments::Overlap) -> Self {
        Self {
            with: if o.doctor_side { "doctor" } else { "patient" },
            start: o.start,
            end: o.end,
            id: o.id.map(|id| id.0),
        }
    }
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

/// One event of the audit trail (`GET /api/audit/`), as `healthcare audit export` writes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Event id.
    pub id: i64,
    /// When the request was answered (UTC, microseconds).
    pub at: chrono::DateTime<chrono::Utc>,
    /// The authenticated user (`null`: anonymous or refused).
    pub actor: Option<i64>,
    /// The actor's role at the time.
    pub actor_role: Option<String>,
    /// For `login_failed`: the username that was tried.
    pub attempted_username: Option<String>,
    /// The client's address.
    pub client: String,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// `read`, `list`, `create`, `update`, `archive`, `login`, `login_failed`, `token_refresh`,
    /// `logout` or `export`.
    pub action: String,
    /// `patient`, `doctor`, `mapping`, `appointment`, `user`, `working_hours`, `time_off`,
    /// `webhook`, `email` or `audit`.
    pub resource: String,
    /// The record's id, for one-record requests.
    pub resource_id: Option<i64>,
    /// The patient records the request touched or returned.
    pub patients: Vec<i64>,
    /// The query string of a list or search (secrets removed).
    pub query: String,
    /// The HTTP status answered.
    pub status: i32,
    /// Position in the hash chain (`null` until sealed, within about a second).
    pub seq: Option<i64>,
    /// The previous event's hash (`null` until sealed).
    pub prev_hash: Option<String>,
    /// SHA-256 of this event's canonical form (`null` until sealed).
    pub hash: Option<String>,
}

impl From<healthcare_persistence::audit::AuditEvent> for AuditEventBody {
    fn from(e: healthcare_persistence::audit::AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at.and_utc(),
            actor: e.actor,
            actor_role: e.actor_role,
            attempted_username: e.attempted_username,
            client: e.client,
            request_id: e.request_id,
            action: e.action,
            resource: e.resource,
            resource_id: e.resource_id,
            patients: healthcare_persistence::audit::parse_patients(&e.patients),
            query: e.query,
            status: e.status,
            seq: e.seq,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// One answered request that touched a patient record (`GET /api/patients/{id}/access-log/`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessLogEntry {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who (their username now; `null` if the account no longer exists).
    pub actor_username: Option<String>,
    /// In which role.
    pub actor_role: Option<String>,
    /// What they did (`read`, `list`, `create`, `update`, `archive`, ...).
    pub action: String,
    /// On which kind of record (`patient`, `appointment`, `mapping`, `audit`).
    pub resource: String,
    /// The record's id, for one-record requests.
    pub resource_id: Option<i64>,
    /// From which address (admin and staff only; never shown to the patient role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A calendar token, shown once when it is made (docs/api.md "Calendar feeds").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"token": "4f1c0e6a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e"}))]
pub struct CalendarToken {
    /// Reads the account's calendar feeds as `?token=`, and nothing else; revoked by
    /// `DELETE /api/auth/calendar-token/`, by a new token and by a password change.
    pub token: String,
}
