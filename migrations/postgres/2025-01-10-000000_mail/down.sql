DROP TABLE mail_reminders;
DROP TABLE mail_messages;
DROP INDEX outbox_events_appointment_idx;
ALTER TABLE outbox_events DROP COLUMN appointment_id;
ALTER TABLE outbox_events DROP COLUMN mail_only;
