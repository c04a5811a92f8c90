//! The one error type of the API and the one place where errors become HTTP (the error table of docs/api.md).
//!
//! A 500 answers `{"detail": "Internal server error.", "request_id": "..."}` and names nothing
//! internal; its cause, with the whole chain of sources, is logged here, at the edge, with the
//! same request id (read from [`crate::request_id::current`], which the outermost middleware
//! sets for every request, so this mapping needs no handle on the request).

use crate::bodies::{BookingConflict, Detail, InternalError, SeriesConflict, TimeOffConflict};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use healthcare_domain::{msg, FieldErrors, NON_FIELD_ERRORS};
use healthcare_persistence::StoreError;
use serde::Serialize;
use std::fmt;

/// Everything a handler can answer other than success.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400 with field-keyed messages.
    Validation(FieldErrors),
    /// 400 `{"detail": ...}`: malformed JSON, bad query string.
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed(String),
    /// 409 with field-keyed messages (booking conflicts).
    Conflict(FieldErrors),
    /// 409 of the no-overlap rule: the seed's message and what the booking ran into.
    Booking(BookingConflict),
    /// 422 `{"detail": ...}`: an idempotency key reused for another request.
    Unprocessable(String),
    /// 422 with field-keyed messages: a FHIR resource that is well-formed but breaks a rule
    /// (the FHIR facade answers it as an `OperationOutcome`).
    Invalid(FieldErrors),
    /// 409 of a `fail` series: every occurrence that could not be booked.
    Series(SeriesConflict),
    /// 412: `If-Match` named a version that is not the record's.
    PreconditionFailed,
    /// 428: `HEALTHCARE_REQUIRE_IF_MATCH` is on and the change came without `If-Match`.
    PreconditionRequired,
    /// 409 `{"detail": ...}`.
    ConflictDetail(String),
    /// 409: time off would cover this many SCHEDULED appointments.
    TimeOffConflict(i64),
    /// 408: the request body did not arrive in full within this many seconds; the connection
    /// is closed after the answer.
    RequestTimeout(u64),
    /// 413.
    PayloadTooLarge(usize),
    /// 415.
    UnsupportedMediaType(String),
    /// 429 with `Retry-After` seconds.
    Throttled(u64),
    /// 503: no database connection became free in time.
    Unavailable,
    /// 500; the cause (with its chain of sources, [`cause_chain`]) is logged with the request
    /// id, never sent.
    Internal(String),
}

impl ApiError {
    /// A 400 on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    /// A 409 of the no-overlap rule with this message; `crate::booking` adds what it hit.
    fn booking(message: &str) -> Self {
        Self::Booking(BookingConflict {
            non_field_errors: vec![message.to_owned()],
            conflicts: Vec::new(),
        })
    }

    /// A 500 caused by `error`, keeping its whole cause chain for the log.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::Internal(cause_chain(error))
    }
}

/// `error: its source: that one's source: ...`: an error's message followed by those of its
/// sources, down the whole chain (a source whose message the previous one already ends with, as
/// `#[error("pool: {0}")]` over a `#[from]` field, is not repeated).
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let message = e.to_string();
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = e.source();
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::DoctorConflict => Self::booking(msg::DOCTOR_CONFLICT),
            StoreError::PatientConflict => Self::booking(msg::PATIENT_CONFLICT),
            StoreError::HoldExpired => Self::Conflict(FieldErrors::non_field(msg::HOLD_EXPIRED)),
            StoreError::TooManyHolds => Self::Conflict(FieldErrors::non_field(msg::TOO_MANY_HOLDS)),
            StoreError::VersionMismatch => Self::PreconditionFailed,
            StoreError::TimeOffBlocked { affected } => Self::TimeOffConflict(affected),
            StoreError::SeriesRefused(refused) => Self::Series(SeriesConflict::of(
                format!(
                    "{} occurrence(s) of the series cannot be booked; nothing was booked.",
                    refused.len()
                ),
                &refused,
            )),
            StoreError::SeriesChangeRefused(refused) => Self::Series(SeriesConflict::of(
                format!(
                    "{} occurrence(s) of the series cannot be changed; nothing was changed.",
                    refused.len()
                ),
                &refused,
            )),
            StoreError::WebhookInactive => Self::ConflictDetail(
                "This subscription is not active: activate it (PATCH {\"is_active\": true}) \
                 before a ping."
                    .into(),
            ),
            StoreError::KeyTakenOver => Self::ConflictDetail(
                "A request with this Idempotency-Key is still being processed; try again later."
                    .into(),
            ),
            StoreError::Duplicate { field } => Self::Validation(FieldErrors::single(
                field,
                match field {
                    "username" => "A user with that username already exists.",
                    "license_number" => "doctor with this license number already exists.",
                    "user" => "This account is already linked to another doctor.",
                    NON_FIELD_ERRORS => "The fields doctor, patient must make a unique set.",
                    _ => "This value already exists.",
                },
            )),
            StoreError::MissingReference { field, id } => Self::Validation(FieldErrors::single(
                field,
                format!("Invalid pk \"{id}\" - object does not exist."),
            )),
            StoreError::HasFutureAppointments { count } => Self::ConflictDetail(format!(
                "Cannot archive: {count} future scheduled appointment(s) must be cancelled first."
            )),
            StoreError::Invalid { field, message } => {
                Self::Validation(FieldErrors::single(field, message))
            }
            StoreError::Forbidden => Self::Forbidden,
            StoreError::Pool(e) => {
                tracing::warn!(error = %e, "database pool exhausted");
                Self::Unavailable
            }
            StoreError::ConnectionLost => {
                tracing::warn!("database connection lost");
                Self::Unavailable
            }
            StoreError::Busy => {
                tracing::warn!("write queue full");
                Self::Unavailable
            }
            StoreError::AuditUnavailable(cause) => {
                tracing::error!(%cause, "audit event not written; the request fails");
                Self::Unavailable
            }
            StoreError::Contention => {
                tracing::warn!("write rolled back by the database to resolve contention");
                Self::Unavailable
            }
            other => Self::internal(&other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking pool: {}", cause_chain(&e)))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_)
            | Self::Booking(_)
            | Self::Series(_)
            | Self::ConflictDetail(_)
            | Self::TimeOffConflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Unprocessable(_) | Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        let detail = |d: String| ErrorBody::Detail(Detail::new(d));
        let body = match self {
            Self::Validation(e) | Self::Conflict(e) | Self::Invalid(e) => ErrorBody::Fields(e),
            Self::BadRequest(d) | Self::ConflictDetail(d) | Self::Unprocessable(d) => {
                detail(d.clone())
            }
            Self::Booking(b) => ErrorBody::Booking(b),
            Self::Series(s) => ErrorBody::Series(s),
            Self::PreconditionFailed => {
                detail("The resource has changed (ETag mismatch).".to_owned())
            }
            Self::PreconditionRequired => detail(
                "This request must be conditional: send If-Match with the record's ETag."
                    .to_owned(),
            ),
            Self::Unauthorized(d) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                ));
                detail(d.clone())
            }
            Self::Forbidden => {
                detail("You do not have permission to perform this action.".to_owned())
            }
            Self::TimeOffConflict(affected) => ErrorBody::TimeOff(TimeOffConflict {
                detail: format!(
                    "The doctor has {affected} scheduled appointment(s) in this period: cancel or move them first, or send \"keep_appointments\": true."
                ),
                affected_appointments: *affected,
            }),
            Self::NotFound => detail("Not found.".to_owned()),
            Self::MethodNotAllowed(m) => detail(format!("Method \"{m}\" not allowed.")),
            Self::RequestTimeout(secs) => {
                // The rest of the body may still come: the connection cannot be reused.
                res.force_close();
                detail(format!(
                    "The request body was not received within {secs} seconds."
                ))
            }
            Self::PayloadTooLarge(limit) => {
                detail(format!("Request body is too large (limit {limit} bytes)."))
            }
            Self::UnsupportedMediaType(ct) => {
                detail(format!("Unsupported media type \"{ct}\" in request."))
            }
            Self::Throttled(secs) => {
                res.insert_header((header::RETRY_AFTER, secs.to_string()));
                detail(format!(
                    "Request was throttled. Expected available in {secs} seconds."
                ))
            }
            Self::Unavailable => {
                res.insert_header((header::RETRY_AFTER, "1"));
                detail("Service temporarily unavailable, try again.".to_owned())
            }
            Self::Internal(cause) => {
                // Outside a request (no middleware around it) a new id still ties the body to
                // the log entry.
                let id = crate::request_id::current()
                    .unwrap_or_else(crate::request_id::RequestId::generate);
                tracing::error!(request_id = %id, %cause, "internal error");
                ErrorBody::Internal(InternalError {
                    detail: "Internal server error.",
                    request_id: id.as_str().to_owned(),
                })
            }
        };
        res.json(body)
    }
}

/// The body of an error answer: one of the documented error shapes.
#[derive(Serialize)]
#[serde(untagged)]
enum ErrorBody<'a> {
    Fields(&'a FieldErrors),
    Booking(&'a BookingConflict),
    Series(&'a SeriesConflict),
    Detail(Detail),
    TimeOff(TimeOffConflict),
    Internal(InternalError),
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Leaf;

    impl fmt::Display for Leaf {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }

    impl std::error::Error for Leaf {}

    #[derive(Debug)]
    struct Wrapper(Leaf, &'static str);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.1)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_chain_names_every_source_once() {
        let e = Wrapper(Leaf, "cannot open the database");
        assert_eq!(
            cause_chain(&e),
            "cannot open the database: connection refused"
        );
        let e = Wrapper(Leaf, "pool: connection refused");
        assert_eq!(cause_chain(&e), "pool: connection refused");
        assert!(matches!(
            ApiError::internal(&Wrapper(Leaf, "outer")),
            ApiError::Internal(c) if c == "outer: connection refused"
        ));
    }

    #[actix_rt::test]
    async fn a_500_outside_a_request_still_has_an_id() {
        let res = ApiError::Internal("secret cause".into()).error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "Internal server error.");
        assert_eq!(body["request_id"].as_str().unwrap().len(), 32);
    }
}
