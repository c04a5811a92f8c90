//! The FHIR R4 facade under `/fhir/R4` (docs/fhir.md): reads and searches of Patient,
//! Practitioner, Appointment, Schedule and Slot, and booking through `POST Appointment`, with
//! the REST API's tokens, policy, scope, audit trail and persistence. The mapping lives in the
//! `healthcare-fhir` crate; errors become `OperationOutcome`s in [`crate::fhir_answers`].

use super::{allow, check, id};
use crate::booking;
use crate::coalesce;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::state::State;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use healthcare_auth::{create_appointment, scope, Action, Denied, ResourceKind, Target};
use healthcare_domain::availability::MAX_RANGE_DAYS;
use healthcare_domain::{
    Appointment, AppointmentId, AppointmentStatus, Doctor, DoctorId, FieldErrors, Patient,
    PatientId, UserId,
};
use healthcare_fhir::resources::{Bundle, BundleEntry, BundleLink, EntrySearch, Resource};
use healthcare_fhir::search::{self as fhir_search, Range};
use healthcare_fhir::{booking as fhir_booking, capability, map};
use healthcare_persistence::appointments::{self, AppointmentFilter, AppointmentOrder};
use healthcare_persistence::doctors::{self, DoctorFilter};
use healthcare_persistence::patients::{self, PatientFilter};
use healthcare_persistence::{availability, Listed, Page};
use std::sync::OnceLock;

/// The search parameters of one request, as FHIR reads them: known parameters by name (a
/// repeated one keeps every value), paging from `_count` / `_offset`, and unknown parameters
/// ignored, or refused under `Prefer: handling=strict`. A modifier (`name:exact`) is refused.
struct Search {
    params: Params,
    /// The parameters this search used, for its `self` link.
    used: Vec<(String, String)>,
    page: Page,
    errors: FieldErrors,
}

/// Parameters every search reads (paging and format).
const RESULT_PARAMS: &[&str] = &["_count", "_offset", "_format"];

impl Search {
    fn new(req: &HttpRequest, params: Params, known: &[&str]) -> Self {
        let strict = req
            .headers()
            .get_all("prefer")
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("handling=strict"));
        let mut errors = FieldErrors::new();
        let mut used = Vec::new();
        for (key, value) in &params.0 {
            let base = key.split(':').next().unwrap_or_default();
            if key.contains(':') && (known.contains(&base) || base.starts_with('_')) {
                errors.add(key, "Search modifiers are not supported.");
            } else if known.contains(&key.as_str()) {
                if !value.trim().is_empty() {
                    used.push((key.clone(), value.clone()));
                }
            } else if !RESULT_PARAMS.contains(&key.as_str()) && strict {
                errors.add(key, "Unknown search parameter.");
            }
        }
        let count = fhir_search::count(params.get("_count"))
            .map_err(|e| errors.add("_count", e))
            .unwrap_or_default();
        let offset = fhir_search::offset(params.get("_offset"))
            .map_err(|e| errors.add("_offset", e))
            .unwrap_or_default();
        Self {
            params,
            used,
            page: Page {
                limit: count,
                offset,
            },
            errors,
        }
    }

    /// Every value given for `name`.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .0
            .iter()
            .filter(move |(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The one value of `name` (the last, if repeated).
    fn value(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// The id a reference parameter names, if given.
    fn reference(&mut self, name: &str, kind: &str) -> Option<i64> {
        let value = self.value(name)?.to_owned();
        fhir_search::reference(&value, kind)
            .map_err(|e| self.errors.add(name, e))
            .ok()
    }

    /// The range every value of the date parameter `name` narrows.
    fn range(&mut self, name: &str) -> Range {
        let mut range = Range::default();
        let values: Vec<String> = self.values(name).map(str::to_owned).collect();
        for v in values {
            if let Err(e) = range.narrow(&v) {
                self.errors.add(name, e);
            }
        }
        range
    }

    /// 400 with every refused parameter, else the search.
    fn checked(self) -> ApiResult<Self> {
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::Validation(self.errors.clone()))
        }
    }
}

/// A `searchset` Bundle of one page: `total`, `self`, `next` and `previous` links with
/// absolute URLs, each entry with its `fullUrl`.
fn bundle(
    state: &State,
    kind: &str,
    search: &Search,
    total: i64,
    found: Vec<Resource>,
) -> HttpResponse {
    let base = &state.settings.fhir_base;
    let Page { limit, offset } = search.page;
    let link = |relation: &'static str, offset: i64| {
        let mut query = search.used.clone();
        query.push(("_count".into(), limit.to_string()));
        if offset > 0 {
            query.push(("_offset".into(), offset.to_string()));
        }
        BundleLink {
            relation,
            url: format!(
                "{base}/{kind}?{}",
                serde_urlencoded::to_string(&query).unwrap_or_default()
            ),
        }
    };
    let mut links = vec![link("self", offset)];
    let next = offset.saturating_add(limit);
    if limit > 0 && next < total {
        links.push(link("next", next));
    }
    if offset > 0 {
        links.push(link("previous", offset.saturating_sub(limit.max(1)).max(0)));
    }
    let entry = found
        .into_iter()
        .filter_map(|resource| {
            Some(BundleEntry {
                full_url: format!("{base}/{}", resource.reference()?),
                resource,
                search: EntrySearch { mode: "match" },
            })
        })
        .collect();
    HttpResponse::Ok().json(Resource::Bundle(Bundle {
        kind: "searchset",
        total,
        link: links,
        entry,
    }))
}

/// A Bundle of one page of listed records, each made a resource by `to`.
fn page_of<T>(
    state: &State,
    kind: &str,
    search: &Search,
    listed: &Listed<T>,
    to: impl Fn(&T) -> Resource,
) -> HttpResponse {
    bundle(
        state,
        kind,
        search,
        listed.total,
        listed.items.iter().map(to).collect(),
    )
}

/// A read's answer: the resource with its weak `ETag` (`W/"<versionId>"`).
fn read(resource: Resource, version: Option<i64>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if let Some(v) = version {
        res.insert_header((header::ETAG, format!("W/\"{v}\"")));
    }
    res.json(resource)
}

/// The server's `CapabilityStatement` (no token needed).
pub async fn metadata(state: State) -> HttpResponse {
    static STARTED: OnceLock<String> = OnceLock::new();
    // The statement changes only with the binary: it is dated from this process's start.
    let date =
        STARTED.get_or_init(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    HttpResponse::Ok().json(capability::statement(
        &state.settings.fhir_base,
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        date,
    ))
}

/// `GET Patient/{id}`.
pub async fn patient_read(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let pid = PatientId(id(&path)?);
    let seen = scope(&actor, ResourceKind::Patient);
    allow(&actor, Action::Read, &Target::Patient)?;
    let p = coalesce::find::<Patient>(&state, (pid, seen)).await?;
    Ok(read(Resource::Patient(map::patient(&p)), Some(p.version)))
}

/// `GET Patient?name=&birthdate=`.
pub async fn patient_search(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Patient)?;
    let seen = scope(&actor, ResourceKind::Patient);
    let mut search = Search::new(&req, params, &["name", "birthdate"]);
    let (born_from, born_until) = fhir_search::days(search.range("birthdate"));
    let filter = PatientFilter {
        name_prefix: search.value("name").map(str::to_owned),
        born_from,
        born_until,
        ..PatientFilter::default()
    };
    let search = search.checked()?;
    let page = search.page;
    let listed = state
        .read_list(actor.user, move |c| patients::list(c, seen, &filter, page))
        .await?;
    Ok(page_of(&state, "Patient", &search, &listed, |p| {
        Resource::Patient(map::patient(p))
    }))
}

/// `GET Practitioner/{id}`.
pub async fn practitioner_read(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let doctor = readable_doctor(&state, &actor, &path).await?;
    Ok(read(
        Resource::Practitioner(map::practitioner(&doctor)),
        Some(doctor.version),
    ))
}

/// The doctor of a path id, if the caller may read it.
async fn readable_doctor(
    state: &State,
    actor: &healthcare_auth::Actor,
    path: &str,
) -> ApiResult<Doctor> {
    let did = DoctorId(id(path)?);
    let doctor = coalesce::find::<Doctor>(state, did).await?;
    allow(
        actor,
        Action::Read,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    Ok(doctor)
}

/// The doctors a search by `user` names (`None`: every doctor, paged; a list that may come
/// from the read replica).
async fn doctors_of(
    state: &State,
    user: UserId,
    search: &Search,
    only: Option<Option<i64>>,
    name: Option<String>,
) -> ApiResult<Listed<Doctor>> {
    let page = search.page;
    match only {
        // A malformed reference was refused; a well-formed one may name nobody.
        Some(None) => Ok(Listed {
            items: Vec::new(),
            total: 0,
        }),
        Some(Some(did)) => {
            state
                .read(move |c| {
                    let items = match doctors::find(c, DoctorId(did)) {
                        Ok(d) if page.offset == 0 && page.limit > 0 => vec![d],
                        Ok(_) => Vec::new(),
                        Err(healthcare_persistence::StoreError::NotFound) => {
                            return Ok(Listed {
                                items: Vec::new(),
                                total: 0,
                            })
                        }
                        Err(e) => return Err(e),
                    };
                    Ok(Listed { items, total: 1 })
                })
                .await
        }
        None => {
            let filter = DoctorFilter {
                name_prefix: name,
                ..DoctorFilter::default()
            };
            state
                .read_list(user, move |c| doctors::list(c, &filter, page))
                .await
        }
    }
}

/// `GET Practitioner?name=`.
pub async fn practitioner_search(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Doctor { linked_user: None })?;
    let search = Search::new(&req, params, &["name"]).checked()?;
    let name = search.value("name").map(str::to_owned);
    let listed = doctors_of(&state, actor.user, &search, None, name).await?;
    Ok(page_of(&state, "Practitioner", &search, &listed, |d| {
        Resource::Practitioner(map::practitioner(d))
    }))
}

/// `GET Schedule/{id}` (a doctor's schedule has the doctor's id).
pub async fn schedule_read(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let doctor = readable_doctor(&state, &actor, &path).await?;
    Ok(read(Resource::Schedule(map::schedule(&doctor)), None))
}

/// `GET Schedule?actor=Practitioner/{id}`.
pub async fn schedule_search(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Doctor { linked_user: None })?;
    let mut search = Search::new(&req, params, &["actor"]);
    let only = search
        .value("actor")
        .is_some()
        .then(|| search.reference("actor", "Practitioner"));
    let search = search.checked()?;
    let listed = doctors_of(&state, actor.user, &search, only, None).await?;
    Ok(page_of(&state, "Schedule", &search, &listed, |d| {
        Resource::Schedule(map::schedule(d))
    }))
}

/// The FHIR `Slot.status` codes; only `free` slots are served.
const SLOT_STATUSES: &[&str] = &[
    "busy",
    "free",
    "busy-unavailable",
    "busy-tentative",
    "entered-in-error",
];

/// How far ahead a Slot search without an upper `start` bound looks.
const DEFAULT_SLOT_DAYS: i64 = 7;

/// `GET Slot?schedule=Schedule/{id}&start=ge..&start=lt..&status=free`: the doctor's free
/// slots of `HEALTHCARE_FHIR_SLOT_MINUTES` in a window of at most 31 days (default: the next
/// 7 days), none in the past.
pub async fn slot_search(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    let mut search = Search::new(&req, params, &["schedule", "start", "status"]);
    let schedule = search.reference("schedule", "Schedule");
    if search.value("schedule").is_none() {
        search.errors.add(
            "schedule",
            "A Slot search needs its schedule (Schedule/<id>).",
        );
    }
    let range = search.range("start");
    let mut wants_free = true;
    let statuses: Vec<String> = search
        .values("status")
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .collect();
    for s in &statuses {
        if !SLOT_STATUSES.contains(&s.as_str()) {
            search
                .errors
                .add("status", format!("\"{s}\" is not a SlotStatus code."));
        }
    }
    if !statuses.is_empty() && !statuses.iter().any(|s| s == "free") {
        wants_free = false;
    }
    let now = Utc::now();
    let from = range.from.unwrap_or(now).max(now);
    let until = range
        .until
        .unwrap_or_else(|| range.from.unwrap_or(now) + Duration::days(DEFAULT_SLOT_DAYS));
    if until - range.from.unwrap_or(now) > Duration::days(MAX_RANGE_DAYS) {
        search.errors.add(
            "start",
            format!("A Slot search covers at most {MAX_RANGE_DAYS} days."),
        );
    }
    let search = search.checked()?;
    let Some(did) = schedule.map(DoctorId) else {
        return Ok(bundle(&state, "Slot", &search, 0, Vec::new()));
    };
    let doctor = match state.read(move |c| doctors::find(c, did)).await {
        Ok(d) => d,
        Err(ApiError::NotFound) => return Ok(bundle(&state, "Slot", &search, 0, Vec::new())),
        Err(e) => return Err(e),
    };
    allow(
        &actor,
        Action::Read,
        &Target::Doctor {
            linked_user: doctor.user,
        },
    )?;
    let slots = if wants_free && until > from {
        free_slots(&state, did, from, until).await?
    } else {
        Vec::new()
    };
    let total = i64::try_from(slots.len()).unwrap_or(i64::MAX);
    let page = search.page;
    let found = slots
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(0))
        .map(|(start, end)| Resource::Slot(map::slot(did, start, end)))
        .collect();
    Ok(bundle(&state, "Slot", &search, total, found))
}

/// The doctor's free slots that start in `[from, until)`, through the REST API's free-slot
/// rules (working hours in the doctor's zone, time off, bookings and their buffers).
async fn free_slots(
    state: &State,
    did: DoctorId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> ApiResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let minutes = state.settings.fhir_slot_minutes;
    // Local dates that surely cover the window in any zone (offsets lie within ±14 h), asked
    // for in pieces of at most the free-slot range.
    let first = (from - Duration::days(1)).date_naive();
    let last = (until + Duration::days(1)).date_naive();
    state
        .read(move |c| {
            let mut out = Vec::new();
            let mut day = first;
            while day <= last {
                let to = (day + Duration::days(MAX_RANGE_DAYS - 1)).min(last);
                if let Some(snap) = availability::snapshot(c, did, day, to)? {
                    let slots = snap
                        .availability
                        .free_slots(day, to, minutes, Some(minutes), &snap.bookings)
                        .unwrap_or_default();
                    out.extend(
                        slots
                            .iter()
                            .filter(|s| s.start() >= from && s.start() < until)
                            .map(|s| (s.start(), s.end())),
                    );
                }
                day = to + Duration::days(1);
            }
            Ok(FreeSlots(out))
        })
        .await
        .map(|f| f.0)
}

/// Free slots as a read returns them (they name no patient).
struct FreeSlots(Vec<(DateTime<Utc>, DateTime<Utc>)>);

impl crate::audit::Traced for FreeSlots {}

/// `GET Appointment/{id}`.
pub async fn appointment_read(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let aid = AppointmentId(id(&path)?);
    let seen = scope(&actor, ResourceKind::Appointment);
    let a = coalesce::find::<Appointment>(&state, (aid, seen)).await?;
    Ok(read(
        Resource::Appointment(map::appointment(&a)),
        Some(a.version),
    ))
}

/// `GET Appointment?patient=&practitioner=&date=&status=`.
pub async fn appointment_search(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::Appointment)?;
    let seen = scope(&actor, ResourceKind::Appointment);
    let mut search = Search::new(&req, params, &["patient", "practitioner", "date", "status"]);
    let patient = search.reference("patient", "Patient").map(PatientId);
    let doctor = search
        .reference("practitioner", "Practitioner")
        .map(DoctorId);
    let range = search.range("date");
    // Codes of one parameter are alternatives; repeated parameters must all hold.
    let mut statuses: Option<Vec<AppointmentStatus>> = None;
    let lists: Vec<String> = search.values("status").map(str::to_owned).collect();
    for list in lists {
        let mut any = Vec::new();
        for code in list.split(',').map(str::trim) {
            match map::statuses_of(code) {
                Some(found) => any.extend_from_slice(found),
                None => search.errors.add(
                    "status",
                    format!("\"{code}\" is not an AppointmentStatus code."),
                ),
            }
        }
        statuses = Some(match statuses {
            None => any,
            Some(before) => before.into_iter().filter(|s| any.contains(s)).collect(),
        });
    }
    let search = search.checked()?;
    if statuses.as_ref().is_some_and(Vec::is_empty) {
        return Ok(bundle(&state, "Appointment", &search, 0, Vec::new()));
    }
    let filter = AppointmentFilter {
        doctor,
        patient,
        series: None,
        statuses: statuses.unwrap_or_default(),
        from: range.from,
        until: range.until,
        order: AppointmentOrder::StartAsc,
    };
    let page = search.page;
    let listed = state
        .read_list(actor.user, move |c| {
            appointments::list(c, seen, &filter, page)
        })
        .await?;
    Ok(page_of(&state, "Appointment", &search, &listed, |a| {
        Resource::Appointment(map::appointment(a))
    }))
}

/// `POST Appointment`: books as `POST /api/appointments/` does (`booked`, or `pending` for a
/// hold); 201 with the booked `Appointment`, 409 on a conflict.
pub async fn appointment_create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::Appointment)?;
    let input = fhir_booking::parse(&body).map_err(|refusal| match refusal {
        fhir_booking::Refusal::Malformed(e) => ApiError::Validation(e),
        fhir_booking::Refusal::Rule(e) => ApiError::Invalid(e),
    })?;
    match create_appointment(&actor, &input, Utc::now()) {
        Err(Denied::Invalid { field, message }) => {
            return Err(ApiError::Invalid(fhir_booking::elements(
                &FieldErrors::single(field, message),
            )))
        }
        other => check(other)?,
    }
    let base = state.settings.fhir_base.clone();
    booking::book_new(&state, &actor, input, move |a| {
        let mut answer = Answer::json(
            StatusCode::CREATED,
            &Resource::Appointment(map::appointment(a)),
        )?;
        answer.location = Some(format!("{base}/Appointment/{}", a.id));
        answer.etag = Some(format!("W/\"{}\"", a.version));
        Ok(answer)
    })
    .await
    .map_err(|e| match e {
        // What the write refused as invalid breaks a rule of a well-formed resource.
        ApiError::Validation(errors) => ApiError::Invalid(fhir_booking::elements(&errors)),
        other => other,
    })
}
