//! Email notifications through the outbox (docs/notifications.md, "Email"). When mail is on,
//! the dispatcher's fan-out turns each appointment event that mails (a booking, a reschedule,
//! a cancellation, a mail reminder) into one mail per recipient: the patient record's email,
//! else its owning account's, and the doctor record's email, else its account's
//! ([`fan_out`]). Due mails are leased like webhook messages ([`claim`]), sent by the api
//! crate's mailer, and recorded ([`finish`]) with the webhooks' retry schedule. Mail reminders
//! are queued 24 hours before the start, once per (appointment, start time)
//! ([`queue_reminders`]).

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::schema::{
    appointments, doctors, mail_messages, mail_reminders, outbox_events, patients, users,
    working_hours,
};
use crate::time::{now, to_db};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use healthcare_domain::{AppointmentStatus, EventType};
use serde::Deserialize;
use std::collections::HashMap;

/// How long before an appointment's start its mail reminder goes out.
pub const REMINDER_BEFORE: Duration = Duration::hours(24);

/// Whose view a mail shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The patient the appointment is for.
    Patient,
    /// The doctor who sees them.
    Doctor,
}

impl Audience {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Patient => "patient",
            Audience::Doctor => "doctor",
        }
    }

    fn parse(name: &str) -> StoreResult<Audience> {
        match name {
            "patient" => Ok(Audience::Patient),
            "doctor" => Ok(Audience::Doctor),
            other => Err(StoreError::Corrupt(format!("mail audience {other:?}"))),
        }
    }
}

/// Whether an event of `kind` makes mail: bookings, reschedules, cancellations and reminders.
pub fn mails(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::AppointmentCreated
            | EventType::AppointmentRescheduled
            | EventType::AppointmentCancelled
            | EventType::AppointmentReminder
    )
}

/// What a mail shows of its appointment, as its event carries it (the admin view at commit).
#[derive(Debug, Clone, Deserialize)]
pub struct AppointmentFacts {
    /// The appointment's id.
    pub id: i64,
    /// The doctor's id.
    pub doctor: i64,
    /// The patient's id.
    pub patient: i64,
    /// Start, UTC.
    pub appointment_datetime: DateTime<Utc>,
    /// End, UTC.
    pub end_datetime: DateTime<Utc>,
    /// Its status (`SCHEDULED`, `CANCELLED`, ...).
    pub status: String,
}

/// The appointment an event's payload carries (`data.appointment`).
fn appointment_of(payload: &str) -> StoreResult<AppointmentFacts> {
    let mut value: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| StoreError::Corrupt(format!("outbox payload: {e}")))?;
    let appointment = value
        .pointer_mut("/data/appointment")
        .map(serde_json::Value::take)
        .ok_or_else(|| StoreError::Corrupt("outbox payload without an appointment".into()))?;
    serde_json::from_value(appointment)
        .map_err(|e| StoreError::Corrupt(format!("outbox appointment: {e}")))
}

/// The address mail about `appointment` goes to, per audience: the record's own email, else
/// its account's; none when neither has one.
fn recipients(
    conn: &mut DbConnection,
    appointment: &AppointmentFacts,
) -> StoreResult<Vec<(String, Audience)>> {
    let patient: Option<(String, Option<i64>)> = crate::on_backend!(conn, |c| patients::table
        .find(appointment.patient)
        .select((patients::email, patients::user_id))
        .first(c)
        .optional())?;
    let doctor: Option<(String, Option<i64>)> = crate::on_backend!(conn, |c| doctors::table
        .find(appointment.doctor)
        .select((doctors::email, doctors::user_id))
        .first(c)
        .optional())?;
    let mut out = Vec::with_capacity(2);
    for (record, audience) in [(patient, Audience::Patient), (doctor, Audience::Doctor)] {
        let Some((own, account)) = record else {
            continue;
        };
        let address = match (own.trim(), account) {
            ("", Some(user)) => crate::on_backend!(conn, |c| users::table
                .find(user)
                .select(users::email)
                .first::<String>(c)
                .optional())?
            .unwrap_or_default(),
            (own, _) => own.to_owned(),
        };
        let address = address.trim();
        if !address.is_empty() {
            out.push((address.to_owned(), audience));
        }
    }
    Ok(out)
}

/// Makes the mails of one outbox event (called by the outbox's fan-out, in its transaction):
/// one per recipient when the event mails, none otherwise. A webhook's own event (a ping, a
/// webhook reminder) never mails.
pub(crate) fn fan_out(
    conn: &mut DbConnection,
    event: i64,
    kind: Option<EventType>,
    targeted: bool,
    created_at: NaiveDateTime,
    window: Duration,
) -> StoreResult<()> {
    if targeted || !kind.is_some_and(mails) {
        return Ok(());
    }
    let payload: String = crate::on_backend!(conn, |c| outbox_events::table
        .find(event)
        .select(outbox_events::payload)
        .first(c))?;
    let appointment = appointment_of(&payload)?;
    // The appointment's changes before this event (the booking is the first): a change's
    // mails show how many came before it, a reminder's the number of the last change.
    let changes: i64 = crate::on_backend!(conn, |c| outbox_events::table
        .filter(outbox_events::appointment_id.eq(appointment.id))
        .filter(outbox_events::id.lt(event))
        .filter(outbox_events::webhook_id.is_null())
        .filter(outbox_events::mail_only.eq(false))
        .count()
        .get_result(c))?;
    let reminder = kind == Some(EventType::AppointmentReminder);
    let sequence = i32::try_from(changes - i64::from(reminder))
        .unwrap_or(i32::MAX)
        .max(0);
    let t = to_db(now());
    for (recipient, audience) in recipients(conn, &appointment)? {
        crate::on_backend!(conn, |c| diesel::insert_into(mail_messages::table)
            .values((
                mail_messages::event_id.eq(event),
                mail_messages::recipient.eq(&recipient),
                mail_messages::audience.eq(audience.as_str()),
                mail_messages::sequence.eq(sequence),
                mail_messages::next_attempt_at.eq(t),
                mail_messages::give_up_at.eq(created_at + window),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// A mail leased for one sending attempt, with what the mailer needs to write it.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    /// The mail's row.
    pub message: i64,
    /// The address it goes to.
    pub recipient: String,
    /// Whose view it shows.
    pub audience: Audience,
    /// The event type (`appointment.created`, ...).
    pub kind: EventType,
    /// The event's id.
    pub event_id: String,
    /// The appointment as the event carries it (the admin view at commit).
    pub appointment: AppointmentFacts,
    /// The doctor's first and last name.
    pub doctor_name: (String, String),
    /// The IANA zone of the doctor's working hours, if set.
    pub doctor_zone: Option<String>,
    /// The calendar entry's `SEQUENCE`: how many changes of the appointment came before.
    pub sequence: i32,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When the mail is marked failed instead of retried.
    pub give_up_at: NaiveDateTime,
    /// For a reminder: whether its appointment still starts when the reminder was made for
    /// (and is still SCHEDULED); `true` for every other event.
    pub still_due: bool,
}

#[derive(QueryableByName)]
struct LeasedMail {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    event_id: i64,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    audience: String,
    #[diesel(sql_type = Integer)]
    sequence: i32,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamp)]
    give_up_at: NaiveDateTime,
}

/// Leases up to `limit` due mails to `holder` until `lease` from now, oldest due first. A mail
/// leased by another holder whose lease has not expired is never returned.
pub fn claim(
    conn: &mut DbConnection,
    holder: &str,
    lease: Duration,
    limit: i64,
) -> StoreResult<Vec<ClaimedMail>> {
    let leased: Vec<LeasedMail> = crate::outbox::lease_due(
        conn,
        "mail_messages",
        "WHERE",
        "id, event_id, recipient, audience, sequence, attempts, give_up_at",
        (holder, lease, limit),
    )?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<i64> = leased.iter().map(|l| l.event_id).collect();
    let events: HashMap<i64, (String, String, String)> =
        crate::on_backend!(conn, |c| outbox_events::table
            .filter(outbox_events::id.eq_any(&event_ids))
            .select((
                outbox_events::id,
                outbox_events::event_id,
                outbox_events::kind,
                outbox_events::payload,
            ))
            .load::<(i64, String, String, String)>(c))?
        .into_iter()
        .map(|(id, uuid, kind, payload)| (id, (uuid, kind, payload)))
        .collect();
    // Reminders still due: the appointment is SCHEDULED, not archived, and starts when the
    // reminder was made for (looked up only when the pass leased reminders).
    let reminder_ids = crate::outbox::reminder_events(
        events.iter().map(|(id, (_, kind, _))| (*id, kind.as_str())),
    );
    let due: Vec<i64> = match reminder_ids.is_empty() {
        true => Vec::new(),
        false => crate::on_backend!(conn, |c| mail_reminders::table
            .inner_join(
                appointments::table.on(appointments::id
                    .eq(mail_reminders::appointment_id)
                    .and(appointments::appointment_datetime.eq(mail_reminders::start_at))),
            )
            .filter(mail_reminders::event_id.eq_any(&reminder_ids))
            .filter(appointments::status.eq(AppointmentStatus::Scheduled.as_str()))
            .filter(appointments::archived_at.is_null())
            .select(mail_reminders::event_id)
            .load(c))?,
    };
    let mut doctors_seen: HashMap<i64, ((String, String), Option<String>)> = HashMap::new();
    let mut claimed = Vec::with_capacity(leased.len());
    for row in leased {
        let Some((uuid, kind, payload)) = events.get(&row.event_id) else {
            continue;
        };
        let kind: EventType = kind
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("outbox event type {kind:?}")))?;
        let appointment = appointment_of(payload)?;
        let doctor = appointment.doctor;
        let (doctor_name, doctor_zone) = match doctors_seen.get(&doctor) {
            Some(known) => known.clone(),
            None => {
                let name: (String, String) = crate::on_backend!(conn, |c| doctors::table
                    .find(doctor)
                    .select((doctors::first_name, doctors::last_name))
                    .first(c))?;
                let zone: Option<String> = crate::on_backend!(conn, |c| working_hours::table
                    .find(doctor)
                    .select(working_hours::timezone)
                    .first(c)
                    .optional())?;
                doctors_seen.insert(doctor, (name.clone(), zone.clone()));
                (name, zone)
            }
        };
        claimed.push(ClaimedMail {
            message: row.id,
            recipient: row.recipient,
            audience: Audience::parse(&row.audience)?,
            still_due: kind != EventType::AppointmentReminder || due.contains(&row.event_id),
            kind,
            event_id: uuid.clone(),
            appointment,
            doctor_name,
            doctor_zone,
            sequence: row.sequence,
            attempts: row.attempts,
            give_up_at: row.give_up_at,
        });
    }
    Ok(claimed)
}

/// Records the attempt on `claimed` that ended at `at`: sent (`error` is `None`), due again
/// after `delay`, or failed when that would pass its `give_up_at`. The mail changes only while
/// `holder` still holds its lease.
pub fn finish(
    conn: &mut DbConnection,
    holder: &str,
    claimed: &ClaimedMail,
    error: Option<&str>,
    at: DateTime<Utc>,
    delay: Duration,
) -> StoreResult<()> {
    let next = to_db(at + delay);
    let (state, next_attempt, sent_at) = match error {
        None => ("sent", to_db(at), Some(to_db(at))),
        Some(_) if next > claimed.give_up_at => ("failed", to_db(at), None),
        Some(_) => ("pending", next, None),
    };
    crate::on_backend!(conn, |c| diesel::update(
        mail_messages::table
            .filter(mail_messages::id.eq(claimed.message))
            .filter(mail_messages::lease_holder.eq(holder))
    )
    .set((
        mail_messages::state.eq(state),
        mail_messages::attempts.eq(claimed.attempts + 1),
        mail_messages::next_attempt_at.eq(next_attempt),
        mail_messages::lease_holder.eq(None::<String>),
        mail_messages::lease_until.eq(None::<NaiveDateTime>),
        mail_messages::last_error.eq(error),
        mail_messages::sent_at.eq(sent_at),
    ))
    .execute(c))?;
    Ok(())
}

/// Marks a leased reminder mail whose appointment moved or was cancelled as never to be sent.
pub fn drop_stale(conn: &mut DbConnection, holder: &str, claimed: &ClaimedMail) -> StoreResult<()> {
    crate::outbox::cancel_leased(conn, "mail_messages", claimed.message, holder)
}

/// Gives back `holder`'s leases of `mails` (leased but not attempted): they are due again at
/// once, for this process or another.
pub fn release(conn: &mut DbConnection, holder: &str, mails: &[i64]) -> StoreResult<()> {
    crate::outbox::release_leased(conn, "mail_messages", mails, holder)
}

/// Queues the mail reminders that are due: each SCHEDULED, unarchived appointment starting
/// within `before` (and not yet started) gets one mail-only `appointment.reminder` event per
/// (appointment, start time), at most `limit` per call. Returns how many.
pub fn queue_reminders(
    conn: &mut DbConnection,
    before: Duration,
    limit: i64,
) -> StoreResult<usize> {
    let t = now();
    let sent = mail_reminders::table
        .filter(mail_reminders::appointment_id.eq(appointments::id))
        .filter(mail_reminders::start_at.eq(appointments::appointment_datetime));
    let due: Vec<i64> = crate::on_backend!(conn, |c| appointments::table
        .filter(appointments::status.eq(AppointmentStatus::Scheduled.as_str()))
        .filter(appointments::archived_at.is_null())
        .filter(appointments::appointment_datetime.gt(to_db(t)))
        .filter(appointments::appointment_datetime.le(to_db(t + before)))
        .filter(diesel::dsl::not(diesel::dsl::exists(sent)))
        .order(appointments::appointment_datetime.asc())
        .limit(limit)
        .select(appointments::id)
        .load(c))?;
    for &id in &due {
        let appointment = crate::appointments::find(
            conn,
            healthcare_domain::AppointmentId(id),
            healthcare_domain::Scope::All,
        )?;
        let minutes = (appointment.appointment_datetime - t).num_minutes().max(0);
        let event =
            crate::outbox::emit_mail(conn, EventType::AppointmentReminder, &appointment, minutes)?;
        crate::on_backend!(conn, |c| diesel::insert_into(mail_reminders::table)
            .values((
                mail_reminders::appointment_id.eq(id),
                mail_reminders::start_at.eq(to_db(appointment.appointment_datetime)),
                mail_reminders::event_id.eq(event),
                mail_reminders::queued_at.eq(to_db(t)),
            ))
            .execute(c))?;
    }
    Ok(due.len())
}
