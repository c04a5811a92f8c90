//! Conditional requests (docs/api.md "Retries and concurrent edits"): every single-record answer
//! carries a strong `ETag` (`"<version>"`, [`Versioned`]); `If-None-Match` on a GET answers 304
//! when it names the current one; `If-Match` on a PATCH, PUT or DELETE of a versioned record is
//! compared with the record's version **inside the change's transaction**
//! (`AppState::write` calls [`check`] before the change, with the row held on PostgreSQL), and a
//! stale one answers 412; with `HEALTHCARE_REQUIRE_IF_MATCH=true` a PATCH or DELETE without it
//! answers 428.
//!
//! Which routes are versioned is derived from the audit rules ([`crate::audit::RULES`]): a
//! change whose record id is the path's `{id}` of a versioned kind
//! ([`healthcare_persistence::versions::is_versioned`]).

use crate::error::ApiError;
use crate::state::State;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use healthcare_domain::{Appointment, Doctor, Mapping, Patient, User};
use healthcare_persistence::audit::Resource;
use healthcare_persistence::{versions, DbConnection, StoreError, StoreResult};
use serde::Serialize;

/// A record whose answers carry an `ETag`.
pub trait Versioned {
    /// Its version (bumped by every change).
    fn version(&self) -> i64;
}

macro_rules! versioned {
    ($($kind:ty),*) => {
        $(impl Versioned for $kind {
            fn version(&self) -> i64 {
                self.version
            }
        })*
    };
}

versioned!(
    Appointment,
    Patient,
    Doctor,
    Mapping,
    User,
    healthcare_domain::webhooks::Webhook
);

impl Versioned for healthcare_domain::webhooks::CreatedWebhook {
    fn version(&self) -> i64 {
        self.webhook.version
    }
}

impl<T: Versioned> Versioned for &T {
    fn version(&self) -> i64 {
        (*self).version()
    }
}

/// The `ETag` of a version: strong, `"<version>"`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `200 OK` with `value` as JSON and its `ETag`.
pub fn ok<T: Serialize + Versioned>(value: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(value.version())))
        .json(value)
}

/// What an `If-Match` header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// These strong versions (a weak or unreadable tag never matches: RFC 9110 compares
    /// `If-Match` strongly).
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Reads an `If-Match` (or `If-None-Match`) value; `weak_too` lets `W/"3"` stand for 3 (the
    /// weak comparison of `If-None-Match`).
    pub fn parse(value: &str, weak_too: bool) -> Self {
        if value.trim() == "*" {
            return Self::Any;
        }
        let versions = value
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let tag = match tag.strip_prefix("W/") {
                    Some(weak) if weak_too => weak,
                    Some(_) => return None,
                    None => tag,
                };
                tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
            })
            .collect();
        Self::Versions(versions)
    }

    /// Whether `version` satisfies it.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(v) => v.contains(&version),
        }
    }
}

/// The `If-Match` of the current request's change, compared inside its transaction.
#[derive(Debug, Clone)]
pub struct Precondition {
    resource: Resource,
    id: i64,
    expected: IfMatch,
}

impl Precondition {
    /// Compares the record's version, held until the transaction ends, with the expected one:
    /// [`StoreError::VersionMismatch`] (412) when it differs. A record that does not exist
    /// passes: the change then answers 404 itself.
    pub fn check(&self, conn: &mut DbConnection) -> StoreResult<()> {
        match versions::locked(conn, self.resource, self.id)? {
            Some(current) if !self.expected.matches(current) => Err(StoreError::VersionMismatch),
            _ => Ok(()),
        }
    }
}

tokio::task_local! {
    static PRECONDITION: Precondition;
}

/// The precondition of the request being served, if it sent one for a versioned record.
pub fn precondition() -> Option<Precondition> {
    PRECONDITION.try_with(Clone::clone).ok()
}

/// The versioned kind a resource's changes address by its `{id}`, found once when the routes
/// are built (`app::routes`).
#[derive(Debug, Clone, Copy)]
pub struct Conditional(Option<Resource>);

impl Conditional {
    /// For the resource registered at `pattern`.
    pub fn of(audited: crate::audit::Audited) -> Self {
        let kind = [Method::PATCH, Method::PUT, Method::DELETE]
            .iter()
            .filter_map(|m| audited.rule(m))
            .find(takes_if_match)
            .map(|rule| rule.resource);
        Self(kind)
    }
}

/// Whether a change with this audit rule honours `If-Match`: it addresses a versioned record by
/// the path's `{id}`.
pub fn takes_if_match(rule: &crate::audit::Rule) -> bool {
    rule.id == crate::audit::IdFrom::Path("id") && versions::is_versioned(rule.resource)
}

/// The schemas of the answers that carry an `ETag` (the [`Versioned`] records as served).
pub const VERSIONED_SCHEMAS: [&str; 8] = [
    "Appointment",
    "Patient",
    "Doctor",
    "Mapping",
    "User",
    "Webhook",
    "CreatedWebhook",
    "WorkingHours",
];

/// The conditional-request layer of one resource (innermost, around the handler).
pub async fn middleware(
    conditional: Conditional,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        let wanted = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(|v| IfMatch::parse(v, true));
        let res = next.call(req).await?.map_into_boxed_body();
        return Ok(match wanted {
            Some(wanted) if res.status() == StatusCode::OK => not_modified(res, &wanted),
            _ => res,
        });
    }
    let (Some(resource), true) = (
        conditional.0,
        matches!(method, Method::PATCH | Method::PUT | Method::DELETE),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let if_match = req
        .headers()
        .get(header::IF_MATCH)
        .map(|v| IfMatch::parse(v.to_str().unwrap_or(""), false));
    let Some(expected) = if_match else {
        let required = req
            .app_data::<State>()
            .is_some_and(|s| s.settings.require_if_match);
        // Only an authenticated caller is told to send `If-Match`; anyone else gets the
        // handler's 401.
        if required
            && method != Method::PUT
            && req.extract::<crate::extract::Caller>().await.is_ok()
        {
            let (req, _) = req.into_parts();
            let res = ApiError::PreconditionRequired.error_response();
            return Ok(ServiceResponse::new(req, res));
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let id = req
        .match_info()
        .get("id")
        .and_then(healthcare_domain::ids::parse_record_id);
    let Some(id) = id else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let precondition = Precondition {
        resource,
        id,
        expected,
    };
    Ok(PRECONDITION
        .scope(precondition, next.call(req))
        .await?
        .map_into_boxed_body())
}

/// A 200 whose `ETag` the client already has becomes a 304 with that `ETag` and no body.
fn not_modified(res: ServiceResponse<BoxBody>, wanted: &IfMatch) -> ServiceResponse<BoxBody> {
    // The answer's tag, strong (the REST API) or weak (the FHIR facade's `W/"3"`).
    let tag = res.headers().get(header::ETAG).cloned();
    let current = tag
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("W/").unwrap_or(v))
        .and_then(|v| v.strip_prefix('"')?.strip_suffix('"')?.parse::<i64>().ok());
    let (Some(tag), true) = (tag, current.is_some_and(|v| wanted.matches(v))) else {
        return res;
    };
    let (req, _) = res.into_parts();
    ServiceResponse::new(
        req,
        HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_strong_and_if_none_match_weak() {
        assert_eq!(IfMatch::parse("*", false), IfMatch::Any);
        assert_eq!(
            IfMatch::parse("\"3\", \"5\"", false),
            IfMatch::Versions(vec![3, 5])
        );
        assert!(!IfMatch::parse("W/\"3\"", false).matches(3));
        assert!(IfMatch::parse("W/\"3\"", true).matches(3));
        assert!(
            !IfMatch::parse("3", false).matches(3),
            "unquoted is not a tag"
        );
        assert!(!IfMatch::parse("\"x\"", false).matches(0));
        assert!(IfMatch::Any.matches(7));
        assert_eq!(etag(12), "\"12\"");
    }
}
