//! The OpenAPI 3.1 document, generated from the handlers' annotations. The schema types here
//! describe the JSON shapes of docs/api.md (the domain crate stays free of HTTP concerns).
#![allow(dead_code)]

use crate::routes;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A patient as returned.
#[derive(Serialize, ToSchema)]
#[schema(as = Patient, example = json!({"id": 1, "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10", "gender": "F", "contact_number": "+44 20 1234", "email": "ada@example.org", "address": "London", "medical_history": "", "age": 34, "user": 2, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))]
pub struct PatientOut {
    id: i64,
    first_name: String,
    last_name: String,
    #[schema(format = Date)]
    date_of_birth: String,
    #[schema(pattern = "^(M|F|O)$")]
    gender: String,
    contact_number: String,
    email: String,
    address: String,
    medical_history: String,
    age: i32,
    user: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A new patient.
#[derive(Serialize, ToSchema)]
#[schema(as = PatientCreate, example = json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10", "gender": "F", "contact_number": "+44 20 1234", "email": "ada@example.org", "address": "London"}))]
pub struct PatientIn {
    #[schema(min_length = 1, max_length = 100)]
    first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    last_name: String,
    #[schema(format = Date)]
    date_of_birth: String,
    #[schema(pattern = "^(M|F|O)$")]
    gender: String,
    #[schema(min_length = 1, max_length = 15)]
    contact_number: String,
    /// Optional; may be blank (`""`, also when absent or null); a valid address when given.
    email: Option<String>,
    /// Optional; may be blank.
    address: Option<String>,
    /// Optional; may be blank.
    medical_history: Option<String>,
    /// Owning account (admin and staff only); never required.
    user: Option<i64>,
}

/// Changes to a patient (every field optional).
#[derive(Serialize, ToSchema)]
#[schema(as = PatientUpdate)]
pub struct PatientPatch {
    first_name: Option<String>,
    last_name: Option<String>,
    #[schema(format = Date)]
    date_of_birth: Option<String>,
    gender: Option<String>,
    contact_number: Option<String>,
    email: Option<String>,
    address: Option<String>,
    medical_history: Option<String>,
    user: Option<i64>,
}

/// A doctor as returned.
#[derive(Serialize, ToSchema)]
#[schema(as = Doctor, example = json!({"id": 1, "first_name": "Gregory", "last_name": "House", "specialization": "GP", "contact_number": "555 0100", "email": "house@example.org", "license_number": "LIC-1", "hospital": "PPTH", "address": "", "experience_years": 12, "user": null, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))]
pub struct DoctorOut {
    id: i64,
    first_name: String,
    last_name: String,
    #[schema(pattern = "^(GP|CAR|NEU|PED|ORTH|DERM|PSY|RAD|SUR|OTH)$")]
    specialization: String,
    contact_number: String,
    email: String,
    license_number: String,
    hospital: String,
    address: String,
    experience_years: i32,
    user: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A new doctor.
#[derive(Serialize, ToSchema)]
#[schema(as = DoctorCreate, example = json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP", "contact_number": "555 0100", "email": "house@example.org", "license_number": "LIC-1", "hospital": "PPTH", "experience_years": 12}))]
pub struct DoctorIn {
    first_name: String,
    last_name: String,
    #[schema(pattern = "^(GP|CAR|NEU|PED|ORTH|DERM|PSY|RAD|SUR|OTH)$")]
    specialization: String,
    contact_number: String,
    /// Optional; may be blank (`""`, also when absent or null); a valid address when given.
    email: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    license_number: String,
    #[schema(min_length = 1, max_length = 200)]
    hospital: String,
    /// Optional; may be blank.
    address: Option<String>,
    #[schema(minimum = 0, maximum = 80)]
    experience_years: Option<i32>,
    /// The doctor's own login account (a `doctor` account); never required.
    user: Option<i64>,
}

/// Changes to a doctor (every field optional).
#[derive(Serialize, ToSchema)]
#[schema(as = DoctorUpdate)]
pub struct DoctorPatch {
    first_name: Option<String>,
    last_name: Option<String>,
    specialization: Option<String>,
    contact_number: Option<String>,
    email: Option<String>,
    license_number: Option<String>,
    hospital: Option<String>,
    address: Option<String>,
    experience_years: Option<i32>,
    user: Option<i64>,
}

/// A doctor-patient mapping as returned: the seed's fields, then the reactivation record.
#[derive(Serialize, ToSchema)]
#[schema(as = Mapping, example = json!({"id": 1, "patient": 1, "doctor": 1, "assigned_by": 1, "assigned_by_username": "admin", "assigned_date": "2025-12-01", "reason_for_assignment": "", "is_active": true, "created_at": "2025-12-01T09:00:00Z", "reactivated_by": null, "reactivated_at": null}))]
pub struct MappingOut {
    id: i64,
    patient: i64,
    doctor: i64,
    /// Who first assigned the doctor (kept when the mapping is reactivated); null when unknown.
    #[schema(required = true)]
    assigned_by: Option<i64>,
    /// The username of `assigned_by`; null when unknown.
    #[schema(required = true)]
    assigned_by_username: Option<String>,
    /// The day (UTC) the doctor was first assigned, `YYYY-MM-DD` (kept when the mapping is
    /// reactivated).
    #[schema(format = Date)]
    assigned_date: String,
    reason_for_assignment: String,
    is_active: bool,
    #[schema(format = DateTime)]
    created_at: String,
    /// Who last reactivated the mapping; null when it never was.
    #[schema(required = true)]
    reactivated_by: Option<i64>,
    /// When the mapping was last reactivated; null when it never was.
    #[schema(format = DateTime, required = true)]
    reactivated_at: Option<String>,
}

/// A mapping with its doctor's record (`GET /api/mappings/patient/{patient_id}/`).
#[derive(Serialize, ToSchema)]
#[schema(as = MappingWithDoctor)]
pub struct MappingWithDoctorOut {
    #[serde(flatten)]
    mapping: MappingOut,
    /// The assigned doctor, as `GET /api/doctors/{id}/` shows it.
    doctor_details: DoctorOut,
}

/// A new mapping (the seed's body).
#[derive(Serialize, ToSchema)]
#[schema(as = MappingCreate, example = json!({"doctor": 1, "patient": 1, "reason_for_assignment": "", "is_active": true}))]
pub struct MappingIn {
    doctor: i64,
    patient: i64,
    reason_for_assignment: Option<String>,
    is_active: Option<bool>,
}

/// Changes to a mapping.
#[derive(Serialize, ToSchema)]
#[schema(as = MappingUpdate)]
pub struct MappingPatch {
    reason_for_assignment: Option<String>,
    is_active: Option<bool>,
}

/// An appointment as returned.
#[derive(Serialize, ToSchema)]
#[schema(as = Appointment, example = json!({"id": 1, "doctor": 1, "patient": 1, "appointment_datetime": "2025-12-20T10:30:00Z", "duration_minutes": 30, "end_datetime": "2025-12-20T11:00:00Z", "reason": "Routine follow-up", "status": "SCHEDULED", "cancellation_reason": "", "created_by": 1, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-01T09:00:00Z"}))]
pub struct AppointmentOut {
    id: i64,
    doctor: i64,
    patient: i64,
    #[schema(format = DateTime)]
    appointment_datetime: String,
    duration_minutes: i32,
    #[schema(format = DateTime)]
    end_datetime: String,
    reason: String,
    #[schema(pattern = "^(SCHEDULED|COMPLETED|CANCELLED|NO_SHOW)$")]
    status: String,
    cancellation_reason: String,
    created_by: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A new appointment (the seed's body; `duration_minutes` defaults to 30).
#[derive(Serialize, ToSchema)]
#[schema(as = AppointmentCreate, example = json!({"doctor": 1, "patient": 1, "appointment_datetime": "2025-12-20T10:30:00Z", "reason": "Routine follow-up"}))]
pub struct AppointmentIn {
    doctor: i64,
    patient: i64,
    #[schema(format = DateTime)]
    appointment_datetime: String,
    #[schema(minimum = 5, maximum = 480)]
    duration_minutes: Option<i32>,
    reason: Option<String>,
}

/// Changes to an appointment (the seed cancels with `{"status": "CANCELLED"}`).
#[derive(Serialize, ToSchema)]
#[schema(as = AppointmentUpdate, example = json!({"status": "CANCELLED"}))]
pub struct AppointmentPatch {
    doctor: Option<i64>,
    patient: Option<i64>,
    #[schema(format = DateTime)]
    appointment_datetime: Option<String>,
    duration_minutes: Option<i32>,
    reason: Option<String>,
    status: Option<String>,
    cancellation_reason: Option<String>,
}

/// One weekly working interval in the doctor's local time.
#[derive(Serialize, ToSchema)]
#[schema(as = WeeklyInterval, example = json!({"weekday": "MON", "start": "09:00", "end": "12:30"}))]
pub struct WeeklyIntervalSchema {
    #[schema(pattern = "^(MON|TUE|WED|THU|FRI|SAT|SUN)$")]
    weekday: String,
    /// Local start, `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start: String,
    /// Local end (excluded), `HH:MM`, after `start` on the same day.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: String,
}

/// A doctor's weekly working hours. `timezone` is an IANA name, required when `weekly` is not
/// empty; `{"weekly": []}` clears the schedule, and a doctor without one reads as
/// `{"timezone": null, "weekly": []}`.
#[derive(Serialize, ToSchema)]
#[schema(as = WorkingHours, example = json!({"timezone": "Europe/Berlin", "weekly": [{"weekday": "MON", "start": "09:00", "end": "12:30"}, {"weekday": "MON", "start": "13:30", "end": "17:00"}, {"weekday": "TUE", "start": "09:00", "end": "12:30"}]}))]
pub struct WorkingHoursSchema {
    timezone: Option<String>,
    #[schema(max_items = 200)]
    weekly: Vec<WeeklyIntervalSchema>,
}

/// A period of time off as returned (`reason` is `""` for callers who may not manage the
/// doctor's availability).
#[derive(Serialize, ToSchema)]
#[schema(as = TimeOff, example = json!({"id": 1, "doctor": 1, "start": "2030-04-01T07:00:00Z", "end": "2030-04-01T15:00:00Z", "reason": "Conference", "created_by": 1, "created_at": "2030-03-01T09:00:00Z"}))]
pub struct TimeOffSchema {
    id: i64,
    doctor: i64,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    reason: String,
    created_by: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A new period of time off. `start < end`, both with an offset or `Z`.
#[derive(Serialize, ToSchema)]
#[schema(as = TimeOffCreate, example = json!({"start": "2030-04-01T07:00:00Z", "end": "2030-04-01T15:00:00Z", "reason": "Conference"}))]
pub struct TimeOffIn {
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    reason: Option<String>,
    /// Add the time off even though SCHEDULED appointments fall into it (they stay booked).
    keep_appointments: Option<bool>,
}

/// Time off refused because SCHEDULED appointments fall into it.
#[derive(Serialize, ToSchema)]
#[schema(as = TimeOffConflict, example = json!({"detail": "The doctor has 2 scheduled appointment(s) in this period: cancel or move them first, or send \"keep_appointments\": true.", "affected_appointments": 2}))]
pub struct TimeOffConflictOut {
    detail: String,
    affected_appointments: i64,
}

/// A free slot.
#[derive(Serialize, ToSchema)]
#[schema(as = FreeSlot, example = json!({"start": "2030-04-01T07:00:00Z", "end": "2030-04-01T07:30:00Z"}))]
pub struct SlotSchema {
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
}

/// An account as returned.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserOut {
    id: i64,
    username: String,
    email: String,
    #[schema(pattern = "^(admin|staff|doctor|patient)$")]
    role: String,
    is_active: bool,
    #[schema(format = DateTime)]
    date_joined: String,
}

/// The caller's account plus the linked doctor record, if any.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeOut {
    id: i64,
    username: String,
    email: String,
    role: String,
    is_active: bool,
    #[schema(format = DateTime)]
    date_joined: String,
    doctor: Option<i64>,
}

/// A new account created by an admin.
#[derive(Serialize, ToSchema)]
#[schema(as = UserCreate)]
pub struct UserIn {
    username: String,
    email: Option<String>,
    password: String,
    #[schema(pattern = "^(admin|staff|doctor|patient)$")]
    role: Option<String>,
}

/// Changes an admin makes to an account.
#[derive(Serialize, ToSchema)]
#[schema(as = UserUpdate)]
pub struct UserPatch {
    email: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
    password: Option<String>,
}

/// The answer of a registration: the seed's message, then the new account.
#[derive(Serialize, ToSchema)]
#[schema(as = Registered, example = json!({"message": "User registered successfully", "id": 2, "username": "alice", "email": "alice@example.org", "role": "patient", "is_active": true, "date_joined": "2025-12-01T09:00:00Z"}))]
pub struct RegisteredOut {
    /// Always `User registered successfully`.
    #[schema(pattern = "^User registered successfully$")]
    message: String,
    #[serde(flatten)]
    user: UserOut,
}

/// Self-registration.
#[derive(Serialize, ToSchema)]
#[schema(as = Register, example = json!({"username": "alice", "email": "alice@example.org", "password": "correct horse battery"}))]
pub struct RegisterIn {
    username: String,
    email: Option<String>,
    password: String,
}

/// Login.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenObtain, example = json!({"username": "your_username", "password": "your_password"}))]
pub struct CredentialsIn {
    username: String,
    password: String,
}

/// A refresh token.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenRefresh)]
pub struct RefreshIn {
    refresh: String,
}

/// A password change.
#[derive(Serialize, ToSchema)]
#[schema(as = PasswordChange)]
pub struct PasswordChangeIn {
    #[schema(max_length = 128)]
    old_password: String,
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// A token pair.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenPair)]
pub struct TokenPairOut {
    access: String,
    refresh: String,
}

/// Field-keyed errors (`{"field": ["message"]}`, `non_field_errors` for rules across fields).
#[derive(Serialize, ToSchema)]
#[schema(as = FieldErrors, example = json!({"non_field_errors": ["Doctor already has an appointment at this time."]}))]
pub struct FieldErrorsOut {
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, Vec<String>>,
}

/// `{"detail": "..."}` errors.
#[derive(Serialize, ToSchema)]
#[schema(as = Detail, example = json!({"detail": "Not found."}))]
pub struct DetailOut {
    detail: String,
}

/// The body of `/api/health/` and `/api/ready/`.
#[derive(Serialize, ToSchema)]
#[schema(as = Status, example = json!({"status": "ready"}))]
pub struct StatusOut {
    /// `ok` (alive), `ready`, `migrations pending` or `database unreachable`.
    status: String,
}

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
    }
}

/// The body of a 500: nothing internal, and the request's id (the `X-Request-Id` response
/// header's) under which the server logged the cause.
#[derive(Serialize, ToSchema)]
#[schema(as = InternalError, example = json!({"detail": "Internal server error.", "request_id": "5f0c2a6e4b1d4c8f8e2f3a5b6c7d8e9f"}))]
pub struct InternalErrorOut {
    /// Always `Internal server error.`
    detail: String,
    /// The request's id, as in the `X-Request-Id` response header.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    request_id: String,
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
        components
            .schemas
            .insert("InternalError".to_owned(), InternalErrorOut::schema());
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

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Healthcare scheduling API", description = "Patients, doctors, doctor-patient assignments and appointments behind JWT auth with role-based access. Compatible with the seed Django REST Framework service."),
    paths(
        routes::auth::register, routes::auth::obtain, routes::auth::refresh, routes::auth::revoke, routes::auth::change_password, routes::auth::me,
        routes::patients::list, routes::patients::create, routes::patients::get, routes::patients::update, routes::patients::archive,
        routes::doctors::list, routes::doctors::create, routes::doctors::get, routes::doctors::update, routes::doctors::archive,
        routes::availability::get_working_hours, routes::availability::put_working_hours,
        routes::availability::list_time_off, routes::availability::add_time_off, routes::availability::delete_time_off,
        routes::availability::free_slots,
        routes::mappings::list, routes::mappings::create, routes::mappings::get, routes::mappings::update, routes::mappings::deactivate,
        routes::mappings::doctors_of_patient,
        routes::appointments::list, routes::appointments::create, routes::appointments::get, routes::appointments::update, routes::appointments::archive,
        routes::users::list, routes::users::create, routes::users::get, routes::users::update,
        routes::health::health, routes::health::ready,
    ),
    components(schemas(FieldErrorsOut, DetailOut)),
    modifiers(&Security, &StandardErrors, &SeedPaths, &RequestIds),
    tags(
        (name = "auth", description = "Registration and JWT tokens"),
        (name = "patients"), (name = "doctors"),
        (name = "availability", description = "Doctors' working hours, time off and free slots"), (name = "mappings", description = "Doctor-patient assignments"),
        (name = "appointments"), (name = "users", description = "Accounts (admin only)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// Every operation of the document (the methods the API serves: GET, POST, PATCH, PUT, DELETE).
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}
