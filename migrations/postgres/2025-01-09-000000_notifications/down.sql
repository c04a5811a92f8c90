DROP TABLE reminders;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_messages;
DROP TABLE outbox_events;
DROP TABLE webhooks;
