-- Notifications (same meaning as migrations/postgres; docs/notifications.md): webhook
-- subscriptions, the transactional outbox, one message per (event, subscription) to deliver,
-- the log of delivery attempts, and the reminders already queued.

-- A subscription. `events` and `reminder_minutes` are JSON arrays. `previous_secret` keeps
-- signing beside `secret` until `previous_secret_until` (after a rotation).
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    reminder_minutes TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per event, written in the transaction of the change that caused it. `payload` is
-- the body delivered. `webhook_id` names the one subscription of a ping or a reminder.
-- `fanned_out` turns true when its messages exist.
CREATE TABLE outbox_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    payload TEXT NOT NULL,
    patient_id BIGINT,
    webhook_id BIGINT,
    fanned_out BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX outbox_events_unfanned_idx ON outbox_events (id) WHERE fanned_out = 0;

-- What one subscription must be sent of one event: `pending` until delivered, `failed`
-- after 24 hours of attempts, or `cancelled` (a reminder whose appointment moved or was
-- cancelled before it went out). A dispatcher leases a due message (`lease_holder`,
-- `lease_until`) for the length of one attempt.
CREATE TABLE webhook_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES outbox_events (id),
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    give_up_at TIMESTAMP NOT NULL,
    lease_holder TEXT,
    lease_until TIMESTAMP,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_messages_due_idx ON webhook_messages (next_attempt_at) WHERE state = 'pending';

-- One row per delivery attempt.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BIGINT NOT NULL REFERENCES webhook_messages (id),
    webhook_id BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    delivered_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

-- Reminders queued: one per (appointment, subscription, offset, start time), so each is sent
-- once, and a reschedule (a new start time) makes a new one.
CREATE TABLE reminders (
    appointment_id BIGINT NOT NULL,
    webhook_id BIGINT NOT NULL,
    offset_minutes INTEGER NOT NULL,
    start_at TIMESTAMP NOT NULL,
    event_id BIGINT NOT NULL,
    queued_at TIMESTAMP NOT NULL,
    PRIMARY KEY (appointment_id, webhook_id, offset_minutes, start_at)
);
