//! Request ids (`X-Request-Id`): the outermost middleware, [`middleware`], gives every request
//! an id, runs the request inside a `tracing` span carrying it (so every log line of the request
//! names it) and sets it on the response, whichever layer produced that response (a handler,
//! an extractor's error, the 404 default service, a 405, a 413).
//!
//! The id is the client's when it sent exactly one sane `X-Request-Id` ([`is_sane`]); anything
//! else is replaced by a new one (128 random bits as 32 lowercase hex digits) and never echoed,
//! so a client cannot put control characters, spaces or arbitrary bytes into the logs or into
//! other clients' tooling through it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::fmt;
use tracing::Instrument;

/// The request and response header carrying the id (lower case, as HTTP/2 sends it).
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from a client, in bytes.
pub const MAX_LEN: usize = 128;

/// Length of a generated id: 128 bits as hexadecimal digits.
const GENERATED_LEN: usize = 32;

/// A request's id: at most [`MAX_LEN`] characters of `[A-Za-z0-9._:-]`, kept inline (no heap
/// allocation, `Copy`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; MAX_LEN],
}

/// Whether a client's `X-Request-Id` value may be used as the request's id: 1 to [`MAX_LEN`]
/// bytes, each an ASCII letter or digit or one of `.`, `_`, `:`, `-`. Nothing else (no spaces,
/// no control characters, no bytes outside ASCII, nothing that quotes or delimits in a log
/// line) is ever echoed.
pub fn is_sane(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl RequestId {
    /// The client's id, when `value` is sane ([`is_sane`]).
    pub fn from_client(value: &[u8]) -> Option<Self> {
        if !is_sane(value) {
            return None;
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(Self {
            len: value.len() as u8,
            bytes,
        })
    }

    /// A new id: 128 random bits (the thread's CSPRNG) as 32 lowercase hex digits.
    pub fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n: u128 = rand::random();
        let mut bytes = [0u8; MAX_LEN];
        for (i, b) in bytes[..GENERATED_LEN].iter_mut().enumerate() {
            *b = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
        }
        Self {
            len: GENERATED_LEN as u8,
            bytes,
        }
    }

    /// The id of a request with these headers: the client's when it sent exactly one
    /// `X-Request-Id` and that one is sane, else a new one.
    pub fn for_request(headers: &HeaderMap) -> Self {
        // A static name: looking a `&str` up would allocate a `HeaderName` first.
        let mut sent = headers.get_all(HeaderName::from_static(HEADER));
        match (sent.next(), sent.next()) {
            (Some(value), None) => Self::from_client(value.as_bytes()),
            _ => None,
        }
        .unwrap_or_else(Self::generate)
    }

    /// The id's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

tokio::task_local! {
    /// The id of the request whose future is being polled (set by [`middleware`]).
    static CURRENT: RequestId;
}

/// The id of the request being served, when called while [`middleware`] runs it: in handlers,
/// extractors and `ResponseError::error_response` (that is how the one error-to-HTTP mapping,
/// `crate::error`, names it in a 500 body without being handed the request).
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(|id| *id).ok()
}

/// The outermost middleware (request id first, then the caller, then the rest;
/// docs/architecture.md): picks the request's id ([`RequestId::for_request`]), runs everything
/// inside it within a `tracing` span `request{request_id=...}` and with the id readable through
/// [`current`], and sets `X-Request-Id` on the response. An error that an inner layer returns
/// instead of a response is rendered here, inside the span, and passed on as that response with
/// the header (the request cannot be cloned ahead of the router to build a response of our own).
///
/// Cost per request: the id itself (inline, no heap; 16 random bytes when generated), one span,
/// one header value.
///
/// The id reaches the 500 body through a task-local rather than by rewriting the response body
/// here: `error_response` has no access to the request, and a task-local lets the one mapping
/// in `crate::error` write the body once, with no buffering or re-serialising of bodies in the
/// middleware and no request handle threaded through every error value.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = RequestId::for_request(req.headers());
    // ERROR level: the span is on whenever any event is, so a warning logged at
    // `RUST_LOG=warn` still names the request.
    let span = tracing::error_span!("request", request_id = %id);
    let name = HeaderName::from_static(HEADER);
    let value = HeaderValue::from_bytes(id.as_bytes()).ok();
    let served = async move {
        match next.call(req).await {
            Ok(mut res) => {
                if let Some(value) = value {
                    res.headers_mut().insert(name, value);
                }
                Ok(res)
            }
            // Rendered here, inside the span and the task-local, and kept as the answer.
            Err(err) => {
                let mut response = err.error_response();
                if let Some(value) = value {
                    response.headers_mut().insert(name, value);
                }
                Err(InternalError::from_response(err, response).into())
            }
        }
    };
    CURRENT.scope(id, served.instrument(span)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use actix_web::middleware::from_fn;
    use actix_web::test as web_test;
    use actix_web::{web, App, HttpResponse};

    #[test]
    fn sane_ids() {
        let longest = "x".repeat(MAX_LEN);
        for id in [
            "a",
            "abc-123",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "trace.id_1:2-3",
            "ABCxyz",
            longest.as_str(),
        ] {
            assert!(is_sane(id.as_bytes()), "{id:?}");
            assert_eq!(RequestId::from_client(id.as_bytes()).unwrap().as_str(), id);
        }
    }

    #[test]
    fn insane_ids() {
        let long = "x".repeat(MAX_LEN + 1);
        let cases: &[&[u8]] = &[
            b"",
            long.as_bytes(),
            b"a b",
            b" a",
            b"a\tb",
            b"a\r\nb",
            b"a\0b",
            b"a\x7fb",
            b"a\x1bb",
            "caf\u{e9}".as_bytes(),
            b"\xff\xfe",
            b"a\"b",
            b"a=b",
            b"a/b",
            b"a%20b",
            b"a,b",
            b"{}",
        ];
        for &id in cases {
            assert!(!is_sane(id), "{id:?}");
            assert!(RequestId::from_client(id).is_none());
        }
    }

    #[test]
    fn generated_ids_are_sane_unique_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
            assert!(is_sane(id.as_bytes()));
        }
    }

    #[test]
    fn one_sane_header_is_used_else_a_new_id() {
        let mut headers = HeaderMap::new();
        assert_eq!(RequestId::for_request(&headers).as_str().len(), 32);
        let name = HeaderName::from_static(HEADER);
        headers.insert(name.clone(), HeaderValue::from_static("client-1"));
        assert_eq!(RequestId::for_request(&headers).as_str(), "client-1");
        headers.append(name.clone(), HeaderValue::from_static("client-2"));
        let id = RequestId::for_request(&headers);
        assert_ne!(id.as_str(), "client-1");
        assert_ne!(id.as_str(), "client-2");
        headers.insert(name, HeaderValue::from_static("not sane"));
        assert_ne!(RequestId::for_request(&headers).as_str(), "not sane");
    }

    #[test]
    fn no_current_id_outside_a_request() {
        assert!(current().is_none());
    }

    /// A layer that fails instead of answering.
    async fn failing(
        _req: ServiceRequest,
        _next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse, actix_web::Error> {
        Err(ApiError::Internal("SECRET inner layer".into()).into())
    }

    /// An error returned by an inner layer (not a handler) still answers with the id, in the
    /// header and in the 500 body.
    #[actix_rt::test]
    async fn errors_of_inner_layers_carry_the_id() {
        let app = web_test::init_service(
            App::new()
                .route("/", web::get().to(HttpResponse::Ok))
                .wrap(from_fn(failing))
                .wrap(from_fn(middleware)),
        )
        .await;
        let req = web_test::TestRequest::get()
            .uri("/")
            .insert_header((HEADER, "inner-1"))
            .to_request();
        let err = match web_test::try_call_service(&app, req).await {
            Err(err) => err,
            Ok(res) => panic!("expected an error, got {}", res.status()),
        };
        let res = err.error_response();
        assert_eq!(res.status().as_u16(), 500);
        assert_eq!(res.headers().get(HEADER).unwrap(), "inner-1");
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["request_id"], "inner-1");
    }

    async fn boom() -> Result<HttpResponse, ApiError> {
        Err(ApiError::Internal(
            "SECRET cause: relation \"x\" does not exist".into(),
        ))
    }

    /// A 500 names the request's id (the response header's) and nothing internal; handlers
    /// see the same id through `current()`; actix's own answers carry the header too.
    #[actix_rt::test]
    async fn internal_errors_name_the_request_id() {
        let app = web_test::init_service(
            App::new()
                .route("/boom", web::get().to(boom))
                .route(
                    "/id",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .body(current().map(|i| i.to_string()).unwrap_or_default())
                    }),
                )
                .wrap(from_fn(middleware)),
        )
        .await;
        for sent in [Some("client-id-1"), None, Some("bad id")] {
            let mut req = web_test::TestRequest::get().uri("/boom");
            if let Some(s) = sent {
                req = req.insert_header((HEADER, s));
            }
            let res = web_test::call_service(&app, req.to_request()).await;
            assert_eq!(res.status().as_u16(), 500);
            let header = res
                .headers()
                .get(HEADER)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            match sent {
                Some("client-id-1") => assert_eq!(header, "client-id-1"),
                _ => assert_eq!(header.len(), 32),
            }
            let body = web_test::read_body(res).await;
            let text = std::str::from_utf8(&body).unwrap();
            assert!(
                !text.contains("SECRET") && !text.contains("relation"),
                "{text}"
            );
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"detail": "Internal server error.", "request_id": header})
            );
        }
        let req = web_test::TestRequest::get()
            .uri("/id")
            .insert_header((HEADER, "abc"))
            .to_request();
        let res = web_test::call_service(&app, req).await;
        assert_eq!(res.headers().get(HEADER).unwrap(), "abc");
        assert_eq!(web_test::read_body(res).await, "abc");
        // No route: actix's own 404.
        let res =
            web_test::call_service(&app, web_test::TestRequest::get().uri("/none").to_request())
                .await;
        assert_eq!(res.status().as_u16(), 404);
        assert_eq!(res.headers().get(HEADER).unwrap().len(), 32);
    }
}
