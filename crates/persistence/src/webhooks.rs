//! Webhook subscriptions (docs/notifications.md): create, list, find, change, deactivate and
//! rotate the signing secret. `events` and `reminder_minutes` are stored as JSON arrays.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::page::{Listed, Page};
use crate::schema::webhooks;
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use healthcare_domain::{EventType, NewWebhook, Webhook, WebhookChanges};

/// A stored subscription.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    id: i64,
    url: String,
    events: String,
    description: String,
    is_active: bool,
    reminder_minutes: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    version: i64,
}

impl WebhookRow {
    /// The subscription as served.
    pub fn to_domain(&self) -> StoreResult<Webhook> {
        Ok(Webhook {
            id: self.id,
            url: self.url.clone(),
            events: events_of(&self.events)?,
            description: self.description.clone(),
            is_active: self.is_active,
            reminder_minutes: serde_json::from_str(&self.reminder_minutes)
                .map_err(|e| StoreError::Corrupt(format!("webhook reminder_minutes: {e}")))?,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            version: self.version,
        })
    }

    /// The secrets that sign a delivery at `t`: the current one, and the one it replaced while
    /// that is still inside its overlap.
    pub fn signing_secrets(&self, t: DateTime<Utc>) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if from_db(until) > t {
                secrets.push(old.clone());
            }
        }
        secrets
    }

    /// The subscription's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The URL events are POSTed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The current secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// The event types of a stored `events` column.
pub fn events_of(text: &str) -> StoreResult<Vec<EventType>> {
    let names: Vec<String> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("webhook events: {e}")))?;
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|_| StoreError::Corrupt(format!("webhook event type {n:?}")))
        })
        .collect()
}

fn events_text(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

fn minutes_text(minutes: &[i32]) -> String {
    serde_json::to_string(minutes).unwrap_or_else(|_| "[]".to_owned())
}

/// Stores a new subscription with its signing `secret`.
pub fn create(conn: &mut DbConnection, input: &NewWebhook, secret: &str) -> StoreResult<Webhook> {
    let t = to_db(now());
    let row: WebhookRow = crate::on_backend!(conn, |c| diesel::insert_into(webhooks::table)
        .values((
            webhooks::url.eq(&input.url),
            webhooks::events.eq(events_text(&input.events)),
            webhooks::description.eq(&input.description),
            webhooks::is_active.eq(input.is_active),
            webhooks::reminder_minutes.eq(minutes_text(&input.reminder_minutes)),
            webhooks::secret.eq(secret),
            webhooks::created_at.eq(t),
            webhooks::updated_at.eq(t),
        ))
        .returning(WebhookRow::as_returning())
        .get_result(c))?;
    row.to_domain()
}

/// One page of subscriptions, oldest first.
pub fn list(conn: &mut DbConnection, page: Page) -> StoreResult<Listed<Webhook>> {
    let total: i64 = crate::on_backend!(conn, |c| webhooks::table.count().get_result(c))?;
    let rows: Vec<WebhookRow> = crate::on_backend!(conn, |c| webhooks::table
        .order(webhooks::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .select(WebhookRow::as_select())
        .load(c))?;
    let items = rows
        .iter()
        .map(WebhookRow::to_domain)
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// The stored subscription `id` (with its secrets).
pub fn find_row(conn: &mut DbConnection, id: i64) -> StoreResult<WebhookRow> {
    crate::on_backend!(conn, |c| webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(c)
        .optional())?
    .ok_or(StoreError::NotFound)
}

/// The subscription `id` as served.
pub fn find(conn: &mut DbConnection, id: i64) -> StoreResult<Webhook> {
    find_row(conn, id)?.to_domain()
}

/// The active subscriptions (with their secrets), for the dispatcher.
pub fn active(conn: &mut DbConnection) -> StoreResult<Vec<WebhookRow>> {
    Ok(crate::on_backend!(conn, |c| webhooks::table
        .filter(webhooks::is_active.eq(true))
        .order(webhooks::id.asc())
        .select(WebhookRow::as_select())
        .load(c))?)
}

/// The columns a change writes.
#[derive(AsChangeset)]
#[diesel(table_name = webhooks)]
struct WebhookUpdate {
    url: Option<String>,
    events: Option<String>,
    description: Option<String>,
    is_active: Option<bool>,
    reminder_minutes: Option<String>,
    updated_at: NaiveDateTime,
}

/// Applies a partial change to subscription `id`.
pub fn update(conn: &mut DbConnection, id: i64, changes: &WebhookChanges) -> StoreResult<Webhook> {
    let set = WebhookUpdate {
        url: changes.url.clone(),
        events: changes.events.as_deref().map(events_text),
        description: changes.description.clone(),
        is_active: changes.is_active,
        reminder_minutes: changes.reminder_minutes.as_deref().map(minutes_text),
        updated_at: to_db(now()),
    };
    let row: Option<WebhookRow> =
        // The version is bumped here, not by the table's trigger, so that the returned row has it.
        crate::on_backend!(conn, |c| diesel::update(webhooks::table.find(id))
            .set((&set, webhooks::version.eq(webhooks::version + 1)))
            .returning(WebhookRow::as_returning())
            .get_result(c)
            .optional())?;
    row.ok_or(StoreError::NotFound)?.to_domain()
}

/// Queues a `ping` event for subscription `id` only; [`StoreError::WebhookInactive`] when it is
/// not active (an inactive subscription is sent nothing, so the ping would never go).
pub fn queue_ping(conn: &mut DbConnection, id: i64) -> StoreResult<()> {
    if !find_row(conn, id)?.is_active {
        return Err(StoreError::WebhookInactive);
    }
    let mut data = serde_json::Map::new();
    data.insert("webhook_id".to_owned(), id.into());
    crate::outbox::emit_to(conn, EventType::Ping, id, data, None).map(|_| ())
}

/// Deactivates subscription `id` (DELETE: its delivery log stays).
pub fn deactivate(conn: &mut DbConnection, id: i64) -> StoreResult<Webhook> {
    update(
        conn,
        id,
        &WebhookChanges {
            is_active: Some(false),
            ..WebhookChanges::default()
        },
    )
}

/// Replaces the signing secret of subscription `id` by `secret`; the old one keeps signing
/// beside it until `overlap_until`.
pub fn rotate_secret(
    conn: &mut DbConnection,
    id: i64,
    secret: &str,
    overlap_until: DateTime<Utc>,
) -> StoreResult<Webhook> {
    let current = find_row(conn, id)?;
    let row: WebhookRow = crate::on_backend!(conn, |c| diesel::update(webhooks::table.find(id))
        .set((
            webhooks::previous_secret.eq(Some(&current.secret)),
            webhooks::previous_secret_until.eq(Some(to_db(overlap_until))),
            webhooks::secret.eq(secret),
            webhooks::updated_at.eq(to_db(now())),
            webhooks::version.eq(webhooks::version + 1),
        ))
        .returning(WebhookRow::as_returning())
        .get_result(c))?;
    row.to_domain()
}
