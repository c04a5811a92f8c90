//! Extractors: the authenticated caller, the JSON body and the query string, each failing with
//! the JSON errors of docs/api.md.

use crate::callers::TokenFacts;
use crate::error::ApiError;
use crate::state::State;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use healthcare_auth::{Actor, TokenError, TokenKind};
use healthcare_domain::{FieldErrors, Raw, RawObject, UserId};
use healthcare_persistence::users;
use std::sync::Arc;

/// Largest accepted JSON body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The authenticated caller (from `Authorization: Bearer <access token>`). Role, active flag,
/// token version, linked doctor record and whether the token's session is live are read from
/// the database in one query (cached for at most [`crate::callers::CALLER_TTL`]), so logouts,
/// deactivations, role and password changes end tokens on every process within that time.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Actor);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<State>().cloned();
        let request = req.clone();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("state missing".into()))?;
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized("Authentication credentials were not provided.".into())
            })?;
            let token = match token.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim().to_owned(),
                _ => return Err(ApiError::Unauthorized(
                    "Authorization header must contain two space-delimited values: Bearer <token>"
                        .into(),
                )),
            };
            let now = chrono::Utc::now().timestamp();
            let token_facts = match state.tokens.get(&token, now) {
                Some(facts) => facts,
                None => {
                    let claims = state
                        .keys
                        .verify(&token, TokenKind::Access)
                        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
                    let facts = TokenFacts {
                        session: (
                            UserId(claims.user_id),
                            Arc::from(claims.sid.unwrap_or_default()),
                        ),
                        version: claims.ver,
                        exp: claims.exp,
                    };
                    state.tokens.put(&token, facts.clone(), now);
                    facts
                }
            };
            let key = token_facts.session;
            let user = key.0;
            let found = match state.callers.get(&key) {
                Some(facts) => Some(facts),
                None => {
                    let sid = key.1.clone();
                    let found = state.read(move |c| users::caller(c, user, &sid)).await?;
                    if let Some(facts) = found {
                        state.callers.put(key.clone(), facts);
                    }
                    found
                }
            };
            match found {
                Some(facts) if facts.is_active => {
                    if !facts.session_live || facts.token_version != token_facts.version {
                        return Err(ApiError::Unauthorized(TokenError::Revoked.to_string()));
                    }
                    request.extensions_mut().insert(user);
                    request.extensions_mut().insert(Session(key.1));
                    let actor = Actor {
                        user,
                        role: facts.role,
                        doctor: facts.doctor,
                    };
                    crate::audit::caller(&actor);
                    Ok(Caller(actor))
                }
                _ => Err(ApiError::Unauthorized("User not found or inactive.".into())),
            }
        })
    }
}

/// The login session of the authenticated caller (the `sid` of their access token); set on
/// the request by [`Caller`].
#[derive(Debug, Clone)]
pub struct Session(pub Arc<str>);

/// A JSON object body, read leniently so validation can report every field at once.
#[derive(Debug, Clone)]
pub struct Body(pub RawObject);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload, RawObject::default, |bytes| {
            serde_json::from_slice::<RawObject>(bytes).map_err(|e| e.to_string())
        });
        Box::pin(async move { body.await.map(Body) })
    }
}

/// How long a client has to send a request body when no settings are at hand (the default of
/// `HEALTHCARE_BODY_TIMEOUT`).
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a JSON request body the one way every extractor does: `application/json` (or
/// `application/*+json`) only (415 otherwise), at most [`BODY_LIMIT`] bytes (413), received in
/// full within the body timeout (`HEALTHCARE_BODY_TIMEOUT`; 408, and the connection closes), an
/// empty body without a content type read as `empty()`, anything `parse` refuses a 400
/// `{"detail": "JSON parse error - ..."}`.
pub fn read_json<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    empty: fn() -> T,
    parse: fn(&[u8]) -> Result<T, String>,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body_timeout = req
        .app_data::<State>()
        .map_or(DEFAULT_BODY_TIMEOUT, |state| state.settings.body_timeout);
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        if declared_len.is_some_and(|n| n > BODY_LIMIT) {
            return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
        }
        // A client that stalls mid-body would otherwise hold the connection (and this
        // request's place) for as long as it likes.
        let bytes = actix_web::rt::time::timeout(body_timeout, bytes)
            .await
            .map_err(|_| ApiError::RequestTimeout(body_timeout.as_secs()))?;
        let bytes = bytes.map_err(|e| {
            if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::PayloadTooLarge(BODY_LIMIT)
            } else {
                ApiError::BadRequest(format!("Could not read the request body: {e}"))
            }
        })?;
        match content_type.as_deref() {
            Some("application/json") => {}
            Some(ct) if ct.starts_with("application/") && ct.ends_with("+json") => {}
            None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(empty()),
            other => {
                return Err(ApiError::UnsupportedMediaType(
                    other.unwrap_or("").chars().take(100).collect(),
                ))
            }
        }
        parse(&bytes).map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))
    })
}

/// The query string as name/value pairs.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl FromRequest for Params {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
                .map_err(|e| ApiError::BadRequest(format!("Malformed query string: {e}")))
                .and_then(|pairs| {
                    // PostgreSQL refuses NUL in text (a `search=%00` would otherwise be a 500);
                    // no parameter has a use for it.
                    let mut errors = FieldErrors::new();
                    for (k, v) in &pairs {
                        if k.contains('\0') || v.contains('\0') {
                            errors.add(&k.replace('\0', ""), "Null characters are not allowed.");
                        }
                    }
                    if errors.is_empty() {
                        Ok(Params(pairs))
                    } else {
                        Err(ApiError::Validation(errors))
                    }
                }),
        )
    }
}

impl Params {
    /// The last value given for `name`, if any (blank counts as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The parameters as an object of strings, for the domain's `parse` functions: the last
    /// value of each name, blank values left out (as [`Params::get`] reads them).
    pub fn to_raw(&self) -> RawObject {
        let mut fields = std::collections::BTreeMap::new();
        for (k, v) in &self.0 {
            if v.trim().is_empty() {
                fields.remove(k);
            } else {
                fields.insert(k.clone(), Raw::Str(v.clone()));
            }
        }
        RawObject(fields)
    }

    /// A page size or offset: as [`Params::int`], but a number past the `i64` range reads as
    /// the largest (smallest) one (`healthcare_domain::raw::saturating_int`), to be clamped.
    pub fn count(&self, name: &str, errors: &mut FieldErrors) -> Option<i64> {
        let v = self.get(name)?;
        let n = healthcare_domain::raw::saturating_int(v);
        if n.is_none() {
            errors.add(name, healthcare_domain::msg::NOT_INTEGER);
        }
        n
    }

    /// An integer parameter, `None` when absent; a wrong type is a 400.
    pub fn int(&self, name: &str, errors: &mut FieldErrors) -> Option<i64> {
        let v = self.get(name)?;
        match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add(name, healthcare_domain::msg::NOT_INTEGER);
                None
            }
        }
    }
}
