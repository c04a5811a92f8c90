//! The OpenAPI 3.1 document, generated from the handlers' annotations. Its schemas are derived
//! from the types the server really parses and serializes (`ToSchema` on the domain's records,
//! inputs and enums, behind the domain crate's `openapi` feature, and on [`crate::bodies`]).

use crate::routes;
use actix_web::http::Method;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

/// Documents `POST /api/auth/`, the seed's path for registration and the same handler as
/// `POST /api/auth/register/`, as an operation of its own (`auth_register_seed`): one handler
/// with two paths, every operation with its own `operationId`. Runs after `StandardErrors`, so
/// the copy has the same responses.
struct SeedPaths;

impl Modify for SeedPaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(mut item) = openapi.paths.paths.get("/api/auth/register/").cloned() else {
            return;
        };
        const SEED: &str = "The seed's path for registration: the same handler, body and \
            answers as `POST /api/auth/register/`.";
        if let Some(op) = item.post.as_mut() {
            op.operation_id = Some("auth_register_seed".to_owned());
            op.description = Some(match op.description.take() {
                Some(own) if !own.is_empty() => format!("{SEED}\n\n{own}"),
                _ => SEED.to_owned(),
            });
        }
        openapi.paths.paths.insert("/api/auth/".to_owned(), item);
    }
}

/// Adds the error responses of the API (docs/api.md), with their bodies, to every operation (and
/// 408 to those that read a request body), so every status the server can answer is in the
/// document.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let errors: [(&str, &str, &str); 11] = [
            (
                "400",
                "Validation error (field-keyed) or malformed request",
                "Error",
            ),
            (
                "401",
                "Missing, invalid, expired or revoked credentials",
                "Detail",
            ),
            ("403", "Not allowed", "Detail"),
            ("404", "Not found or not visible", "Detail"),
            ("405", "Method not allowed", "Detail"),
            ("409", "Booking conflict or archive refused", "Error"),
            ("413", "Body too large", "Detail"),
            ("415", "Unsupported media type", "Detail"),
            (
                "429",
                "Too many attempts (login or registration throttling); `Retry-After` says when to try again",
                "Detail",
            ),
            ("500", "Internal server error", "Detail"),
            ("503", "Temporarily unavailable", "Detail"),
        ];
        // Where a body is read: it must arrive in full within the body timeout.
        let body_errors: [(&str, &str, &str); 1] = [(
            "408",
            "The request body was not received in full in time; the connection is closed",
            "Detail",
        )];
        // 400 and 409 bodies are field-keyed (validation, booking conflicts) or a `detail`
        // (malformed JSON, archive refused): `Error` is either.
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "Error".to_owned(),
            utoipa::openapi::schema::AnyOfBuilder::new()
                .item(Ref::from_schema_name("FieldErrors"))
                .item(Ref::from_schema_name("Detail"))
                .description(Some(
                    "Field-keyed errors, or `{\"detail\": \"...\"}` for a malformed request or a refused archive",
                ))
                .into(),
        );
        for op in operations_mut(openapi) {
            let reads_body = op.request_body.is_some();
            let extra = body_errors.iter().filter(|_| reads_body);
            for &(code, description, schema) in errors.iter().chain(extra) {
                let entry = op.responses.responses.entry(code.to_owned());
                let response = ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(schema)))
                            .build(),
                    )
                    .build();
                match entry {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(response.into());
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        if let utoipa::openapi::RefOr::T(r) = o.get_mut() {
                            if r.content.is_empty() {
                                // The standard body; the handler's own description, if
                                // it gave one, is more precise than the standard one.
                                let own = std::mem::take(&mut r.description);
                                *r = response;
                                if !own.is_empty() {
                                    r.description = own;
                                }
                                continue;
                            }
                            if r.description.is_empty() {
                                r.description = description.to_owned();
                            }
                            if schema == "Error" {
                                // A handler's own field-keyed 400/409 can still be a
                                // `detail` (malformed JSON): widen it, keeping its example.
                                for content in r.content.values_mut() {
                                    let utoipa::openapi::RefOr::T(content) = content else {
                                        continue;
                                    };
                                    if let Some(utoipa::openapi::RefOr::Ref(x)) = &content.schema {
                                        if x.ref_location.ends_with("/FieldErrors") {
                                            content.schema =
                                                Some(Ref::from_schema_name("Error").into());
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // Calendar feeds only: calendar apps send no headers (docs/api.md "Calendar feeds").
        components.add_security_scheme(
            "calendar_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The account's calendar token (`POST /api/auth/calendar-token/`): read-only, \
                 accepted by the two `calendar.ics` feeds and nowhere else.",
            ))),
        );
    }
}

/// Documents the response headers clients rely on, each once in `components.headers` and
/// referenced where it is sent: `X-Total-Count` and `Link` on every paged list (a 200 whose body
/// is an array, of an operation with a `limit` parameter; `crate::pagination`), `Location` on every 201, `Retry-After` on 429 and 503,
/// `WWW-Authenticate` on 401 (`crate::error`). Runs after the modifiers that add responses.
struct Headers;

impl Modify for Headers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type};
        let headers: [(&str, Type, &str); 5] = [
            (
                "X-Total-Count",
                Type::Integer,
                "How many items the whole list has (every page together).",
            ),
            (
                "Link",
                Type::String,
                "RFC 8288 links to the next and previous pages (`rel=\"next\"`, `rel=\"prev\"`), \
                 when there are any; relative, or absolute from `HEALTHCARE_PUBLIC_URL`.",
            ),
            (
                "Location",
                Type::String,
                "The path of the resource just created.",
            ),
            (
                "Retry-After",
                Type::Integer,
                "Seconds to wait before trying again.",
            ),
            (
                "WWW-Authenticate",
                Type::String,
                "`Bearer realm=\"api\"`: send an access token.",
            ),
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, ty, description) in headers {
            components.headers.insert(
                name.to_owned(),
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(ty)))
                    .description(Some(description))
                    .build()
                    .into(),
            );
        }
        let reference = |name: &str| RefOr::Ref(Ref::new(format!("#/components/headers/{name}")));
        for op in operations_mut(openapi) {
            let paged = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.name == "limit"));
            for (code, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                let is_list = paged && response.content.values().any(|c| {
                    matches!(c, RefOr::T(c) if matches!(&c.schema, Some(RefOr::T(utoipa::openapi::schema::Schema::Array(_)))))
                });
                let names: &[&str] = match code.as_str() {
                    "200" if is_list => &["X-Total-Count", "Link"],
                    "201" => &["Location"],
                    "401" => &["WWW-Authenticate"],
                    "429" | "503" => &["Retry-After"],
                    _ => &[],
                };
                for name in names {
                    response.headers.insert((*name).to_owned(), reference(name));
                }
            }
        }
    }
}

/// Documents request ids (docs/api.md, `crate::request_id`): the `X-Request-Id` header on every
/// response of every operation (one `components.headers` entry, referenced), and the 500 body,
/// `InternalError`, with its `request_id`. Runs after the modifiers that add responses.
struct RequestIds;

impl Modify for RequestIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type};
        use utoipa::PartialSchema;
        const NAME: &str = "X-Request-Id";
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "InternalError".to_owned(),
            crate::bodies::InternalError::schema(),
        );
        components.headers.insert(
            NAME.to_owned(),
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(crate::request_id::MAX_LEN))
                        .pattern(Some("^[A-Za-z0-9._:-]+$")),
                ))
                .description(Some(
                    "The request's id: the client's `X-Request-Id` when it sent one of 1-128 \
                     characters of `[A-Za-z0-9._:-]`, else a new one (32 hex digits). Every log \
                     line of the request names it.",
                ))
                .example(Some(serde_json::json!("5f0c2a6e4b1d4c8f8e2f3a5b6c7d8e9f")))
                .build()
                .into(),
        );
        let header = Ref::new(format!("#/components/headers/{NAME}"));
        for op in operations_mut(openapi) {
            for (code, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response
                    .headers
                    .insert(NAME.to_owned(), RefOr::Ref(header.clone()));
                if code == "500" {
                    for content in response.content.values_mut() {
                        if let RefOr::T(content) = content {
                            content.schema = Some(Ref::from_schema_name("InternalError").into());
                        }
                    }
                }
            }
        }
    }
}

/// Documents safe retries and concurrent edits (`crate::idempotency`, `crate::conditional`):
/// `Idempotency-Key` (and 422, and `Idempotent-Replayed` on the answers a replay repeats) on
/// every authenticated POST and PATCH; `ETag` on every answer whose body is a versioned record;
/// `If-None-Match` and 304 on the GETs among them; `If-Match`, 412 and 428 on the changes that
/// address a versioned record by its `{id}` (the audit rules say which). Runs after the
/// modifiers that add responses, before the ones that add headers to every response.
struct Retries;

impl Modify for Retries {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{
            ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "Conflict".to_owned(),
            utoipa::openapi::schema::AnyOfBuilder::new()
                .item(Ref::from_schema_name("BookingConflict"))
                .item(Ref::from_schema_name("SeriesConflict"))
                .item(Ref::from_schema_name("FieldErrors"))
                .item(Ref::from_schema_name("Detail"))
                .description(Some(
                    "A booking conflict (with `conflicts`), a series' refused occurrences \
                     (`occurrences`), another rule's field-keyed refusal, or `{\"detail\": \"...\"}` (an idempotency key still in use)",
                ))
                .into(),
        );
        let headers: [(&str, &str); 2] = [
            (
                "ETag",
                "The record's version, strong (`\"<version>\"`): send it back in `If-Match` \
                 to change the record only as you saw it, or in `If-None-Match` to be told \
                 304 when it did not change.",
            ),
            (
                "Idempotent-Replayed",
                "`true` when this is the stored answer of an earlier request with the same \
                 `Idempotency-Key`, sent again (nothing was done this time).",
            ),
        ];
        for (name, description) in headers {
            components.headers.insert(
                name.to_owned(),
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(description))
                    .build()
                    .into(),
            );
        }
        let header = |name: &str| RefOr::Ref(Ref::new(format!("#/components/headers/{name}")));
        let detail = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Detail")))
                        .build(),
                )
                .build()
        };
        let param = |name: &str, description: &str, schema: ObjectBuilder| -> RefOr<_> {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
                .into()
        };
        let tag_schema = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r#"^(\*|(W/)?"[0-9]+"(\s*,\s*(W/)?"[0-9]+")*)$"#))
        };
        for (method, op) in operations_mut_with_methods(openapi) {
            let id = op.operation_id.clone().unwrap_or_default();
            let rule = crate::audit::RULES
                .iter()
                .find(|(name, _)| *name == id)
                .and_then(|(_, rule)| *rule);
            let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let keyed = authenticated && matches!(method, Method::POST | Method::PATCH);
            let conditional = rule
                .as_ref()
                .is_some_and(crate::conditional::takes_if_match)
                && matches!(method, Method::PATCH | Method::PUT | Method::DELETE);
            let versioned = |response: &utoipa::openapi::Response| {
                response.content.values().any(|c| {
                    matches!(c, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r))
                        if crate::conditional::VERSIONED_SCHEMAS
                            .iter()
                            .any(|s| r.ref_location.ends_with(&format!("/{s}")))))
                })
            };
            let mut tagged = false;
            for (code, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if code.starts_with('2') && versioned(response) {
                    response.headers.insert("ETag".to_owned(), header("ETag"));
                    tagged = true;
                }
                if keyed && (code.starts_with('2') || code == "400" || code == "409") {
                    response.headers.insert(
                        "Idempotent-Replayed".to_owned(),
                        header("Idempotent-Replayed"),
                    );
                }
                if code == "409" {
                    for content in response.content.values_mut() {
                        let RefOr::T(content) = content else { continue };
                        content.schema = Some(Ref::from_schema_name("Conflict").into());
                    }
                }
            }
            let params = op.parameters.get_or_insert_with(Vec::new);
            if keyed {
                params.push(param(
                    "Idempotency-Key",
                    "1-255 printable ASCII characters. The same key from the same account for the \
                     same method, path and body within 24 hours replays the first answer \
                     (`Idempotent-Replayed: true`) and does nothing else; with another request, \
                     422; while the first still runs, 409.",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(crate::idempotency::MAX_KEY_LEN))
                        .pattern(Some("^[\\x20-\\x7E]+$")),
                ));
                op.responses.responses.insert(
                    "422".to_owned(),
                    detail("The `Idempotency-Key` was already used for another request").into(),
                );
            }
            if method == Method::GET && tagged {
                params.push(param(
                    "If-None-Match",
                    "An `ETag` of the record: 304 (no body) when it is still the current one.",
                    tag_schema(),
                ));
                let mut not_modified = ResponseBuilder::new()
                    .description("The record did not change since the `ETag` sent (no body)")
                    .build();
                not_modified
                    .headers
                    .insert("ETag".to_owned(), header("ETag"));
                op.responses
                    .responses
                    .insert("304".to_owned(), not_modified.into());
            }
            if conditional {
                params.push(param(
                    "If-Match",
                    "The record's `ETag` as the client saw it (or `*`): the change is made only \
                     if it is still the current one (checked in the change's transaction), \
                     else 412.",
                    tag_schema(),
                ));
                op.responses.responses.insert(
                    "412".to_owned(),
                    detail("The record changed since the `ETag` sent in `If-Match`").into(),
                );
                if method != Method::PUT {
                    op.responses.responses.insert(
                        "428".to_owned(),
                        detail(
                            "`If-Match` is required (`HEALTHCARE_REQUIRE_IF_MATCH=true`) and was \
                             not sent",
                        )
                        .into(),
                    );
                }
            }
            if params.is_empty() {
                op.parameters = None;
            }
        }
    }
}

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Healthcare scheduling API", description = "Patients, doctors, doctor-patient assignments and appointments behind JWT auth with role-based access. Compatible with the seed Django REST Framework service."),
    paths(
        routes::auth::register, routes::auth::obtain, routes::auth::refresh, routes::auth::revoke, routes::auth::change_password, routes::auth::me,
        routes::calendar::create_token, routes::calendar::revoke_token, routes::calendar::doctor_feed, routes::calendar::patient_feed,
        routes::patients::list, routes::patients::create, routes::patients::get, routes::patients::update, routes::patients::archive,
        routes::doctors::list, routes::doctors::create, routes::doctors::get, routes::doctors::update, routes::doctors::archive,
        routes::availability::get_working_hours, routes::availability::put_working_hours,
        routes::availability::list_time_off, routes::availability::add_time_off, routes::availability::delete_time_off,
        routes::availability::free_slots,
        routes::mappings::list, routes::mappings::create, routes::mappings::get, routes::mappings::update, routes::mappings::deactivate,
        routes::mappings::doctors_of_patient,
        routes::appointments::list, routes::appointments::create, routes::appointments::get, routes::appointments::update, routes::appointments::archive,
        routes::series::create, routes::series::get, routes::series::update,
        routes::users::list, routes::users::create, routes::users::get, routes::users::update,
        routes::audit::list, routes::audit::access_log,
        routes::webhooks::list, routes::webhooks::create, routes::webhooks::get, routes::webhooks::update, routes::webhooks::deactivate,
        routes::webhooks::ping, routes::webhooks::rotate_secret, routes::webhooks::deliveries, routes::webhooks::retry,
        routes::health::health, routes::health::ready,
    ),
    components(schemas(healthcare_domain::FieldErrors, crate::bodies::Detail)),
    modifiers(&Security, &StandardErrors, &SeedPaths, &Retries, &Headers, &RequestIds),
    tags(
        (name = "auth", description = "Registration and JWT tokens"),
        (name = "patients"), (name = "doctors"),
        (name = "availability", description = "Doctors' working hours, time off and free slots"), (name = "mappings", description = "Doctor-patient assignments"),
        (name = "appointments"), (name = "users", description = "Accounts (admin only)"),
        (name = "audit", description = "The audit trail: who saw or changed which patient's data"),
        (name = "webhooks", description = "Signed webhook subscriptions and their delivery log (admin only)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// A path pattern with its parameters' names left out (`/api/mappings/patient/{}/`): the
/// router's pattern and the document's path may name a parameter differently (the router's
/// `/api/mappings/patient/{id}/` is the document's `/api/mappings/patient/{patient_id}/`).
pub fn shape(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the document gives the path the router serves at `pattern` (found by its
/// [`shape`], with or without its trailing slash), in the document's order; empty for a path
/// the document does not have. Built once from the document.
pub fn methods(pattern: &str) -> Vec<&'static str> {
    static METHODS: std::sync::OnceLock<std::collections::HashMap<String, Vec<&'static str>>> =
        std::sync::OnceLock::new();
    let by_path = METHODS.get_or_init(|| {
        let document = ApiDoc::openapi();
        document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let names = operations(item)
                    .filter_map(|(method, _)| {
                        ["GET", "POST", "PATCH", "PUT", "DELETE"]
                            .into_iter()
                            .find(|name| *name == method.as_str())
                    })
                    .collect();
                (shape(path), names)
            })
            .collect()
    });
    by_path
        .get(&shape(pattern))
        .or_else(|| by_path.get(&shape(&format!("{pattern}/"))))
        .cloned()
        .unwrap_or_default()
}

/// Every operation of the document (the methods the API serves: GET, POST, PATCH, PUT, DELETE).
/// The operations of one path, with their methods.
pub fn operations(
    item: &utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = (actix_web::http::Method, &utoipa::openapi::path::Operation)> {
    use actix_web::http::Method;
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PATCH, &item.patch),
        (Method::PUT, &item.put),
        (Method::DELETE, &item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
}

fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    operations_mut_with_methods(openapi).map(|(_, op)| op)
}

/// Every operation of the document with its method, to change.
fn operations_mut_with_methods(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (Method, &mut utoipa::openapi::path::Operation)> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PATCH, &mut item.patch),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
        ]
        .into_iter()
        .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
    })
}

/// The document as served: [`ApiDoc`] in the normal form client generators read best (see
/// [`normalize`]).
pub fn document() -> Result<serde_json::Value, serde_json::Error> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    normalize(&mut doc);
    Ok(doc)
}

/// Rewrites the derived document into an equivalent one that mainstream client generators read
/// without losing anything (OpenAPI Generator drops 3.1 nullability through `allOf` and through
/// `oneOf` with `null`):
/// - a component that is a plain integer (the typed ids) is written inline where it is used;
/// - `oneOf: [S, {type: null}]` with a scalar `S` becomes `S` with `type: [t, "null"]`;
/// - a component that is `allOf` of one `$ref` and one object (a `#[serde(flatten)]`) becomes
///   one object with the properties and `required` of both.
///
/// The JSON each schema accepts is unchanged.
pub fn normalize(doc: &mut serde_json::Value) {
    use serde_json::{Map, Value};
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let scalars: Map<String, Value> = schemas
        .iter()
        .filter(|(_, s)| s["type"] == "integer" && s.get("enum").is_none())
        .map(|(name, s)| (format!("#/components/schemas/{name}"), s.clone()))
        .collect();
    schemas.retain(|name, _| !scalars.contains_key(&format!("#/components/schemas/{name}")));
    fn walk(v: &mut Value, scalars: &Map<String, Value>) {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, scalars)),
            Value::Object(obj) => {
                obj.values_mut().for_each(|i| walk(i, scalars));
                if let Some(Value::String(target)) = obj.get("$ref") {
                    if let Some(Value::Object(scalar)) = scalars.get(target) {
                        let own = std::mem::take(obj);
                        *obj = scalar.clone();
                        obj.extend(own.into_iter().filter(|(k, _)| k != "$ref"));
                    }
                }
                let nullable_scalar = match obj.get("oneOf") {
                    Some(Value::Array(alts))
                        if alts.len() == 2 && alts[1] == serde_json::json!({"type": "null"}) =>
                    {
                        alts[0]["type"]
                            .as_str()
                            .map(|t| (t.to_owned(), alts[0].clone()))
                    }
                    _ => None,
                };
                if let Some((ty, Value::Object(scalar))) = nullable_scalar {
                    obj.remove("oneOf");
                    for (k, v) in scalar {
                        obj.entry(k).or_insert(v);
                    }
                    obj.insert("type".into(), serde_json::json!([ty, "null"]));
                }
            }
            _ => {}
        }
    }
    for schema in schemas.values_mut() {
        walk(schema, &scalars);
    }
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let merged = match schemas[&name].get("allOf") {
            Some(Value::Array(parts)) if parts.len() == 2 => {
                let base = parts[0]["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .and_then(|b| schemas.get(b));
                match (base, parts[1].as_object()) {
                    (Some(base), Some(own)) if base.get("allOf").is_none() => {
                        let mut properties =
                            base["properties"].as_object().cloned().unwrap_or_default();
                        properties.extend(
                            own.get("properties")
                                .and_then(Value::as_object)
                                .cloned()
                                .unwrap_or_default(),
                        );
                        let mut required: Vec<Value> =
                            base["required"].as_array().cloned().unwrap_or_default();
                        required.extend(
                            own.get("required")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default(),
                        );
                        Some(
                            serde_json::json!({"type": "object", "required": required, "properties": properties}),
                        )
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let (Some(Value::Object(mut merged)), Some(Value::Object(schema))) =
            (merged, schemas.get_mut(&name))
        {
            schema.remove("allOf");
            for key in ["description", "example"] {
                if let Some(v) = schema.remove(key) {
                    merged.insert(key.to_owned(), v);
                }
            }
            *schema = merged;
        }
    }
}
