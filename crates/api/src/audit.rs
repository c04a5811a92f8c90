//! The audit trail on the request path (docs/audit.md): which requests record which event, and
//! the one place that records it.
//!
//! * [`middleware`] wraps every resource (`app::routes`) with the rules [`Audited::of`] found for
//!   it in [`RULES`] when the routes were built (by the operations the OpenAPI document names at
//!   its path). An audited request runs with a [`Trace`] readable through a task
//!   local: the caller ([`caller`]), the records it read or wrote ([`Traced`], reported by
//!   `AppState::read` and `AppState::write` themselves), the client, the request id and the
//!   query string.
//! * A change records its event **in its own transaction**: `AppState::write` takes
//!   [`change_event`] into the write and [`audit::record`]s it after the change, with the
//!   route's success status; if that insert fails, the change rolls back and the request fails
//!   (503).
//! * A single-record read records its event **in the visit that reads the record**:
//!   `coalesce::find` takes [`read_event`] with the read and completes it with what the read
//!   found ([`finish_read`]); if the insert fails, the read fails (503).
//! * Any other audited request (a list, a refused change, a failed login) records its event
//!   after the handler answered and **before the answer is sent**, group-committed with the
//!   events of concurrent requests ([`GroupCommit`]); if it cannot be written the answer is
//!   replaced by a 503.
//!
//! Handlers do not record anything themselves; the only notes they add are the ones only they
//! know: who is logging in ([`actor`]) and which username a login tried ([`attempted_username`]).

use crate::error::{ApiError, ApiResult};
use crate::openapi::shape;
use crate::state::{AppState, State};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::ResponseError;
use healthcare_auth::Actor;
use healthcare_persistence::audit::{self, Action, NewAuditEvent, Resource};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use tokio::sync::oneshot;

/// How a route's requests are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The action of an answered request.
    pub action: Action,
    /// The action of a refused one (a failed login), else the same as `action`.
    pub refused: Action,
    /// The kind of record.
    pub resource: Resource,
    /// Where the event's `resource_id` comes from.
    pub id: IdFrom,
}

/// Where an event's `resource_id` (and, for a patient's own sub-resources, its patient) comes
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFrom {
    /// No record id (lists, searches).
    Nothing,
    /// The path parameter of that name.
    Path(&'static str),
    /// The path parameter of that name, which names a patient record: it is the event's
    /// patient.
    PatientPath(&'static str),
    /// The record the change created ([`Traced::record_id`]).
    Created,
    /// The authenticated caller's own account.
    Caller,
    /// The account a token or a login names ([`actor`]).
    Actor,
}

const fn rule(action: Action, resource: Resource, id: IdFrom) -> Rule {
    Rule {
        action,
        refused: action,
        resource,
        id,
    }
}

use Action::{Archive, Create, List, Read, Update};
use IdFrom::{Created, Nothing, Path};

/// Every operation of the OpenAPI document and how its requests are recorded: `Some(rule)`, or
/// `None` for the ones that touch no patient data, no account and no setting (the health
/// checks, the doctors' directory and free slots, the caller's own account). A test walks the
/// document and fails on an operation missing here, so a new endpoint cannot be left out.
pub const RULES: &[(&str, Option<Rule>)] = &[
    (
        "patients_list",
        Some(rule(List, Resource::Patient, Nothing)),
    ),
    (
        "patients_create",
        Some(rule(Create, Resource::Patient, Created)),
    ),
    (
        "patients_get",
        Some(rule(Read, Resource::Patient, Path("id"))),
    ),
    (
        "patients_update",
        Some(rule(Update, Resource::Patient, Path("id"))),
    ),
    (
        "patients_archive",
        Some(rule(Archive, Resource::Patient, Path("id"))),
    ),
    (
        "patients_access_log",
        Some(rule(List, Resource::Audit, IdFrom::PatientPath("id"))),
    ),
    (
        "series_create",
        Some(rule(Create, Resource::Appointment, Nothing)),
    ),
    (
        "series_get",
        Some(rule(Read, Resource::Appointment, Nothing)),
    ),
    (
        "series_update",
        Some(rule(Update, Resource::Appointment, Nothing)),
    ),
    (
        "appointments_list",
        Some(rule(List, Resource::Appointment, Nothing)),
    ),
    (
        "appointments_create",
        Some(rule(Create, Resource::Appointment, Created)),
    ),
    (
        "appointments_get",
        Some(rule(Read, Resource::Appointment, Path("id"))),
    ),
    (
        "appointments_update",
        Some(rule(Update, Resource::Appointment, Path("id"))),
    ),
    (
        "appointments_archive",
        Some(rule(Archive, Resource::Appointment, Path("id"))),
    ),
    (
        "mappings_list",
        Some(rule(List, Resource::Mapping, Nothing)),
    ),
    (
        "mappings_create",
        Some(rule(Create, Resource::Mapping, Created)),
    ),
    (
        "mappings_get",
        Some(rule(Read, Resource::Mapping, Path("id"))),
    ),
    (
        "mappings_update",
        Some(rule(Update, Resource::Mapping, Path("id"))),
    ),
    (
        "mappings_deactivate",
        Some(rule(Archive, Resource::Mapping, Path("id"))),
    ),
    (
        "mappings_of_patient",
        Some(rule(
            List,
            Resource::Mapping,
            IdFrom::PatientPath("patient_id"),
        )),
    ),
    ("doctors_list", None),
    ("doctors_get", None),
    ("doctors_slots", None),
    (
        "doctors_create",
        Some(rule(Create, Resource::Doctor, Created)),
    ),
    (
        "doctors_update",
        Some(rule(Update, Resource::Doctor, Path("id"))),
    ),
    (
        "doctors_archive",
        Some(rule(Archive, Resource::Doctor, Path("id"))),
    ),
    ("doctors_working_hours_get", None),
    (
        "doctors_working_hours_put",
        Some(rule(Update, Resource::WorkingHours, Path("id"))),
    ),
    ("doctors_time_off_list", None),
    (
        "doctors_time_off_create",
        Some(rule(Create, Resource::TimeOff, Created)),
    ),
    (
        "doctors_time_off_delete",
        Some(rule(Archive, Resource::TimeOff, Path("time_off_id"))),
    ),
    ("users_list", Some(rule(List, Resource::User, Nothing))),
    ("users_get", Some(rule(Read, Resource::User, Path("id")))),
    ("users_create", Some(rule(Create, Resource::User, Created))),
    (
        "users_update",
        Some(rule(Update, Resource::User, Path("id"))),
    ),
    ("auth_register", Some(rule(Create, Resource::User, Created))),
    // `POST /api/auth/`: the seed's path of the same handler, its own operation in the document.
    (
        "auth_register_seed",
        Some(rule(Create, Resource::User, Created)),
    ),
    (
        "auth_token_obtain",
        Some(Rule {
            action: Action::Login,
            refused: Action::LoginFailed,
            resource: Resource::User,
            id: IdFrom::Actor,
        }),
    ),
    (
        "auth_token_refresh",
        Some(rule(Action::TokenRefresh, Resource::User, IdFrom::Actor)),
    ),
    (
        "auth_token_revoke",
        Some(rule(Action::Logout, Resource::User, IdFrom::Actor)),
    ),
    (
        "auth_password_change",
        Some(rule(Update, Resource::User, IdFrom::Caller)),
    ),
    ("auth_me", None),
    (
        "calendar_token_create",
        Some(rule(Update, Resource::User, IdFrom::Caller)),
    ),
    (
        "calendar_token_revoke",
        Some(rule(Update, Resource::User, IdFrom::Caller)),
    ),
    (
        "doctors_calendar",
        Some(rule(List, Resource::Appointment, Nothing)),
    ),
    // A read of a patient's feed names the patient even when it is refused or shows nothing.
    (
        "patients_calendar",
        Some(rule(List, Resource::Appointment, IdFrom::PatientPath("id"))),
    ),
    ("audit_list", Some(rule(List, Resource::Audit, Nothing))),
    (
        "webhooks_list",
        Some(rule(List, Resource::Webhook, Nothing)),
    ),
    (
        "webhooks_create",
        Some(rule(Create, Resource::Webhook, Created)),
    ),
    (
        "webhooks_get",
        Some(rule(Read, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_update",
        Some(rule(Update, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_deactivate",
        Some(rule(Archive, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_ping",
        Some(rule(Update, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_rotate_secret",
        Some(rule(Update, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_deliveries",
        Some(rule(List, Resource::Webhook, Path("id"))),
    ),
    (
        "webhooks_retry",
        Some(rule(Update, Resource::Webhook, Path("id"))),
    ),
    ("health", None),
    ("ready", None),
];

/// The FHIR facade's audited operations, `(method, path, rule, success status)`: they are not
/// in the OpenAPI document (the facade's `CapabilityStatement` describes them), and are
/// recorded as the REST operations that read or write the same records (Practitioner,
/// Schedule, Slot and `metadata` touch no patient data, as the doctors' directory and free
/// slots).
pub const FHIR_RULES: &[(&str, &str, Rule, u16)] = &[
    (
        "GET",
        "/fhir/R4/Patient",
        rule(List, Resource::Patient, Nothing),
        200,
    ),
    (
        "GET",
        "/fhir/R4/Patient/{id}",
        rule(Read, Resource::Patient, Path("id")),
        200,
    ),
    (
        "GET",
        "/fhir/R4/Appointment",
        rule(List, Resource::Appointment, Nothing),
        200,
    ),
    (
        "POST",
        "/fhir/R4/Appointment",
        rule(Create, Resource::Appointment, Created),
        201,
    ),
    (
        "GET",
        "/fhir/R4/Appointment/{id}",
        rule(Read, Resource::Appointment, Path("id")),
        200,
    ),
];

/// An audited route as the middleware finds it: its rule, the status of its success and its
/// path as the document writes it (whose parameter names the rule's [`IdFrom`] uses).
#[derive(Debug, Clone)]
struct Route {
    rule: Rule,
    success: u16,
    pattern: String,
}

/// The audited operations of each path [`shape`] (with its trailing slash), by method, built
/// once from the OpenAPI document and [`RULES`].
fn routes() -> &'static HashMap<String, Vec<(Method, Route)>> {
    static ROUTES: OnceLock<HashMap<String, Vec<(Method, Route)>>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut map: HashMap<String, Vec<(Method, Route)>> = HashMap::new();
        let document = <crate::openapi::ApiDoc as utoipa::OpenApi>::openapi();
        for (path, item) in &document.paths.paths {
            for (method, operation) in crate::openapi::operations(item) {
                let Some(id) = operation.operation_id.as_deref() else {
                    continue;
                };
                let Some((_, Some(rule))) = RULES.iter().find(|(name, _)| *name == id) else {
                    continue;
                };
                let success = operation
                    .responses
                    .responses
                    .keys()
                    .filter_map(|code| code.parse::<u16>().ok())
                    .find(|code| (200..300).contains(code))
                    .unwrap_or(200);
                map.entry(shape(path)).or_default().push((
                    method,
                    Route {
                        rule: *rule,
                        success,
                        pattern: path.clone(),
                    },
                ));
            }
        }
        for (method, path, rule, success) in FHIR_RULES {
            let Ok(method) = Method::from_bytes(method.as_bytes()) else {
                continue;
            };
            map.entry(shape(path)).or_default().push((
                method,
                Route {
                    rule: *rule,
                    success: *success,
                    pattern: (*path).to_owned(),
                },
            ));
        }
        map
    })
}

/// The audited operations of one registered resource, found once when the routes are built,
/// so that no request needs the router's pattern matching to find its rule.
#[derive(Debug, Clone, Copy)]
pub struct Audited(&'static [(Method, Route)]);

impl Audited {
    /// The audited operations of the resource registered at `pattern` (with or without its
    /// trailing slash; its parameters may be named otherwise than in the document).
    pub fn of(pattern: &str) -> Self {
        // A path served without its trailing slash is found with it; one that has none in the
        // document (`.../calendar.ics`) as it is.
        let found = routes()
            .get(&shape(pattern))
            .or_else(|| routes().get(&shape(&format!("{pattern}/"))));
        Self(found.map_or(&[], Vec::as_slice))
    }

    fn route(self, method: &Method) -> Option<&'static Route> {
        self.0.iter().find(|(m, _)| m == method).map(|(_, r)| r)
    }

    /// The rule of this resource's operation with `method`, if it is audited.
    pub fn rule(self, method: &Method) -> Option<Rule> {
        self.route(method).map(|r| r.rule)
    }
}

/// What an audited request has done so far: the event it will record.
#[derive(Debug)]
struct Trace {
    rule: Rule,
    success: u16,
    event: NewAuditEvent,
    /// Its event committed with its change or its read.
    recorded: bool,
}

tokio::task_local! {
    /// The trace of the audited request whose future is being polled.
    static TRACE: Rc<RefCell<Trace>>;
}

/// Runs `f` on the current request's trace; nothing outside an audited request.
fn with_trace(f: impl FnOnce(&mut Trace)) {
    let _ = TRACE.try_with(|trace| f(&mut trace.borrow_mut()));
}

/// A value read or written by a request, as the audit trail sees it: which patient records it
/// holds, and the id of the record a create made. `AppState::read` and `AppState::write`
/// report every result through it, so what a request returned is what its event names.
pub trait Traced {
    /// Adds the ids of the patient records this value holds or names.
    fn patients(&self, _out: &mut Vec<i64>) {}
    /// The id of the record this value is (the `resource_id` of a create's event).
    fn record_id(&self) -> Option<i64> {
        None
    }
    /// The status the API answers for this outcome of a change when it is not the route's
    /// success (a refresh token presented twice: 401), so the change's event records it.
    fn status(&self) -> Option<u16> {
        None
    }
}

/// Reports `value` to the current request's trace: its patients join the event's. (A create's
/// `resource_id` is the id of what its change returned, set by [`finish_change`]: a record a
/// create only read, such as the doctor of `POST /api/doctors/{id}/time-off/`, is not it.)
pub fn touched<T: Traced>(value: &T) {
    with_trace(|trace| value.patients(&mut trace.event.patients));
}

/// The caller of an authenticated request (from the `Caller` extractor).
pub fn caller(actor: &Actor) {
    with_trace(|trace| {
        trace.event.actor = Some(actor.user.0);
        trace.event.actor_role = Some(actor.role.to_string());
        if trace.rule.id == IdFrom::Caller {
            trace.event.resource_id = Some(actor.user.0);
        }
    });
}

/// The account a login, a token refresh or a logout acts for (the handler knows it from the
/// credentials or the token, not from an `Authorization` header).
pub fn actor(user: i64, role: Option<&str>) {
    with_trace(|trace| {
        trace.event.actor = Some(user);
        trace.event.actor_role = role.map(str::to_owned);
        trace.event.attempted_username = None;
        if trace.rule.id == IdFrom::Actor {
            trace.event.resource_id = Some(user);
        }
    });
}

/// The username a login tried (kept for `login_failed`).
pub fn attempted_username(username: &str) {
    with_trace(|trace| trace.event.attempted_username = Some(username.to_owned()));
}

/// The event the current request's change records in its transaction, if the request is
/// audited and has not recorded it yet (one event per request). The write adds what it returns
/// ([`finish_change`]).
pub fn change_event() -> Option<(NewAuditEvent, bool)> {
    unrecorded_event().map(|(event, id)| (event, id == IdFrom::Created))
}

/// The current request's event as its route's success would record it, with where its record
/// id comes from, if the request is audited and has not recorded its event yet.
fn unrecorded_event() -> Option<(NewAuditEvent, IdFrom)> {
    TRACE
        .try_with(|trace| {
            let trace = trace.borrow();
            (!trace.recorded).then(|| {
                let mut event = trace.event.clone();
                event.status = trace.success;
                event.action = trace.rule.action;
                (event, trace.rule.id)
            })
        })
        .ok()
        .flatten()
}

/// Completes a change's event with the change's result, inside the write.
pub fn finish_change<T: Traced>(event: &mut NewAuditEvent, created: bool, value: &T) {
    value.patients(&mut event.patients);
    if created && event.resource_id.is_none() {
        event.resource_id = value.record_id();
    }
    if let Some(status) = value.status() {
        event.status = status;
    }
    event.at = healthcare_persistence::time::now();
}

/// The event of the current request's single-record read (`coalesce::find`), if the request is
/// audited and has not recorded it yet: it is written in the same visit to the database as the
/// read ([`finish_read`]), so the request waits for one trip, not two. The handler must have
/// made every check that could refuse the request before the read: what the read found is then
/// what the request answers.
pub fn read_event() -> Option<NewAuditEvent> {
    unrecorded_event().map(|(event, _)| event)
}

/// Completes a read's event with what the read found, inside the visit that writes it: the
/// record's patients and the route's success, or the status of not found (a read's refused
/// action is the read itself: [`RULES`] gives every `read` rule the same `refused`).
pub fn finish_read<T: Traced>(event: &mut NewAuditEvent, found: Option<&T>) {
    match found {
        Some(record) => record.patients(&mut event.patients),
        None => event.status = ApiError::NotFound.status_code().as_u16(),
    }
    event.at = healthcare_persistence::time::now();
}

/// The current request is answered with the stored answer of an earlier one with its
/// idempotency key: nothing is changed, so it records a `read`.
pub fn replayed() {
    with_trace(|trace| {
        trace.rule.action = Action::Read;
        trace.rule.refused = Action::Read;
    });
}

/// Marks the current request's event as recorded: committed with its change, or with its read.
pub fn recorded() {
    with_trace(|trace| trace.recorded = true);
}

/// The events of answered reads and refused requests waiting to be written, and whether a batch
/// of them is being written now.
#[derive(Default)]
struct Pending {
    busy: bool,
    events: Vec<NewAuditEvent>,
    waiters: Vec<Waiter>,
}

/// Where a request waits for its event's batch to be written.
type Waiter = oneshot::Sender<Result<(), ApiError>>;

/// Group commit of the events that are not part of a change: every request adds its event and
/// waits; one batch at a time is written (one INSERT, one transaction: on SQLite one job of the
/// writer thread), and the events that arrive meanwhile form the next batch. A request's answer
/// is sent only once its batch committed.
#[derive(Default)]
pub struct GroupCommit {
    pending: Mutex<Pending>,
}

impl GroupCommit {
    /// Writes `event` with the others waiting; returns once it is durable.
    pub async fn record(&self, state: &State, event: NewAuditEvent) -> ApiResult<()> {
        let (done, answer) = oneshot::channel();
        let leads = {
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| ApiError::Internal("audit queue poisoned".into()))?;
            pending.events.push(event);
            pending.waiters.push(done);
            !std::mem::replace(&mut pending.busy, true)
        };
        if leads {
            actix_web::rt::spawn(flush(state.clone()));
        }
        answer.await.unwrap_or(Err(ApiError::Unavailable))
    }

    /// The next batch (at most [`audit::MAX_EVENTS_PER_RECORD`] events), or `None` (and not busy
    /// any more) when none wait.
    fn next_batch(&self) -> Option<(Vec<NewAuditEvent>, Vec<Waiter>)> {
        let mut pending = self.pending.lock().ok()?;
        if pending.events.is_empty() {
            pending.busy = false;
            return None;
        }
        let n = pending.events.len().min(audit::MAX_EVENTS_PER_RECORD);
        let events: Vec<_> = pending.events.drain(..n).collect();
        let waiters: Vec<_> = pending.waiters.drain(..n).collect();
        Some((events, waiters))
    }
}

/// Writes the waiting events, batch after batch, until none wait.
async fn flush(state: State) {
    while let Some((events, waiters)) = state.audit.next_batch() {
        // One statement on PostgreSQL (`audit::record`), so no transaction around it.
        let written = state
            .write_in(
                move |c| {
                    audit::record(c, &events).map(|_| ()).map_err(|e| {
                        healthcare_persistence::StoreError::AuditUnavailable(e.to_string())
                    })
                },
                true,
            )
            .await;
        for waiter in waiters {
            let _ = waiter.send(written.clone());
        }
    }
}

/// The audit layer of one resource (`web::resource(..).wrap(..)` in `app::routes`, inside the
/// request id and the security headers, around the caller and the handler): gives an audited
/// request its [`Trace`], and after the handler answered records its event unless its change
/// already did. A request whose event cannot be written is answered 503.
pub async fn middleware(
    audited: Audited,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let route = audited.route(req.method());
    let (Some(route), Some(state)) = (route, req.app_data::<State>().cloned()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let trace = Rc::new(RefCell::new(start(&req, &state, route)));
    let res = TRACE.scope(trace.clone(), next.call(req)).await?;
    let status = res.status().as_u16();
    let event = {
        let mut trace = trace.borrow_mut();
        if trace.recorded {
            None
        } else {
            let answered = (200..400).contains(&status);
            let rule = trace.rule;
            let mut event = std::mem::replace(
                &mut trace.event,
                NewAuditEvent::new(rule.action, rule.resource, status),
            );
            event.action = if answered { rule.action } else { rule.refused };
            event.status = status;
            event.at = healthcare_persistence::time::now();
            Some(event)
        }
    };
    let Some(event) = event else {
        return Ok(res.map_into_boxed_body());
    };
    match state.audit.record(&state, event).await {
        Ok(()) => Ok(res.map_into_boxed_body()),
        Err(e) => {
            // The cause was logged where the write failed (`crate::error`).
            let (req, _) = res.into_parts();
            let _ = e;
            Ok(ServiceResponse::new(
                req,
                ApiError::Unavailable.error_response(),
            ))
        }
    }
}

/// The event an audited request starts with: its client, request id, query string and the id
/// its path names (found by the parameter names of the document's path).
fn start(req: &ServiceRequest, state: &AppState, route: &Route) -> Trace {
    let mut event = NewAuditEvent::new(route.rule.action, route.rule.resource, route.success);
    event.client = crate::forwarded::client_address(req.request(), &state.settings.trusted_proxies);
    event.request_id = crate::request_id::current()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    event.query = req.query_string().to_owned();
    let path_id = |name: &str| {
        path_parameter(&route.pattern, req.path(), name)
            .and_then(healthcare_domain::ids::parse_record_id)
    };
    match route.rule.id {
        IdFrom::Path(name) => event.resource_id = path_id(name),
        IdFrom::PatientPath(name) => event.patients.extend(path_id(name)),
        _ => {}
    }
    Trace {
        rule: route.rule,
        success: route.success,
        event,
        recorded: false,
    }
}

/// The segment of `path` where `pattern` (the document's path of the route) has `{name}`
/// (the router fills the request's match information only after this layer ran).
fn path_parameter<'a>(pattern: &str, path: &'a str, name: &str) -> Option<&'a str> {
    let wanted = format!("{{{name}}}");
    pattern
        .split('/')
        .zip(path.split('/'))
        .find(|(segment, _)| *segment == wanted)
        .map(|(_, value)| value)
}

mod traced {
    //! What each value that reads and writes return holds of patient data.
    use super::Traced;
    use healthcare_domain::{Appointment, Doctor, Mapping, MappingWithDoctor, Patient, User};
    use healthcare_persistence::availability::{AddTimeOff, TimeOffEntry};
    use healthcare_persistence::mappings::Assigned;
    use healthcare_persistence::tokens::RefreshOutcome;
    use healthcare_persistence::users::{CallerFacts, UserRow};
    use healthcare_persistence::Listed;
    use healthcare_scheduling::{Slot, WeeklySchedule};

    impl Traced for Patient {
        fn patients(&self, out: &mut Vec<i64>) {
            out.push(self.id.0);
        }
        fn record_id(&self) -> Option<i64> {
            Some(self.id.0)
        }
    }
    impl Traced for Appointment {
        fn patients(&self, out: &mut Vec<i64>) {
            out.push(self.patient.0);
        }
        fn record_id(&self) -> Option<i64> {
            Some(self.id.0)
        }
    }
    impl Traced for Mapping {
        fn patients(&self, out: &mut Vec<i64>) {
            out.push(self.patient.0);
        }
        fn record_id(&self) -> Option<i64> {
            Some(self.id.0)
        }
    }
    impl Traced for MappingWithDoctor {
        fn patients(&self, out: &mut Vec<i64>) {
            self.mapping.patients(out);
        }
        fn record_id(&self) -> Option<i64> {
            self.mapping.record_id()
        }
    }
    impl Traced for Doctor {
        fn record_id(&self) -> Option<i64> {
            Some(self.id.0)
        }
    }
    impl Traced for User {
        fn record_id(&self) -> Option<i64> {
            Some(self.id.0)
        }
    }
    impl<T: Traced> Traced for Listed<T> {
        fn patients(&self, out: &mut Vec<i64>) {
            self.items.iter().for_each(|item| item.patients(out));
        }
    }
    impl<T: Traced> Traced for Vec<T> {
        fn patients(&self, out: &mut Vec<i64>) {
            self.iter().for_each(|item| item.patients(out));
        }
    }
    impl<T: Traced> Traced for Option<T> {
        fn patients(&self, out: &mut Vec<i64>) {
            if let Some(value) = self {
                value.patients(out);
            }
        }
        fn record_id(&self) -> Option<i64> {
            self.as_ref().and_then(Traced::record_id)
        }
    }
    /// A record and something read with it (its version): the record's patients and id.
    impl<T: Traced, U: Traced> Traced for (T, U) {
        fn patients(&self, out: &mut Vec<i64>) {
            self.0.patients(out);
            self.1.patients(out);
        }
        fn record_id(&self) -> Option<i64> {
            self.0.record_id()
        }
    }
    impl<T: Traced, E> Traced for Result<T, E> {
        fn patients(&self, out: &mut Vec<i64>) {
            if let Ok(value) = self {
                value.patients(out);
            }
        }
    }
    impl Traced for healthcare_domain::series::Series {
        fn patients(&self, out: &mut Vec<i64>) {
            out.push(self.patient.0);
        }
        fn record_id(&self) -> Option<i64> {
            Some(self.id)
        }
    }
    impl Traced for Assigned {
        fn patients(&self, out: &mut Vec<i64>) {
            self.mapping().patients(out);
        }
        fn record_id(&self) -> Option<i64> {
            self.mapping().record_id()
        }
        /// `POST /api/mappings/` has two successes: 201 (created) and 200 (an inactive mapping
        /// reactivated); the route's success is the lower one.
        fn status(&self) -> Option<u16> {
            match self {
                Assigned::Created(_) => Some(201),
                Assigned::Reactivated(_) => Some(200),
            }
        }
    }
    impl Traced for RefreshOutcome {
        fn status(&self) -> Option<u16> {
            match self {
                RefreshOutcome::Rotated { .. } => None,
                _ => Some(401),
            }
        }
    }
    impl Traced for TimeOffEntry {
        fn record_id(&self) -> Option<i64> {
            Some(self.id)
        }
    }
    impl Traced for AddTimeOff {
        fn record_id(&self) -> Option<i64> {
            match self {
                AddTimeOff::Added(entry) => entry.record_id(),
                AddTimeOff::Blocked { .. } => None,
            }
        }
        fn status(&self) -> Option<u16> {
            match self {
                AddTimeOff::Added(_) => None,
                AddTimeOff::Blocked { .. } => Some(409),
            }
        }
    }
    impl Traced for UserRow {}
    impl Traced for CallerFacts {}
    impl Traced for WeeklySchedule {}
    impl Traced for Slot {}
    impl Traced for healthcare_persistence::audit::AuditEvent {}
    impl Traced for healthcare_persistence::audit_log::AccessEntry {}
    impl Traced for healthcare_domain::Webhook {
        fn record_id(&self) -> Option<i64> {
            Some(self.id)
        }
    }
    impl Traced for healthcare_domain::Delivery {}
    impl Traced for () {}
    impl Traced for bool {}
    impl Traced for usize {}
    impl Traced for i64 {}
    impl Traced for healthcare_domain::UserId {}
    impl Traced for crate::bodies::CalendarToken {}
    impl Traced for healthcare_persistence::calendar::FeedEvent {
        fn patients(&self, out: &mut Vec<i64>) {
            out.push(self.appointment.patient.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the document has exactly one entry in [`RULES`], and every entry is
    /// an operation of the document: a new endpoint cannot be left out of the audit trail.
    #[test]
    fn every_operation_has_a_rule() {
        let document = <crate::openapi::ApiDoc as utoipa::OpenApi>::openapi();
        let mut ids: Vec<String> = document
            .paths
            .paths
            .values()
            .flat_map(|item| {
                crate::openapi::operations(item)
                    .filter_map(|(_, op)| op.operation_id.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort();
        let mut ruled: Vec<String> = RULES.iter().map(|(id, _)| (*id).to_owned()).collect();
        ruled.sort();
        assert_eq!(ids, ruled);
    }

    /// [`finish_read`] records a read that found nothing with the read's own action: that is
    /// its refused action only while every `read` rule says so.
    #[test]
    fn reads_are_refused_as_reads() {
        for (id, rule) in RULES {
            if let Some(rule) = rule.filter(|r| r.action == Action::Read) {
                assert_eq!(rule.refused, Action::Read, "{id}");
            }
        }
    }

    #[test]
    fn route_shapes_ignore_parameter_names() {
        assert_eq!(
            shape("/api/mappings/patient/{id}/"),
            "/api/mappings/patient/{}/"
        );
        assert_eq!(
            path_parameter(
                "/api/doctors/{id}/time-off/{time_off_id}/",
                "/api/doctors/3/time-off/9/",
                "time_off_id"
            ),
            Some("9")
        );
    }
}
