//! Every answer under `/fhir/R4` as FHIR clients expect it (docs/fhir.md "Errors"): the media
//! type `application/fhir+json`, and each error, whoever made it (the caller extractor's 401,
//! a handler's 409, a throttle's 429, an unknown path's 404), as an `OperationOutcome` with the
//! same status and headers and the REST API's messages. One middleware, so no FHIR handler
//! builds an error body itself.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use healthcare_fhir::resources::{OperationOutcome, Resource};
use serde_json::Value;

/// The `Content-Type` of every FHIR answer with a body.
const CONTENT_TYPE: &str = "application/fhir+json; charset=utf-8";

/// The wrapped service's answer, in FHIR's media type, errors as `OperationOutcome`s.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !accepts_json(&req) {
        let headers = HeaderMap::new();
        let body = br#"{"detail": "This server answers in JSON only (application/fhir+json)."}"#;
        let answer = outcome(StatusCode::NOT_ACCEPTABLE, &headers, body);
        return Ok(req.into_response(answer));
    }
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        // An error no inner layer turned into an answer: its own answer, as an outcome.
        Err(e) => {
            let answer = e.error_response();
            let (status, headers) = (answer.status(), answer.headers().clone());
            let body = answer.into_body().try_into_bytes().unwrap_or_default();
            let outcome = outcome(status, &headers, &body);
            return Err(actix_web::error::InternalError::from_response(e, outcome).into());
        }
    };
    let status = res.status();
    if status.is_success() {
        let mut res = res;
        if res.headers().contains_key(header::CONTENT_TYPE) {
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        }
        return Ok(res);
    }
    if !(status.is_client_error() || status.is_server_error()) {
        // A 304 has no body.
        return Ok(res);
    }
    let (http, answer) = res.into_parts();
    let headers = answer.headers().clone();
    let body = actix_web::body::to_bytes(answer.into_body())
        .await
        .unwrap_or_default();
    Ok(ServiceResponse::new(http, outcome(status, &headers, &body)))
}

/// Whether the client takes JSON: no `_format` but a JSON one, and an `Accept` header (if any)
/// that names a JSON type or a wildcard.
fn accepts_json(req: &ServiceRequest) -> bool {
    let json = |t: &str| {
        let t = t
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        t.is_empty()
            || t == "json"
            || t.ends_with("/json")
            || t.ends_with("+json")
            || t.ends_with("/*")
    };
    let format_ok = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| k == "_format")
        .all(|(_, v)| json(v));
    let accept_ok = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    format_ok && (accept_ok.is_empty() || accept_ok.iter().any(|t| json(t)))
}

/// The answer of `status` whose REST error body was `body`: the same status and headers, an
/// `OperationOutcome` with its messages.
fn outcome(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    let outcome = Resource::OperationOutcome(OperationOutcome::of(status.as_u16(), messages(body)));
    let mut out = HttpResponse::build(status);
    for (name, value) in headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.append_header((name.clone(), value.clone()));
        }
    }
    out.insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(serde_json::to_vec(&outcome).unwrap_or_default())
}

/// The messages of a REST error body, each with the FHIR element it names (a key such as
/// `Appointment.start`) or none; a search parameter's name goes into its message.
fn messages(body: &[u8]) -> Vec<(Option<String>, String)> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    // The main message first: a client shows the first issue.
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort_by_key(|k| !matches!(k.as_str(), "detail" | "non_field_errors"));
    let mut out = Vec::new();
    for (key, value) in keys.into_iter().filter_map(|k| Some((k, fields.get(k)?))) {
        let texts: Vec<String> = match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(conflict) => conflict_text(conflict),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for text in texts {
            match key.as_str() {
                "detail" | "non_field_errors" | "conflicts" => out.push((None, text)),
                // The request id of a 500 ties the body to the log.
                "request_id" => out.push((None, format!("Request id: {text}"))),
                element if element.contains('.') => out.push((Some(element.to_owned()), text)),
                param => out.push((None, format!("{param}: {text}"))),
            }
        }
    }
    out
}

/// A conflict of a refused booking, in words: `Appointment/12 (the doctor's), 09:00-09:30`.
fn conflict_text(conflict: &serde_json::Map<String, Value>) -> Option<String> {
    let with = conflict.get("with")?.as_str()?;
    let start = conflict.get("start")?.as_str()?;
    let end = conflict.get("end")?.as_str()?;
    Some(match conflict.get("id").and_then(Value::as_i64) {
        Some(id) => {
            format!("Conflicts with Appointment/{id} (the {with}'s booking) from {start} to {end}.")
        }
        None => format!("Conflicts with a booking of the {with} from {start} to {end}."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_rest_error_body_becomes_issues() {
        let got = messages(br#"{"detail": "Not found."}"#);
        assert_eq!(got, [(None, "Not found.".to_owned())]);
        let got = messages(br#"{"Appointment.start": ["In the past."], "date": ["Bad date."]}"#);
        assert_eq!(
            got,
            [
                (
                    Some("Appointment.start".to_owned()),
                    "In the past.".to_owned()
                ),
                (None, "date: Bad date.".to_owned())
            ]
        );
        let got = messages(
            br#"{"non_field_errors": ["Doctor already has an appointment at this time."],
                 "conflicts": [{"with": "doctor", "start": "a", "end": "b", "id": 7}, {"with": "patient", "start": "c", "end": "d"}]}"#,
        );
        assert_eq!(got.len(), 3);
        assert!(got[0].1.starts_with("Doctor already"));
        assert!(got[1].1.contains("Appointment/7"));
        assert!(got[2].1.contains("of the patient"));
        assert!(messages(b"not json").is_empty());
    }
}
