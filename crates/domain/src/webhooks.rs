//! Webhook subscriptions (docs/notifications.md): a subscription as an admin creates and
//! changes it, as the API serves it, and one delivery attempt as the delivery log serves it.
//! Whether a URL's host may be reached (no loopback or private address) is decided where it is
//! resolved, in the API crate.

use crate::enums::EventType;
use crate::errors::FieldErrors;
use crate::raw::{Mode, Raw, RawObject, Reader};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Shortest webhook URL, characters: a scheme and a one-letter host (`http://h`).
pub const MIN_URL: usize = "http://h".len();
/// Longest webhook URL, characters.
pub const MAX_URL: usize = 2000;
/// Longest description, characters.
pub const MAX_DESCRIPTION: usize = 500;
/// Most reminder offsets one subscription may ask for.
pub const MAX_REMINDERS: usize = 5;
/// Earliest reminder offset, minutes before the start: one week.
pub const MAX_REMINDER_MINUTES: i64 = 7 * 24 * 60;
/// Reminder offsets of a subscription that does not name any: a day before the start.
pub const DEFAULT_REMINDER_MINUTES: [i32; 1] = [1440];

/// A webhook subscription as served (its secret is shown only once, in [`CreatedWebhook`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Identifier.
    pub id: i64,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// The event types delivered (`ping` is always delivered).
    pub events: Vec<EventType>,
    /// Free text.
    pub description: String,
    /// Inactive subscriptions get nothing new.
    pub is_active: bool,
    /// Minutes before an appointment's start at which `appointment.reminder` is sent.
    pub reminder_minutes: Vec<i32>,
    /// When it was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The version behind the record's `ETag`, bumped by every change (not in the JSON).
    #[serde(skip)]
    pub version: i64,
}

/// A subscription with its signing secret: the answer of a create or a secret rotation, the
/// only answers that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the key of the `webhook-signature` HMAC.
    pub secret: String,
}

/// One delivery attempt of an event to a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Identifier of the attempt.
    pub id: i64,
    /// The event's id (the payload's `id` and the `webhook-id` header).
    pub event_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// 1 for the first attempt of this event to this subscription.
    pub attempt: i32,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long the attempt took, ms.
    pub duration_ms: i64,
    /// Why it failed (`null` on a 2xx answer).
    pub error: Option<String>,
    /// When the attempt ended.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    pub delivered_at: DateTime<Utc>,
    /// When the next attempt is due (`null` when delivered or given up).
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A new subscription: `{url, events, description, is_active, reminder_minutes}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = WebhookCreate, example = json!({"url": "https://clinic.example.org/hooks", "events": ["appointment.created", "appointment.cancelled", "appointment.reminder"], "description": "front desk", "reminder_minutes": [1440, 60]}))
)]
pub struct NewWebhook {
    /// Where events are POSTed.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_url))]
    pub url: String,
    /// Event types to deliver (at least one; no repeats).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_events))]
    pub events: Vec<EventType>,
    /// Free text.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_description, required = false))]
    pub description: String,
    /// Default true.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub is_active: bool,
    /// Reminder offsets.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reminder_minutes, required = false))]
    pub reminder_minutes: Vec<i32>,
}

/// Changes to a subscription (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = WebhookUpdate, example = json!({"is_active": false}))
)]
pub struct WebhookChanges {
    /// Where events are POSTed.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_url))]
    pub url: Option<String>,
    /// Event types to deliver.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_events))]
    pub events: Option<Vec<EventType>>,
    /// Free text.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_description))]
    pub description: Option<String>,
    /// Active or not.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub is_active: Option<bool>,
    /// Reminder offsets.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reminder_minutes))]
    pub reminder_minutes: Option<Vec<i32>>,
}

impl NewWebhook {
    /// Parses a create body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let url = read_url(&mut r);
        let events = read_events(&mut r);
        let description = read_description(&mut r);
        let is_active = r.boolean("is_active", true);
        let reminder_minutes = if r.has("reminder_minutes") {
            read_reminders(&mut r)
        } else {
            Some(DEFAULT_REMINDER_MINUTES.to_vec())
        };
        match (url, events, is_active, reminder_minutes) {
            (Some(url), Some(events), Some(is_active), Some(reminder_minutes))
                if r.errors.is_empty() =>
            {
                Ok(Self {
                    url,
                    events,
                    description: description.unwrap_or_default(),
                    is_active,
                    reminder_minutes,
                })
            }
            _ => Err(r.errors),
        }
    }
}

impl WebhookChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let url = r.has("url").then(|| read_url(&mut r)).flatten();
        let events = r.has("events").then(|| read_events(&mut r)).flatten();
        let description = read_description(&mut r);
        let is_active = if r.has("is_active") {
            r.boolean("is_active", true)
        } else {
            None
        };
        let reminder_minutes = r
            .has("reminder_minutes")
            .then(|| read_reminders(&mut r))
            .flatten();
        r.finish(|| Self {
            url,
            events,
            description,
            is_active,
            reminder_minutes,
        })
    }
}

fn read_url(r: &mut Reader<'_>) -> Option<String> {
    let url = r.text("url", MAX_URL)?;
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !url.chars().any(char::is_whitespace) => Some(url),
        _ => {
            r.errors.add("url", "Enter a valid http or https URL.");
            None
        }
    }
}

fn read_description(r: &mut Reader<'_>) -> Option<String> {
    if !r.has("description") {
        return None;
    }
    r.optional_text("description", MAX_DESCRIPTION)
}

fn read_events(r: &mut Reader<'_>) -> Option<Vec<EventType>> {
    let items = r.list("events", EventType::ALL.len())?;
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Raw::Str(s) => match s.parse::<EventType>() {
                Ok(e) if events.contains(&e) => {
                    r.errors.add("events", format!("\"{s}\" is listed twice."));
                }
                Ok(e) => events.push(e),
                Err(_) => r
                    .errors
                    .add("events", format!("\"{s}\" is not a valid choice.")),
            },
            other => r.errors.add(
                "events",
                format!("Expected a string but got type \"{}\".", other.type_name()),
            ),
        }
    }
    if items.is_empty() {
        r.errors.add("events", "This list may not be empty.");
    }
    (!r.errors.has("events")).then_some(events)
}

fn read_reminders(r: &mut Reader<'_>) -> Option<Vec<i32>> {
    let items = r.list("reminder_minutes", MAX_REMINDERS)?;
    let mut minutes = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Raw::Int(m) if (1..=MAX_REMINDER_MINUTES).contains(m) => {
                let m = i32::try_from(*m).unwrap_or(i32::MAX);
                if minutes.contains(&m) {
                    r.errors
                        .add("reminder_minutes", format!("{m} is listed twice."));
                } else {
                    minutes.push(m);
                }
            }
            _ => r.errors.add(
                "reminder_minutes",
                format!("Each entry must be a whole number of minutes from 1 to {MAX_REMINDER_MINUTES}."),
            ),
        }
    }
    (!r.errors.has("reminder_minutes")).then_some(minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> RawObject {
        serde_json::from_str(json).expect("test body")
    }

    #[test]
    fn a_create_body_is_read_with_its_defaults() {
        let w = NewWebhook::parse(&body(
            r#"{"url": "https://h.example/x", "events": ["appointment.created"]}"#,
        ))
        .expect("valid");
        assert_eq!(w.events, vec![EventType::AppointmentCreated]);
        assert!(w.is_active);
        assert_eq!(w.reminder_minutes, vec![1440]);
        assert_eq!(w.description, "");
    }

    #[test]
    fn bad_fields_are_named() {
        let e = NewWebhook::parse(&body(
            r#"{"url": "ftp://h", "events": ["nope", "ping", "ping"], "reminder_minutes": [0, 60, 60]}"#,
        ))
        .expect_err("invalid");
        for field in ["url", "events", "reminder_minutes"] {
            assert!(e.has(field), "{field}: {e:?}");
        }
        let e = NewWebhook::parse(&body(r#"{"url": "https://h", "events": []}"#))
            .expect_err("empty events");
        assert!(e.has("events"));
        let e = NewWebhook::parse(&body(r#"{}"#)).expect_err("missing");
        assert!(e.has("url") && e.has("events"));
    }

    #[test]
    fn a_patch_reads_only_what_it_names() {
        let c = WebhookChanges::parse(&body(r#"{"is_active": false}"#)).expect("valid");
        assert_eq!(
            c,
            WebhookChanges {
                is_active: Some(false),
                ..WebhookChanges::default()
            }
        );
        assert!(WebhookChanges::parse(&body(r#"{"url": "nope"}"#)).is_err());
    }
}
