//! `Idempotency-Key` on POST and PATCH (docs/api.md "Retries and concurrent edits").
//!
//! The layer of one resource (inside the audit layer, so a replay is recorded, as a `read`):
//! for an authenticated POST or PATCH with the header, it reads the body, reserves the key for
//! the account in a short write of its own ([`idempotency::reserve`]) and then
//! * replays the stored answer of the same request (method, path, SHA-256 of the body) with
//!   `Idempotent-Replayed: true`, doing nothing else;
//! * answers 422 when the key was used for another request, 409 while the first still runs;
//! * or runs the request with the reservation in a task local ([`Slot`]): a change made through
//!   `AppState::write_answered` stores its answer **in the change's transaction**; any other
//!   answer is stored after the handler when it is a success or a rule's refusal (2xx, 400, 409),
//!   and the reservation is given back otherwise (401, 403, 429, 5xx...), so the key can be
//!   tried again.
//!
//! Keys are per account; requests without a valid access token (registration, login) ignore
//! them. A reservation whose request died is taken over after
//! [`idempotency::RESERVATION_SECONDS`]; a key is forgotten after [`idempotency::KEY_HOURS`].

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::State;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use healthcare_persistence::idempotency::{self, KeyedRequest, Reservation, StoredAnswer};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::rc::Rc;

/// The request header.
pub const KEY_HEADER: &str = "idempotency-key";
/// The response header of a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// An answer as it is sent and as it is stored for a replay.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// `Location` (a 201).
    pub location: Option<String>,
    /// `ETag`, when the answer is one versioned record (stored with it: a replay names the
    /// record as it was then, so an `If-Match` with it after a later change answers 412).
    pub etag: Option<String>,
    /// JSON body.
    pub body: Vec<u8>,
}

impl Answer {
    /// `200` with `value` and its `ETag`.
    pub fn ok<T: serde::Serialize + crate::conditional::Versioned>(value: &T) -> ApiResult<Self> {
        Self::of(StatusCode::OK, None, value)
    }

    /// `201` with `value`, its `Location` and its `ETag`.
    pub fn created<T: serde::Serialize + crate::conditional::Versioned>(
        location: String,
        value: &T,
    ) -> ApiResult<Self> {
        Self::of(StatusCode::CREATED, Some(location), value)
    }

    /// `status` with `value` as its JSON body (no `Location`, no `ETag`).
    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> ApiResult<Self> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
        Ok(Self {
            status,
            location: None,
            etag: None,
            body,
        })
    }

    /// `status` without a body (a 204).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            location: None,
            etag: None,
            body: Vec::new(),
        }
    }

    /// `201` with `value` and its `Location`, for a record without a version.
    pub fn created_unversioned<T: serde::Serialize>(
        location: String,
        value: &T,
    ) -> ApiResult<Self> {
        let mut answer = Self::json(StatusCode::CREATED, value)?;
        answer.location = Some(location);
        Ok(answer)
    }

    fn of<T: serde::Serialize + crate::conditional::Versioned>(
        status: StatusCode,
        location: Option<String>,
        value: &T,
    ) -> ApiResult<Self> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
        Ok(Self {
            status,
            location,
            etag: Some(crate::conditional::etag(value.version())),
            body,
        })
    }

    /// The answer as stored for a replay.
    pub fn stored(&self) -> StoredAnswer {
        StoredAnswer {
            status: self.status.as_u16(),
            location: self.location.clone(),
            etag: self.etag.clone(),
            body: self.body.clone(),
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(location) = self.location {
            res.insert_header((header::LOCATION, location));
        }
        if let Some(etag) = self.etag {
            res.insert_header((header::ETAG, etag));
        }
        if self.body.is_empty() {
            return res.finish();
        }
        res.insert_header(header::ContentType::json())
            .body(self.body)
    }
}

/// The reservation the current request holds.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The account.
    pub user: i64,
    /// The key.
    pub key: String,
    /// This request's token.
    pub owner: String,
    /// Whether the answer was stored with the change.
    stored: Rc<Cell<bool>>,
}

/// What the write path takes into the change's transaction: the reservation, without the
/// per-request flag (which stays on the request's thread).
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The account.
    pub user: i64,
    /// The key.
    pub key: String,
    /// This request's token.
    pub owner: String,
}

tokio::task_local! {
    static SLOT: Slot;
}

/// The reservation of the request being served, if it came with a key.
pub fn reserved() -> Option<Reserved> {
    SLOT.try_with(|s| Reserved {
        user: s.user,
        key: s.key.clone(),
        owner: s.owner.clone(),
    })
    .ok()
}

/// Notes that the current request's answer was stored with its change.
pub fn stored_with_change() {
    let _ = SLOT.try_with(|s| s.stored.set(true));
}

/// Whether `key` is an acceptable key: 1-255 printable ASCII characters.
pub fn valid_key(key: &[u8]) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.iter().all(|b| (0x20..=0x7e).contains(b))
}

/// The idempotency layer of one resource.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let keyed = matches!(*req.method(), Method::POST | Method::PATCH);
    let key = req.headers().get(KEY_HEADER).map(HeaderValue::as_bytes);
    let (Some(key), true, Some(state)) = (key, keyed, req.app_data::<State>().cloned()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Two keys (which an intermediary may fold into one `a, b`) name no single request.
    let one = req.headers().get_all(KEY_HEADER).nth(1).is_none();
    if !one || !valid_key(key) {
        return refuse(
            req,
            ApiError::BadRequest(format!(
                "Idempotency-Key must be one header of 1-{MAX_KEY_LEN} printable ASCII characters."
            )),
        );
    }
    let key = String::from_utf8_lossy(key).into_owned();
    // Keys belong to accounts: a request without a valid access token runs as if it had none
    // (its handler answers 401, or it is a login or a registration).
    let Ok(Caller(actor)) = req.extract::<Caller>().await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = match actix_web::rt::time::timeout(
        state.settings.body_timeout,
        req.extract::<web::Bytes>(),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            let refused = if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(crate::extract::BODY_LIMIT)
            } else {
                ApiError::BadRequest(format!("The request body could not be read: {e}"))
            };
            return refuse(req, refused);
        }
        Err(_) => {
            let secs = state.settings.body_timeout.as_secs();
            return refuse(req, ApiError::RequestTimeout(secs));
        }
    };
    let request = KeyedRequest {
        user: actor.user.0,
        key: key.clone(),
        method: req.method().to_string(),
        path: req.path().to_owned(),
        body_sha256: hex(&Sha256::digest(&body)),
    };
    req.set_payload(Payload::from(body));
    let owner = crate::request_id::RequestId::generate().as_str().to_owned();
    let reservation = {
        let owner = owner.clone();
        state
            .write_untraced(move |c| idempotency::reserve(c, &request, &owner))
            .await
    };
    match reservation {
        Err(e) => refuse(req, e),
        Ok(Reservation::Mismatch) => refuse(
            req,
            ApiError::Unprocessable(
                "This Idempotency-Key was already used for another request.".into(),
            ),
        ),
        Ok(Reservation::InFlight) => refuse(
            req,
            ApiError::ConflictDetail(
                "A request with this Idempotency-Key is still being processed; try again later."
                    .into(),
            ),
        ),
        Ok(Reservation::Replay(answer)) => {
            crate::audit::replayed();
            let mut res =
                HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK));
            res.insert_header((
                HeaderName::from_static(REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            ));
            if let Some(location) = answer.location {
                res.insert_header((header::LOCATION, location));
            }
            if let Some(etag) = answer.etag {
                res.insert_header((header::ETAG, etag));
            }
            let res = if answer.body.is_empty() {
                res.finish()
            } else {
                res.insert_header(header::ContentType::json())
                    .body(answer.body)
            };
            let (req, _) = req.into_parts();
            Ok(ServiceResponse::new(req, res))
        }
        Ok(Reservation::Fresh) => {
            let slot = Slot {
                user: actor.user.0,
                key,
                owner,
                stored: Rc::new(Cell::new(false)),
            };
            let res = SLOT.scope(slot.clone(), next.call(req)).await?;
            finish(&state, slot, res.map_into_boxed_body()).await
        }
    }
}

/// After the handler of a request that held a key: stores its answer when the change did not
/// and it is one to keep, else gives the key back.
async fn finish(
    state: &State,
    slot: Slot,
    res: ServiceResponse<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if slot.stored.get() {
        return Ok(res);
    }
    let status = res.status();
    let kept =
        status.is_success() || status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT;
    let Slot {
        user, key, owner, ..
    } = slot;
    if !kept {
        let _ = state
            .write_untraced(move |c| idempotency::release(c, user, &key, &owner))
            .await;
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let answer = StoredAnswer {
        status: status.as_u16(),
        location: header_text(&head, header::LOCATION),
        etag: header_text(&head, header::ETAG),
        body: bytes.to_vec(),
    };
    let stored = state
        .write_untraced(move |c| idempotency::store(c, user, &key, &owner, &answer))
        .await;
    let res = match stored {
        Ok(()) => head.set_body(bytes).map_into_boxed_body(),
        Err(e) => e.error_response(),
    };
    Ok(ServiceResponse::new(req, res))
}

/// The text of one of an answer's headers.
fn header_text(head: &HttpResponse<()>, name: header::HeaderName) -> Option<String> {
    head.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Answers `error` without running the handler.
fn refuse(
    req: ServiceRequest,
    error: ApiError,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (req, _) = req.into_parts();
    Ok(ServiceResponse::new(req, error.error_response()))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_printable_ascii() {
        assert!(valid_key(b"a"));
        assert!(valid_key(b"order 42 / retry"));
        assert!(valid_key(&[b'k'; 255]));
        assert!(!valid_key(b""));
        assert!(!valid_key(&[b'k'; 256]));
        assert!(!valid_key(b"tab\there"));
        assert!(!valid_key("é".as_bytes()));
    }
}
