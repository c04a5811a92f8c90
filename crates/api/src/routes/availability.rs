//! Doctor availability: `/api/doctors/{id}/working-hours/`, `/api/doctors/{id}/time-off/` and
//! `/api/doctors/{id}/slots/`.
//!
//! Everyone signed in may read a doctor's working hours, time off and free slots; admin, staff
//! and the doctor themself (the account linked to the record) may change them. The reason of a
//! time off is shown only to those who may change it (others see `""`).

use super::{allow, id};
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use healthcare_auth::{Action, Actor, Target};
use healthcare_domain::availability::weekday_code;
use healthcare_domain::{Doctor, DoctorId, FieldErrors, SlotQuery, TimeOffRequest, WorkingHours};
use healthcare_persistence::availability::{self, AddTimeOff, NewTimeOff, TimeOffEntry};
use healthcare_persistence::{doctors, versions, StoreError};
use healthcare_scheduling::{FreeSlotsError, WeeklySchedule};
use serde::Serialize;

/// Default page size of free slots (at most 1000, as every list): larger than other lists', so
/// a client asking for a range as it did before paging (up to 31 days) usually gets it all in
/// one page, and otherwise learns from `X-Total-Count` and `Link` that there is more.
pub const FREE_SLOTS_DEFAULT_LIMIT: i64 = 1000;

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

/// A period of time off as returned (`reason` is `""` for callers who may not manage the
/// doctor's availability).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TimeOff, example = json!({"id": 1, "doctor": 1, "start": "2030-04-01T07:00:00Z", "end": "2030-04-01T15:00:00Z", "reason": "Conference", "created_by": 1, "created_at": "2030-03-01T09:00:00Z"}))]
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
    #[schema(required = true)]
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

/// A free slot.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[schema(as = FreeSlot, example = json!({"start": "2030-04-01T07:00:00Z", "end": "2030-04-01T07:30:00Z"}))]
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

/// A doctor's weekly working hours.
#[utoipa::path(get, path = "/api/doctors/{id}/working-hours/", tag = "availability", operation_id = "doctors_working_hours_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::availability::WorkingHours,
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
    let (schedule, version) = state
        .read(move |c| {
            Ok((
                availability::working_hours(c, did)?,
                versions::working_hours(c, did.0)?,
            ))
        })
        .await?;
    Ok(working_hours_answer(schedule.as_ref(), version))
}

/// Replace a doctor's weekly working hours (admin, staff, the doctor themself).
/// `{"weekly": []}` clears them: the doctor is bookable at any time again.
#[utoipa::path(put, path = "/api/doctors/{id}/working-hours/", tag = "availability", operation_id = "doctors_working_hours_put",
    params(("id" = i64, Path)), request_body = healthcare_domain::availability::WorkingHours,
    responses((status = 200, body = healthcare_domain::availability::WorkingHours, description = "The new schedule, which replaced the old one"),
              (status = 400, body = healthcare_domain::FieldErrors, description = "Invalid or overlapping intervals, or an unknown time zone", example = json!({"weekly": ["entry 2: overlaps entry 0."]})),
              (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn put_working_hours(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let doctor = doctor_of(&state, &path).await?;
    allow(&actor, Action::Update, &target(&doctor))?;
    let schedule = WeeklySchedule::from_input(WorkingHours::parse(&body)?)?;
    let did = doctor.id;
    let (stored, version) = state
        .write(move |c| {
            Ok((
                availability::set_working_hours(c, did, schedule.as_ref())?,
                versions::working_hours(c, did.0)?,
            ))
        })
        .await?;
    Ok(working_hours_answer(stored.as_ref(), version))
}

/// A doctor's working hours as answered, with their version as the `ETag`.
fn working_hours_answer(schedule: Option<&WeeklySchedule>, version: Option<i64>) -> HttpResponse {
    let mut answer = HttpResponse::Ok();
    if let Some(version) = version {
        answer.insert_header((
            actix_web::http::header::ETAG,
            crate::conditional::etag(version),
        ));
    }
    answer.json(WorkingHoursOut::from_schedule(schedule))
}

/// A doctor's time off, earliest first.
#[utoipa::path(get, path = "/api/doctors/{id}/time-off/", tag = "availability", operation_id = "doctors_time_off_list",
    params(("id" = i64, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<TimeOffOut>, description = "One page of the doctor's time off"), (status = 400), (status = 401), (status = 404)),
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

/// Add time off (admin, staff, the doctor themself). Refused with 409 while SCHEDULED
/// appointments of the doctor fall into it, unless `keep_appointments` is true.
#[utoipa::path(post, path = "/api/doctors/{id}/time-off/", tag = "availability", operation_id = "doctors_time_off_create",
    params(("id" = i64, Path)), request_body = healthcare_domain::availability::TimeOffRequest,
    responses((status = 201, body = TimeOffOut, description = "The new time off"),
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
    let request = TimeOffRequest::parse(&body)?;
    let keep = request.keep_appointments();
    let input = NewTimeOff {
        start: request.start(),
        end: request.end(),
        reason: request.reason().to_owned(),
    };
    let (did, by) = (doctor.id, actor.user);
    state
        .write_answered(
            move |c| match availability::add_time_off(c, did, &input, keep, by)? {
                AddTimeOff::Added(entry) => Ok(entry),
                AddTimeOff::Blocked { affected } => Err(StoreError::TimeOffBlocked { affected }),
            },
            |entry| {
                let answer = TimeOffOut::new(entry.clone(), true);
                let location = format!("/api/doctors/{}/time-off/{}/", answer.doctor, answer.id);
                Answer::created_unversioned(location, &answer)
            },
        )
        .await
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
    params(("id" = i64, Path), healthcare_domain::availability::SlotQuery,
           ("limit" = Option<i64>, Query, minimum = 1, description = "Slots per page (default 1000; larger values count as 1000)"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "Slots skipped (default 0)")),
    responses((status = 200, body = Vec<SlotOut>, description = "One page of free slots"),
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
    let q = SlotQuery::parse(&params.to_raw());
    let q = match q {
        Ok(q) if errors.is_empty() => q,
        Ok(_) => return Err(errors.into()),
        Err(e) => {
            errors.merge(e);
            return Err(errors.into());
        }
    };
    let did = doctor.id;
    let found = state
        .read(move |c| {
            let Some(snap) = availability::snapshot(c, did, q.from(), q.to())? else {
                return Ok(Ok(Vec::new()));
            };
            Ok(snap.availability.free_slots(
                q.from(),
                q.to(),
                q.duration(),
                q.step(),
                &snap.bookings,
            ))
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
