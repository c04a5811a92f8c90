//! The transactional outbox (docs/notifications.md): an event row is written in the transaction
//! of the change that causes it ([`emit`]), so an event exists exactly when its change
//! committed. A dispatcher turns new events into one message per subscription that wants them
//! ([`fan_out`]), leases due messages ([`claim`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the
//! writer's lock on SQLite), and records each attempt ([`finish_all`]); a message is retried with
//! [`retry_delay`] until its `give_up_at`.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::page::{Listed, Page};
use crate::schema::{
    appointments, mail_messages, outbox_events, reminders, webhook_deliveries, webhook_messages,
};
use crate::time::{from_db, now, to_db};
use crate::webhooks::{self, WebhookRow};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use healthcare_domain::{Appointment, Delivery, EventType, PatientId};
use serde::Serialize;
use std::collections::HashMap;

/// The most messages one fan-out statement inserts.
const FAN_OUT_ROWS: usize = 1000;

/// How long after its event a message is retried before it is marked failed.
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);

/// The wait before attempt `attempt + 1` after `attempt` failed attempts (without jitter):
/// about 5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h.
pub fn retry_delay(attempt: i32) -> Duration {
    match attempt {
        i32::MIN..=1 => Duration::seconds(5),
        2 => Duration::seconds(30),
        3 => Duration::minutes(2),
        4 => Duration::minutes(10),
        5 => Duration::hours(1),
        _ => Duration::hours(3),
    }
}

/// A version-7 UUID (RFC 9562: 48 bits of Unix milliseconds, then random bits), the id of an
/// event. Time-ordered ids keep the unique index's inserts at its right edge, where a batch of
/// commits shares one page, instead of one random page per event.
fn new_event_id(at: DateTime<Utc>) -> String {
    let mut b: [u8; 16] = rand::random();
    let ms = at.timestamp_millis().max(0) as u64;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{x:02x}"));
    }
    text
}

/// The JSON text of a timestamp as the API writes it.
fn timestamp_text(t: DateTime<Utc>) -> String {
    #[derive(Serialize)]
    struct At(#[serde(serialize_with = "healthcare_domain::timestamps::serialize")] DateTime<Utc>);
    serde_json::to_value(At(t))
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| t.to_rfc3339())
}

/// Writes event `kind` about `record` (served under `data.<key>`) into the outbox, in the
/// caller's transaction. `patient` is the patient record the event names (for the `export`
/// audit event of its deliveries).
pub fn emit<T: Serialize>(
    conn: &mut DbConnection,
    kind: EventType,
    key: &str,
    record: &T,
    patient: Option<PatientId>,
) -> StoreResult<()> {
    let mut data = serde_json::Map::new();
    data.insert(key.to_owned(), to_json(record)?);
    insert_event(conn, kind, data, patient, None, false).map(|_| ())
}

/// Writes a mail-only event about `appointment` (a mail reminder, `minutes_before` its start):
/// webhook subscriptions never get it. Returns its row id.
pub fn emit_mail(
    conn: &mut DbConnection,
    kind: EventType,
    appointment: &Appointment,
    minutes_before: i64,
) -> StoreResult<i64> {
    let mut data = serde_json::Map::new();
    data.insert("appointment".to_owned(), to_json(appointment)?);
    data.insert("minutes_before".to_owned(), minutes_before.into());
    insert_event(conn, kind, data, Some(appointment.patient), None, true)
}

/// The event of an appointment change, by what changed between `before` and `after`: a new
/// status of COMPLETED, CANCELLED or NO_SHOW, else a new time, duration or doctor
/// (`appointment.rescheduled`); nothing for a change of reason or patient alone. A hold emits
/// nothing until its confirmation, which is its `appointment.created`.
pub fn appointment_change(before: &Appointment, after: &Appointment) -> Option<EventType> {
    use healthcare_domain::AppointmentStatus as S;
    if before.status == S::Pending {
        return (after.status == S::Scheduled).then_some(EventType::AppointmentCreated);
    }
    if before.status != after.status {
        return match after.status {
            S::Completed => Some(EventType::AppointmentCompleted),
            S::Cancelled => Some(EventType::AppointmentCancelled),
            S::NoShow => Some(EventType::AppointmentNoShow),
            S::Scheduled => Some(EventType::AppointmentCreated),
            S::Pending | S::Expired => None,
        };
    }
    (before.appointment_datetime != after.appointment_datetime
        || before.duration_minutes != after.duration_minutes
        || before.doctor != after.doctor)
        .then_some(EventType::AppointmentRescheduled)
}

/// Writes an event for one subscription only (a ping, a reminder); returns its row id.
pub fn emit_to(
    conn: &mut DbConnection,
    kind: EventType,
    webhook: i64,
    data: serde_json::Map<String, serde_json::Value>,
    patient: Option<PatientId>,
) -> StoreResult<i64> {
    insert_event(conn, kind, data, patient, Some(webhook), false)
}

fn to_json<T: Serialize>(record: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(record).map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))
}

fn insert_event(
    conn: &mut DbConnection,
    kind: EventType,
    data: serde_json::Map<String, serde_json::Value>,
    patient: Option<PatientId>,
    webhook: Option<i64>,
    mail_only: bool,
) -> StoreResult<i64> {
    let t = now();
    let id = new_event_id(t);
    let appointment = data
        .get("appointment")
        .and_then(|a| a.get("id"))
        .and_then(serde_json::Value::as_i64);
    let payload = serde_json::json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": timestamp_text(t),
        "data": data,
    })
    .to_string();
    let row: i64 = crate::on_backend!(conn, |c| diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::event_id.eq(&id),
            outbox_events::kind.eq(kind.as_str()),
            outbox_events::created_at.eq(to_db(t)),
            outbox_events::payload.eq(&payload),
            outbox_events::patient_id.eq(patient.map(|p| p.0)),
            outbox_events::webhook_id.eq(webhook),
            outbox_events::mail_only.eq(mail_only),
            outbox_events::appointment_id.eq(appointment),
        ))
        .returning(outbox_events::id)
        .get_result(c))?;
    Ok(row)
}

/// Makes the messages of up to `limit` events not fanned out yet: one per active subscription
/// that wants the event's type (a ping or a reminder: its own subscription only; a mail-only
/// event: none), and, when `mail` is on, its mails (`crate::mail`). `window` scales
/// [`GIVE_UP_AFTER`]. Returns how many events it handled. Several processes may run it at
/// once: on PostgreSQL each takes other events (`SKIP LOCKED`), and a message exists once per
/// (event, subscription) (a unique key).
pub fn fan_out(
    conn: &mut DbConnection,
    limit: i64,
    window: Duration,
    mail: bool,
) -> StoreResult<usize> {
    let pending = outbox_events::table
        .filter(outbox_events::fanned_out.eq(false))
        .order(outbox_events::id.asc())
        .limit(limit)
        .select((
            outbox_events::id,
            outbox_events::kind,
            outbox_events::webhook_id,
            outbox_events::created_at,
            outbox_events::mail_only,
        ));
    let events: Vec<(i64, String, Option<i64>, NaiveDateTime, bool)> = match conn {
        DbConnection::Postgresql(c) => pending.for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => pending.load(c)?,
    };
    if events.is_empty() {
        return Ok(0);
    }
    let subscriptions: Vec<(i64, Vec<EventType>)> = webhooks::active(conn)?
        .iter()
        .map(|w| w.to_domain().map(|d| (d.id, d.events)))
        .collect::<StoreResult<_>>()?;
    let t = to_db(now());
    let mut messages = Vec::new();
    for (id, kind, only, created_at, mail_only) in &events {
        let kind: Option<EventType> = kind.parse().ok();
        if mail {
            crate::mail::fan_out(conn, *id, kind, only.is_some(), *created_at, window)?;
        }
        for (webhook, wanted) in &subscriptions {
            let targeted = match only {
                Some(one) => one == webhook,
                None => !mail_only && kind.is_some_and(|k| wanted.contains(&k)),
            };
            if targeted {
                messages.push((
                    webhook_messages::event_id.eq(*id),
                    webhook_messages::webhook_id.eq(*webhook),
                    webhook_messages::next_attempt_at.eq(t),
                    webhook_messages::give_up_at.eq(*created_at + window),
                ));
            }
        }
    }
    // One statement for the pass's messages (SQLite allows 32,766 bound values: 4 a row).
    for chunk in messages.chunks(FAN_OUT_ROWS) {
        crate::on_backend!(conn, |c| diesel::insert_into(webhook_messages::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    let ids: Vec<i64> = events.iter().map(|e| e.0).collect();
    crate::on_backend!(conn, |c| diesel::update(
        outbox_events::table.filter(outbox_events::id.eq_any(&ids))
    )
    .set(outbox_events::fanned_out.eq(true))
    .execute(c))?;
    Ok(events.len())
}

/// A message leased for one delivery attempt, with what the attempt needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The message.
    pub message: i64,
    /// The subscription.
    pub webhook: WebhookRow,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event type.
    pub kind: String,
    /// The body to POST.
    pub payload: String,
    /// The patient record the event names.
    pub patient: Option<i64>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When the message is marked failed instead of retried.
    pub give_up_at: NaiveDateTime,
    /// For a reminder: whether its appointment still starts when the reminder was made for
    /// (and is still SCHEDULED); `true` for every other event.
    pub still_due: bool,
}

#[derive(QueryableByName)]
struct LeasedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    event_id: i64,
    #[diesel(sql_type = BigInt)]
    webhook_id: i64,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamp)]
    give_up_at: NaiveDateTime,
}

/// Leases up to `limit` due messages of active subscriptions to `holder` until `lease` from
/// now, oldest due first. A message leased by another holder whose lease has not expired is
/// never returned, so each attempt is made by one process.
pub fn claim(
    conn: &mut DbConnection,
    holder: &str,
    lease: Duration,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    let leased: Vec<LeasedRow> = lease_due(
        conn,
        "webhook_messages",
        "JOIN webhooks w ON w.id = m.webhook_id WHERE w.is_active AND",
        "id, event_id, webhook_id, attempts, give_up_at",
        (holder, lease, limit),
    )?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<i64> = leased.iter().map(|l| l.event_id).collect();
    let events: HashMap<i64, (String, String, String, Option<i64>)> =
        crate::on_backend!(conn, |c| outbox_events::table
            .filter(outbox_events::id.eq_any(&event_ids))
            .select((
                outbox_events::id,
                outbox_events::event_id,
                outbox_events::kind,
                outbox_events::payload,
                outbox_events::patient_id,
            ))
            .load::<(i64, String, String, String, Option<i64>)>(c))?
        .into_iter()
        .map(|(id, uuid, kind, payload, patient)| (id, (uuid, kind, payload, patient)))
        .collect();
    // Reminders still due: the appointment is SCHEDULED, not archived, and starts when the
    // reminder was made for (looked up only when the pass leased reminders).
    let reminder_ids = reminder_events(
        events
            .iter()
            .map(|(id, (_, kind, _, _))| (*id, kind.as_str())),
    );
    let due: Vec<i64> = match reminder_ids.is_empty() {
        true => Vec::new(),
        false => crate::on_backend!(conn, |c| reminders::table
            .inner_join(
                appointments::table.on(appointments::id
                    .eq(reminders::appointment_id)
                    .and(appointments::appointment_datetime.eq(reminders::start_at))),
            )
            .filter(reminders::event_id.eq_any(&reminder_ids))
            .filter(
                appointments::status.eq(healthcare_domain::AppointmentStatus::Scheduled.as_str())
            )
            .filter(appointments::archived_at.is_null())
            .select(reminders::event_id)
            .load(c))?,
    };
    let mut subscriptions: HashMap<i64, WebhookRow> = HashMap::new();
    let mut claimed = Vec::with_capacity(leased.len());
    for row in leased {
        let Some((uuid, kind, payload, patient)) = events.get(&row.event_id).cloned() else {
            continue;
        };
        let webhook = match subscriptions.get(&row.webhook_id) {
            Some(w) => w.clone(),
            None => {
                let w = webhooks::find_row(conn, row.webhook_id)?;
                subscriptions.insert(row.webhook_id, w.clone());
                w
            }
        };
        let still_due =
            kind != EventType::AppointmentReminder.as_str() || due.contains(&row.event_id);
        claimed.push(Claimed {
            message: row.id,
            webhook,
            event_id: uuid,
            kind,
            payload,
            patient,
            attempts: row.attempts,
            give_up_at: row.give_up_at,
            still_due,
        });
    }
    Ok(claimed)
}

/// The ids of the `appointment.reminder` events among `(id, type)` pairs: the leased events
/// whose reminder may have gone stale since it was queued.
pub(crate) fn reminder_events<'a>(events: impl Iterator<Item = (i64, &'a str)>) -> Vec<i64> {
    events
        .filter(|(_, kind)| *kind == EventType::AppointmentReminder.as_str())
        .map(|(id, _)| id)
        .collect()
}

/// Leases up to `limit` due rows of `table` (a queue of `pending` rows with `next_attempt_at`,
/// `lease_holder` and `lease_until`: webhook messages, mails) to `holder` until `lease` from
/// now, oldest due first, and returns their `returning` columns. `filter` joins and narrows the
/// candidates (`m` is the table; it ends with `WHERE ... AND` or is `WHERE`). A row leased by
/// another holder whose lease has not expired is never returned: on PostgreSQL `FOR UPDATE SKIP
/// LOCKED` keeps concurrent processes apart, on SQLite the writer's lock does.
pub(crate) fn lease_due<
    R: 'static + QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite>,
>(
    conn: &mut DbConnection,
    table: &str,
    filter: &str,
    returning: &str,
    (holder, lease, limit): (&str, Duration, i64),
) -> StoreResult<Vec<R>> {
    let t = now();
    let (now_db, until) = (to_db(t), to_db(t + lease));
    let select = format!(
        "SELECT m.id FROM {table} m {filter} m.state = 'pending' AND m.next_attempt_at <= {{now}} \
         AND (m.lease_until IS NULL OR m.lease_until < {{now}}) \
         ORDER BY m.next_attempt_at LIMIT {{limit}}"
    );
    Ok(match conn {
        DbConnection::Postgresql(c) => {
            let inner = select.replace("{now}", "$3").replace("{limit}", "$4");
            diesel::sql_query(format!(
                "UPDATE {table} SET lease_holder = $1, lease_until = $2 \
                 WHERE id IN ({inner} FOR UPDATE OF m SKIP LOCKED) RETURNING {returning}"
            ))
            .bind::<Text, _>(holder)
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now_db)
            .bind::<BigInt, _>(limit)
            .load(c)?
        }
        DbConnection::Sqlite(c) => {
            let inner = select.replace("{now}", "?3").replace("{limit}", "?4");
            diesel::sql_query(format!(
                "UPDATE {table} SET lease_holder = ?1, lease_until = ?2 \
                 WHERE id IN ({inner}) RETURNING {returning}"
            ))
            .bind::<Text, _>(holder)
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now_db)
            .bind::<BigInt, _>(limit)
            .load(c)?
        }
    })
}

/// Marks leased row `id` of queue `table` as `cancelled` (never to be sent), while `holder`
/// still holds its lease.
pub(crate) fn cancel_leased(
    conn: &mut DbConnection,
    table: &str,
    id: i64,
    holder: &str,
) -> StoreResult<()> {
    update_leased(
        conn,
        table,
        "state = 'cancelled', lease_holder = NULL, lease_until = NULL",
        id,
        holder,
    )
}

/// Gives back `holder`'s leases of rows `ids` of queue `table` (see [`lease_due`]) that it
/// did not attempt: due again at once. One row at a time: a pass gives leases back only when
/// it ran out of time for them.
pub(crate) fn release_leased(
    conn: &mut DbConnection,
    table: &str,
    ids: &[i64],
    holder: &str,
) -> StoreResult<()> {
    for &id in ids {
        update_leased(
            conn,
            table,
            "lease_holder = NULL, lease_until = NULL",
            id,
            holder,
        )?;
    }
    Ok(())
}

/// Sets `set` on row `id` of queue `table` while `holder` holds its lease.
fn update_leased(
    conn: &mut DbConnection,
    table: &str,
    set: &str,
    id: i64,
    holder: &str,
) -> StoreResult<()> {
    let sql = format!("UPDATE {table} SET {set} WHERE id = {{id}} AND lease_holder = {{holder}}");
    match conn {
        DbConnection::Postgresql(c) => {
            diesel::sql_query(sql.replace("{id}", "$1").replace("{holder}", "$2"))
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(holder)
                .execute(c)?
        }
        DbConnection::Sqlite(c) => {
            diesel::sql_query(sql.replace("{id}", "?1").replace("{holder}", "?2"))
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(holder)
                .execute(c)?
        }
    };
    Ok(())
}

/// What one delivery attempt found.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: i64,
    /// Why it failed; `None` for a 2xx answer.
    pub error: Option<String>,
    /// When it ended.
    pub at: DateTime<Utc>,
}

/// Records a pass's attempts, each `(claimed, attempt, delay)`: a row of the delivery log for
/// each, and each message delivered, due again after its `delay` (the caller's
/// [`retry_delay`] with jitter), or failed when that would pass its `give_up_at`. A message
/// changes only while `holder` still holds its lease. The log rows go in one statement and the
/// delivered messages in another (a pass is mostly deliveries); a retried or failed message
/// is updated on its own.
pub fn finish_all(
    conn: &mut DbConnection,
    holder: &str,
    attempts: &[(&Claimed, &Attempt, Duration)],
) -> StoreResult<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut delivered = Vec::new();
    let mut log = Vec::with_capacity(attempts.len());
    for &(claimed, attempt, delay) in attempts {
        let number = claimed.attempts + 1;
        let next = attempt.at + delay;
        let next_attempt = match &attempt.error {
            None => {
                delivered.push(claimed.message);
                None
            }
            Some(_) => {
                let retried = to_db(next) <= claimed.give_up_at;
                let state = if retried { "pending" } else { "failed" };
                let due = to_db(if retried { next } else { attempt.at });
                crate::on_backend!(conn, |c| diesel::update(
                    webhook_messages::table
                        .filter(webhook_messages::id.eq(claimed.message))
                        .filter(webhook_messages::lease_holder.eq(holder))
                )
                .set((
                    webhook_messages::state.eq(state),
                    webhook_messages::attempts.eq(number),
                    webhook_messages::next_attempt_at.eq(due),
                    webhook_messages::lease_holder.eq(None::<String>),
                    webhook_messages::lease_until.eq(None::<NaiveDateTime>),
                ))
                .execute(c))?;
                retried.then_some(to_db(next))
            }
        };
        log.push((
            webhook_deliveries::message_id.eq(claimed.message),
            webhook_deliveries::webhook_id.eq(claimed.webhook_id()),
            webhook_deliveries::event_id.eq(&claimed.event_id),
            webhook_deliveries::kind.eq(&claimed.kind),
            webhook_deliveries::attempt.eq(number),
            webhook_deliveries::status_code.eq(attempt.status_code.map(i32::from)),
            webhook_deliveries::duration_ms.eq(attempt.duration_ms),
            webhook_deliveries::error.eq(attempt.error.as_deref()),
            webhook_deliveries::delivered_at.eq(to_db(attempt.at)),
            webhook_deliveries::next_attempt_at.eq(next_attempt),
        ));
    }
    if !delivered.is_empty() {
        // Its `next_attempt_at` stays the time it was last due: only pending messages read it.
        crate::on_backend!(conn, |c| diesel::update(
            webhook_messages::table
                .filter(webhook_messages::id.eq_any(&delivered))
                .filter(webhook_messages::lease_holder.eq(holder))
        )
        .set((
            webhook_messages::state.eq("delivered"),
            webhook_messages::attempts.eq(webhook_messages::attempts + 1),
            webhook_messages::lease_holder.eq(None::<String>),
            webhook_messages::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(c))?;
    }
    crate::on_backend!(conn, |c| diesel::insert_into(webhook_deliveries::table)
        .values(&log)
        .execute(c))?;
    Ok(())
}

/// Gives back `holder`'s leases of `messages` (leased but not attempted): they are due again
/// at once, for this process or another.
pub fn release(conn: &mut DbConnection, holder: &str, messages: &[i64]) -> StoreResult<()> {
    release_leased(conn, "webhook_messages", messages, holder)
}

/// Marks a leased reminder whose appointment moved or was cancelled as never to be sent.
pub fn drop_stale(conn: &mut DbConnection, holder: &str, claimed: &Claimed) -> StoreResult<()> {
    cancel_leased(conn, "webhook_messages", claimed.message, holder)
}

impl Claimed {
    /// The subscription's id.
    pub fn webhook_id(&self) -> i64 {
        self.webhook.id()
    }
}

type DeliveryRow = (
    i64,
    String,
    String,
    i32,
    Option<i32>,
    i64,
    Option<String>,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// One page of subscription `webhook`'s delivery attempts, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    webhook: i64,
    page: Page,
) -> StoreResult<Listed<Delivery>> {
    let of = webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(webhook));
    let total: i64 = crate::on_backend!(conn, |c| of.count().get_result(c))?;
    let rows: Vec<DeliveryRow> = crate::on_backend!(conn, |c| of
        .order(webhook_deliveries::id.desc())
        .limit(page.limit)
        .offset(page.offset)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::kind,
            webhook_deliveries::attempt,
            webhook_deliveries::status_code,
            webhook_deliveries::duration_ms,
            webhook_deliveries::error,
            webhook_deliveries::delivered_at,
            webhook_deliveries::next_attempt_at,
        ))
        .load(c))?;
    let items = rows
        .into_iter()
        .map(
            |(id, event_id, kind, attempt, status_code, duration_ms, error, at, next)| {
                Ok(Delivery {
                    id,
                    event_id,
                    kind: kind
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("delivery type {kind:?}")))?,
                    attempt,
                    status_code,
                    duration_ms,
                    error,
                    delivered_at: from_db(at),
                    next_attempt_at: next.map(from_db),
                })
            },
        )
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// Queues the message of delivery `delivery` of subscription `webhook` for another attempt now
/// (whatever its state), retried until `window` from now.
pub fn retry(
    conn: &mut DbConnection,
    webhook: i64,
    delivery: i64,
    window: Duration,
) -> StoreResult<()> {
    let message: i64 = crate::on_backend!(conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(delivery))
        .filter(webhook_deliveries::webhook_id.eq(webhook))
        .select(webhook_deliveries::message_id)
        .first(c)
        .optional())?
    .ok_or(StoreError::NotFound)?;
    let t = now();
    crate::on_backend!(conn, |c| diesel::update(
        webhook_messages::table.find(message)
    )
    .set((
        webhook_messages::state.eq("pending"),
        webhook_messages::next_attempt_at.eq(to_db(t)),
        webhook_messages::give_up_at.eq(to_db(t + window)),
    ))
    .execute(c))?;
    Ok(())
}

/// Queues the reminders that are due: for every active subscription that wants
/// `appointment.reminder`, each SCHEDULED appointment starting within one of its
/// `reminder_minutes` (and not yet started) gets one `appointment.reminder` event per (appointment,
/// subscription, offset, start time), at most `limit` in all per call. Returns how many.
pub fn queue_reminders(conn: &mut DbConnection, limit: i64) -> StoreResult<usize> {
    let t = now();
    let mut queued = 0usize;
    for row in webhooks::active(conn)? {
        let webhook = row.to_domain()?;
        if !webhook.events.contains(&EventType::AppointmentReminder) {
            continue;
        }
        for &minutes in &webhook.reminder_minutes {
            let left = limit - i64::try_from(queued).unwrap_or(limit);
            if left <= 0 {
                return Ok(queued);
            }
            let horizon = t + Duration::minutes(i64::from(minutes));
            let sent = reminders::table
                .filter(reminders::appointment_id.eq(appointments::id))
                .filter(reminders::webhook_id.eq(webhook.id))
                .filter(reminders::offset_minutes.eq(minutes))
                .filter(reminders::start_at.eq(appointments::appointment_datetime));
            let due: Vec<i64> = crate::on_backend!(conn, |c| appointments::table
                .filter(
                    appointments::status
                        .eq(healthcare_domain::AppointmentStatus::Scheduled.as_str())
                )
                .filter(appointments::archived_at.is_null())
                .filter(appointments::appointment_datetime.gt(to_db(t)))
                .filter(appointments::appointment_datetime.le(to_db(horizon)))
                .filter(diesel::dsl::not(diesel::dsl::exists(sent)))
                .order(appointments::appointment_datetime.asc())
                .limit(left)
                .select(appointments::id)
                .load(c))?;
            for id in due {
                let appointment = crate::appointments::find(
                    conn,
                    healthcare_domain::AppointmentId(id),
                    healthcare_domain::Scope::All,
                )?;
                let mut data = serde_json::Map::new();
                data.insert("appointment".to_owned(), to_json(&appointment)?);
                data.insert("minutes_before".to_owned(), minutes.into());
                let event = emit_to(
                    conn,
                    EventType::AppointmentReminder,
                    webhook.id,
                    data,
                    Some(appointment.patient),
                )?;
                crate::on_backend!(conn, |c| diesel::insert_into(reminders::table)
                    .values((
                        reminders::appointment_id.eq(id),
                        reminders::webhook_id.eq(webhook.id),
                        reminders::offset_minutes.eq(minutes),
                        reminders::start_at.eq(to_db(appointment.appointment_datetime)),
                        reminders::event_id.eq(event),
                        reminders::queued_at.eq(to_db(t)),
                    ))
                    .execute(c))?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// What the dispatcher has yet to do: events not fanned out yet, and webhook and mail messages
/// waiting for a delivery attempt (`healthcare_outbox_pending`).
pub fn pending(conn: &mut DbConnection) -> StoreResult<i64> {
    let events: i64 = outbox_events::table
        .filter(outbox_events::fanned_out.eq(false))
        .count()
        .get_result(conn)?;
    let hooks: i64 = webhook_messages::table
        .filter(webhook_messages::state.eq("pending"))
        .count()
        .get_result(conn)?;
    let mails: i64 = mail_messages::table
        .filter(mail_messages::state.eq("pending"))
        .count()
        .get_result(conn)?;
    Ok(events + hooks + mails)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_time_ordered_version_7_uuids() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T18:30:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = new_event_id(at);
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[..13], "01a24c9e-b8bb", "{id}"); // 1796581800123 ms
        assert_eq!(&id[14..15], "7");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, new_event_id(at));
        assert!(id < new_event_id(at + Duration::milliseconds(1)));
    }

    #[test]
    fn retries_follow_the_published_schedule() {
        let waits: Vec<i64> = (1..=8).map(|a| retry_delay(a).num_seconds()).collect();
        assert_eq!(waits, [5, 30, 120, 600, 3600, 10800, 10800, 10800]);
    }
}
