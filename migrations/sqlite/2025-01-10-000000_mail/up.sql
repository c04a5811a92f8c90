-- Email notifications (same meaning as migrations/postgres; docs/notifications.md): the
-- mails each outbox event makes, one per recipient, delivered with the webhooks' lease and
-- retry schedule, and the 24-hour reminders already queued for mail.

-- An event meant for mail alone (a mail reminder): webhook subscriptions never get it.
ALTER TABLE outbox_events ADD COLUMN mail_only BOOLEAN NOT NULL DEFAULT 0;
-- The appointment an event is about: its mails' calendar SEQUENCE counts the appointment's
-- change events before it.
ALTER TABLE outbox_events ADD COLUMN appointment_id BIGINT;
CREATE INDEX outbox_events_appointment_idx ON outbox_events (appointment_id, id) WHERE appointment_id IS NOT NULL;

-- One mail to send: `pending` until the SMTP server accepted it, `failed` after 24 hours of
-- attempts, `cancelled` (a reminder whose appointment moved or was cancelled first).
-- `audience` says whose view the mail shows: `patient` or `doctor`.
CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES outbox_events (id),
    recipient TEXT NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('patient', 'doctor')),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    sequence INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    give_up_at TIMESTAMP NOT NULL,
    lease_holder TEXT,
    lease_until TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    UNIQUE (event_id, recipient, audience)
);
CREATE INDEX mail_messages_due_idx ON mail_messages (next_attempt_at) WHERE state = 'pending';

-- Mail reminders queued: one per (appointment, start time), so each is sent once and a
-- reschedule makes a new one.
CREATE TABLE mail_reminders (
    appointment_id BIGINT NOT NULL,
    start_at TIMESTAMP NOT NULL,
    event_id BIGINT NOT NULL,
    queued_at TIMESTAMP NOT NULL,
    PRIMARY KEY (appointment_id, start_at)
);
