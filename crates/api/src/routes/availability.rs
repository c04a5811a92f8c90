//! Doctor availability: `/api/doctors/{id}/working-hours/`, `/api/doctors/{id}/time-off/` and
//! `/api/doctors/{id}/slots/`.
//!
//! Everyone signed in may read a doctor's working hours, time off and free slots; admin, staff
//! and the doctor themself (the account linked to the record) may change them. The reason of a
//! time off is shown only to those who may change it (others see `""`).

use super::{allow, created, id};
use crate::error::{ApiError, ApiResult};
use crate::extract::{read_json, Body, Caller, Params};
use crate::pagination;
use crate::state::State;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SubsecRound, Timelike, Utc, Weekday};
use futures_util::future::LocalBoxFuture;
use healthcare_auth::{Action, Actor, Target};
use healthcare_domain::inputs::MAX_NOTE;
use healthcare_domain::raw::{
    parse_date_filter, year_accepted, DateFilter, DateFilterError, Mode, Reader,
};
use healthcare_domain::{msg, Doctor, DoctorId, FieldErrors, RawObject};
use healthcare_persistence::availability::{self, AddTimeOff, NewTimeOff, TimeOffEntry};
use healthcare_persistence::doctors;
use healthcare_scheduling::{
    FreeSlotsError, WeeklyInterval, WeeklySchedule, MAX_RANGE_DAYS, MAX_SLOT_MINUTES,
    MAX_STEP_MINUTES, MIN_SLOT_MINUTES,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// Most intervals one weekly schedule may hold.
pub const MAX_WEEKLY_ENTRIES: usize = 200;
/// Default length of a free slot, minutes.
pub const DEFAULT_SLOT_MINUTES: i64 = 30;
/// Default page size of free slots (at most 1000, as every list): larger than other lists', so
/// a client asking for a range as it did before paging (up to 31 days) usually gets it all in
/// one page, and otherwise learns from `X-Total-Count` and `Link` that there is more.
pub const FREE_SLOTS_DEFAULT_LIMIT: i64 = 1000;

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("MON", Weekday::Mon),
    ("TUE", Weekday::Tue),
    ("WED", Weekday::Wed),
    ("THU", Weekday::Thu),
    ("FRI", Weekday::Fri),
    ("SAT", Weekday::Sat),
    ("SUN", Weekday::Sun),
];

fn weekday_code(day: Weekday) -> &'static str {
    WEEKDAYS[day.num_days_from_monday() as usize].0
}

/// A JSON object body kept as a `serde_json` map (the weekly schedule is a list of objects,
/// which [`Body`]'s flat reading skips). Content type, size and parse errors answer as
/// [`Body`] does.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(
            req,
            payload,
            Map::new,
            |bytes| match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("expected a JSON object".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        Box::pin(async move { body.await.map(JsonObject) })
    }
}

/// One weekly interval as sent and returned: `{"weekday": "MON", "start": "09:00", "end": "12:30"}`.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalOut {
    /// `MON` .. `SUN`.
    pub weekday: &'static str,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end (excluded), `HH:MM`.
    pub end: String,
}

/// A doctor's working hours as returned; `{"timezone": null, "weekly": []}` when none are set.
#[derive(Debug, Clone, Serialize)]
pub struct WorkingHoursOut {
    /// IANA time zone of the local times, `null` when no hours are set.
    pub timezone: Option<&'static str>,
    /// The intervals, by weekday then start.
    pub weekly: Vec<IntervalOut>,
}

fn hhmm(t: NaiveTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

impl WorkingHoursOut {
    fn from_schedule(schedule: Option<&WeeklySchedule>) -> Self {
        match schedule {
            None => Self {
                timezone: None,
                weekly: Vec::new(),
            },
            Some(s) => {
                let mut entries = s.entries().to_vec();
                entries.sort_by_key(|e| (e.weekday.num_days_from_monday(), e.start));
                Self {
                    timezone: Some(s.tz().name()),
                    weekly: entries
                        .into_iter()
                        .map(|e| IntervalOut {
                            weekday: weekday_code(e.weekday),
                            start: hhmm(e.start),
                            end: hhmm(e.end),
                        })
                        .collect(),
                }
            }
        }
    }
}

/// One period of time off as returned.
#[derive(Debug, Clone, Serialize)]
pub struct TimeOffOut {
    /// Identifier (within the doctor).
    pub id: i64,
    /// The doctor.
    pub doctor: i64,
    /// First instant off, UTC.
    pub start: DateTime<Utc>,
    /// First instant back (excluded), UTC.
    pub end: DateTime<Utc>,
    /// Why ("" for callers who may not change the doctor's availability).
    pub reason: String,
    /// Who entered it.
    pub created_by: Option<i64>,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
}

impl TimeOffOut {
    fn new(entry: TimeOffEntry, show_reason: bool) -> Self {
        Self {
            id: entry.id,
            doctor: entry.doctor.0,
            start: entry.start,
            end: entry.end,
            reason: if show_reason {
                entry.reason
            } else {
                String::new()
            },
            created_by: entry.created_by.map(|u| u.0),
            created_at: entry.created_at,
        }
    }
}

/// One free slot as returned.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SlotOut {
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// End (excluded), UTC.
    pub end: DateTime<Utc>,
}

/// The doctor of the path (404 when missing or archived).
async fn doctor_of(state: &State, path: &str) -> ApiResult<Doctor> {
    let did = DoctorId(id(path)?);
    state.read(move |c| doctors::find(c, did)).await
}

fn target(doctor: &Doctor) -> Target {
    Target::Doctor {
        linked_user: doctor.user,
    }
}

/// Whether the caller may change this doctor's availability (admin, staff, the doctor).
fn may_manage(actor: &Actor, doctor: &Doctor) -> bool {
    allow(actor, Action::Update, &target(doctor)).is_ok()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `HH:MM` (or `HH:MM:00`), 00:00 ..= 23:59.
fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let t = match s.len() {
        5 => NaiveTime::parse_from_str(s, "%H:%M").ok()?,
        8 => NaiveTime::parse_from_str(s, "%H:%M:%S").ok()?,
        _ => return None,
    };
    (t.second() == 0 && t.nanosecond() == 0).then_some(t)
}

fn read_entry(index: usize, item: &Value, errors: &mut FieldErrors) -> Option<WeeklyInterval> {
    let Value::Object(item) = item else {
        errors.add(
            "weekly",
            format!("entry {index}: expected an object with weekday, start and end."),
        );
        return None;
    };
    let weekday = match item.get("weekday") {
        Some(Value::String(s)) => {
            let code = s.trim().to_ascii_uppercase();
            WEEKDAYS.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
        }
        _ => None,
    };
    if weekday.is_none() {
        errors.add(
            "weekly",
            format!("entry {index}: weekday must be one of MON, TUE, WED, THU, FRI, SAT, SUN."),
        );
    }
    let mut time = |name: &str| {
        let t = match item.get(name) {
            Some(Value::String(s)) => parse_hhmm(s),
            _ => None,
        };
        if t.is_none() {
            errors.add(
                "weekly",
                format!("entry {index}: {name} must be a time HH:MM between 00:00 and 23:59."),
            );
        }
        t
    };
    let start = time("start");
    let end = time("end");
    Some(WeeklyInterval {
        weekday: weekday?,
        start: start?,
        end: end?,
    })
}

/// Reads `{"timezone": ..., "weekly": [...]}`. `Ok(None)` clears (an empty `weekly`).
fn read_working_hours(body: &Map<String, Value>) -> Result<Option<WeeklySchedule>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let tz = match body.get("timezone") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let tz = availability::parse_time_zone(s);
            if tz.is_none() {
                let shown: String = s.trim().chars().take(100).collect();
                errors.add("timezone", format!("Unknown time zone \"{shown}\"."));
            }
            tz
        }
        Some(_) => {
            errors.add("timezone", msg::NOT_STRING);
            None
        }
    };
    let mut entries = Vec::new();
    match body.get("weekly") {
        None => errors.add("weekly", msg::REQUIRED),
        Some(Value::Null) => errors.add("weekly", msg::NULL),
        Some(Value::Array(items)) if items.len() > MAX_WEEKLY_ENTRIES => errors.add(
            "weekly",
            format!("Ensure this list has no more than {MAX_WEEKLY_ENTRIES} entries."),
        ),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                if let Some(e) = read_entry(index, item, &mut errors) {
                    entries.push(e);
                }
            }
        }
        Some(other) => errors.add(
            "weekly",
            format!(
                "Expected a list of items but got type \"{}\".",
                json_type(other)
            ),
        ),
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let Some(tz) = tz else {
        return Err(FieldErrors::single(
            "timezone",
            "This field is required when weekly is not empty.",
        ));
    };
    WeeklySchedule::new(tz, entries)
        .map(Some)
        .map_err(|e| e.to_field_errors("weekly"))
}

/// A doctor's weekly working hours.
#[utoipa::path(get, path = "/api/doctors/{id}/working-hours/", tag = "availability", operation_id = "doctors_working_hours_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = crate::openapi::WorkingHoursSchema,
               description = "The schedule; `{\"timezone\": null, \"weekly\": []}` when the doctor has no working hours (bookable at any time)"),
              (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_working_hours(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Read, &target(&doctor))?;
    let did = doctor.id;
    let schedule = state
        .read(move |c| availability::working_hours(c, did))
        .await?;
    Ok(HttpResponse::Ok().json(WorkingHoursOut::from_schedule(schedule.as_ref())))
}

/// Replace a doctor's weekly working hours (admin, staff, the doctor themself).
/// `{"weekly": []}` clears them: the doctor is bookable at any time again.
#[utoipa::path(put, path = "/api/doctors/{id}/working-hours/", tag = "availability", operation_id = "doctors_working_hours_put",
    params(("id" = i64, Path)), request_body = crate::openapi::WorkingHoursSchema,
    responses((status = 200, body = crate::openapi::WorkingHoursSchema, description = "The new schedule, which replaced the old one"),
              (status = 400, body = healthcare_domain::FieldErrors, description = "Invalid or overlapping intervals, or an unknown time zone", example = json!({"weekly": ["entry 2: overlaps entry 0."]})),
              (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn put_working_hours(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Update, &target(&doctor))?;
    let schedule = read_working_hours(&body)?;
    let did = doctor.id;
    let stored = state
        .write(move |c| availability::set_working_hours(c, did, schedule.as_ref()))
        .await?;
    Ok(HttpResponse::Ok().json(WorkingHoursOut::from_schedule(stored.as_ref())))
}

/// A doctor's time off, earliest first.
#[utoipa::path(get, path = "/api/doctors/{id}/time-off/", tag = "availability", operation_id = "doctors_time_off_list",
    params(("id" = i64, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<crate::openapi::TimeOffSchema>, description = "One page of the doctor's time off"), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn list_time_off(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Read, &target(&doctor))?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let show_reason = may_manage(&actor, &doctor);
    let did = doctor.id;
    let listed = state
        .read(move |c| availability::list_time_off(c, did, page))
        .await?;
    let listed = healthcare_persistence::Listed {
        items: listed
            .items
            .into_iter()
            .map(|e| TimeOffOut::new(e, show_reason))
            .collect::<Vec<_>>(),
        total: listed.total,
    };
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// A date-time with an offset, 1900..=2199, kept to the second (as appointments are).
fn read_instant(r: &mut Reader<'_>, name: &str) -> Option<DateTime<Utc>> {
    let t = r.datetime(name)?;
    if year_accepted(t.year()) {
        Some(t.trunc_subsecs(0))
    } else {
        r.errors
            .add(name, "Date-times must be between 1900 and 2199.");
        None
    }
}

fn read_time_off(body: &RawObject) -> Result<(NewTimeOff, bool), FieldErrors> {
    let mut r = Reader::new(body, Mode::Create);
    let start = read_instant(&mut r, "start");
    let end = read_instant(&mut r, "end");
    let reason = r.optional_text("reason", MAX_NOTE);
    let keep = r.boolean("keep_appointments", false);
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            r.errors.add("end", "End must be after start.");
        }
    }
    match (start, end, reason, keep) {
        (Some(start), Some(end), Some(reason), Some(keep)) if r.errors.is_empty() => {
            Ok((NewTimeOff { start, end, reason }, keep))
        }
        _ => Err(r.errors),
    }
}

/// Add time off (admin, staff, the doctor themself). Refused with 409 while SCHEDULED
/// appointments of the doctor fall into it, unless `keep_appointments` is true.
#[utoipa::path(post, path = "/api/doctors/{id}/time-off/", tag = "availability", operation_id = "doctors_time_off_create",
    params(("id" = i64, Path)), request_body = crate::openapi::TimeOffIn,
    responses((status = 201, body = crate::openapi::TimeOffSchema, description = "The new time off"),
              (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, body = crate::bodies::TimeOffConflict,
               description = "SCHEDULED appointments fall into the period; cancel or move them, or send keep_appointments: true")),
    security(("bearer" = [])))]
pub async fn add_time_off(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Update, &target(&doctor))?;
    let (input, keep) = read_time_off(&body)?;
    let (did, by) = (doctor.id, actor.user);
    let outcome = state
        .write(move |c| availability::add_time_off(c, did, &input, keep, by))
        .await?;
    match outcome {
        AddTimeOff::Added(entry) => Ok(created(&TimeOffOut::new(entry, true))),
        AddTimeOff::Blocked { affected } => Err(ApiError::TimeOffConflict(affected)),
    }
}

/// Remove a period of time off for good (admin, staff, the doctor themself): time off is
/// configuration, not clinical history.
#[utoipa::path(delete, path = "/api/doctors/{id}/time-off/{time_off_id}/", tag = "availability", operation_id = "doctors_time_off_delete",
    params(("id" = i64, Path), ("time_off_id" = i64, Path)),
    responses((status = 204, description = "Deleted (no body)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn delete_time_off(
    state: State,
    Caller(actor): Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (doctor_path, time_off_path) = path.into_inner();
    let doctor = doctor_of(&state, &doctor_path).await?;
    allow(&actor, Action::Update, &target(&doctor))?;
    let tid = id(&time_off_path)?;
    let did = doctor.id;
    state
        .write(move |c| availability::delete_time_off(c, did, tid))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A `YYYY-MM-DD` query parameter in the years inputs accept (`parse_date_filter`; a
/// date-time is refused here: the range is of local dates).
fn date_param(params: &Params, name: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    match parse_date_filter(params.get(name)?) {
        Ok(DateFilter::Date(d)) => Some(d),
        Ok(DateFilter::Instant(_)) | Err(DateFilterError::Format) => {
            errors.add(name, msg::DATE_FORMAT);
            None
        }
        Err(e @ DateFilterError::OutOfRange) => {
            errors.add(name, e.to_string());
            None
        }
    }
}

fn bounded_int(
    params: &Params,
    name: &str,
    min: i64,
    max: i64,
    errors: &mut FieldErrors,
) -> Option<i64> {
    let n = params.int(name, errors)?;
    if n < min {
        errors.add(
            name,
            format!("Ensure this value is greater than or equal to {min}."),
        );
        None
    } else if n > max {
        errors.add(
            name,
            format!("Ensure this value is less than or equal to {max}."),
        );
        None
    } else {
        Some(n)
    }
}

/// The free-slot request: local dates, duration and step, checked.
struct SlotQuery {
    from: NaiveDate,
    to: NaiveDate,
    duration: i64,
    step: Option<i64>,
}

/// Reads the free-slot query, adding its errors to `errors` (those of the paging parameters).
fn read_slot_query(params: &Params, mut errors: FieldErrors) -> Result<SlotQuery, FieldErrors> {
    let from = date_param(params, "date_from", &mut errors);
    if params.get("date_from").is_none() {
        errors.add("date_from", msg::REQUIRED);
    }
    let to = date_param(params, "date_to", &mut errors);
    let duration = bounded_int(
        params,
        "duration",
        MIN_SLOT_MINUTES,
        MAX_SLOT_MINUTES,
        &mut errors,
    );
    let step = bounded_int(params, "step", 1, MAX_STEP_MINUTES, &mut errors);
    let (Some(from), true) = (from, errors.is_empty()) else {
        return Err(errors);
    };
    let to = to.unwrap_or(from);
    if to < from {
        errors.add("date_to", FreeSlotsError::InvertedRange.to_string());
    } else if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        errors.add(
            "date_to",
            format!("The date range may span at most {MAX_RANGE_DAYS} days."),
        );
    }
    errors.into_result(SlotQuery {
        from,
        to,
        duration: duration.unwrap_or(DEFAULT_SLOT_MINUTES),
        step,
    })
}

fn slots_error(e: FreeSlotsError) -> FieldErrors {
    let field = match e {
        FreeSlotsError::InvertedRange | FreeSlotsError::RangeTooLong { .. } => "date_to",
        FreeSlotsError::InvalidDuration { .. } => "duration",
        FreeSlotsError::InvalidStep { .. } => "step",
    };
    FieldErrors::single(field, e.to_string())
}

/// Free slots of a doctor between two local dates (in the doctor's time zone, both included),
/// in time order, paged as lists are (`limit` default 1000, at most 1000; `X-Total-Count`,
/// `Link`). Slots that start in the past are left out. A doctor without working hours has no
/// free slots: `[]`.
#[utoipa::path(get, path = "/api/doctors/{id}/slots/", tag = "availability", operation_id = "doctors_slots",
    params(("id" = i64, Path),
           ("date_from" = String, Query, description = "First local date, YYYY-MM-DD (years 1900-2199)"),
           ("date_to" = Option<String>, Query, description = "Last local date, YYYY-MM-DD (default: date_from; at most 31 days in all; years 1900-2199)"),
           ("duration" = Option<i64>, Query, description = "Slot length in minutes, 5..=480 (default 30)"),
           ("step" = Option<i64>, Query, description = "Minutes between slot starts, 1..=1440 (default: the duration)"),
           ("limit" = Option<i64>, Query, minimum = 1, description = "Slots per page (default 1000; larger values count as 1000)"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "Slots skipped (default 0)")),
    responses((status = 200, body = Vec<crate::openapi::SlotSchema>, description = "One page of free slots",
               headers(("X-Total-Count" = i64, description = "Free slots in the whole range"),
                       ("Link" = String, description = "RFC 8288 links to the next and previous pages (rel=\"next\", rel=\"prev\"), when there are any"))),
              (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn free_slots(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Read, &target(&doctor))?;
    let mut errors = FieldErrors::new();
    let page = pagination::page_with_default(&params, FREE_SLOTS_DEFAULT_LIMIT, &mut errors);
    let q = read_slot_query(&params, errors)?;
    let did = doctor.id;
    let found = state
        .read(move |c| {
            let Some(snap) = availability::snapshot(c, did, q.from, q.to)? else {
                return Ok(Ok(Vec::new()));
            };
            Ok(snap
                .availability
                .free_slots(q.from, q.to, q.duration, q.step, &snap.bookings))
        })
        .await?;
    let now = Utc::now();
    let upcoming: Vec<_> = found
        .map_err(slots_error)?
        .into_iter()
        .filter(|s| s.start() >= now)
        .collect();
    let listed = healthcare_persistence::Listed {
        items: upcoming
            .iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(0))
            .map(|s| SlotOut {
                start: s.start(),
                end: s.end(),
            })
            .collect::<Vec<_>>(),
        total: i64::try_from(upcoming.len()).unwrap_or(i64::MAX),
    };
    Ok(pagination::respond(&req, &params, page, &listed))
}
