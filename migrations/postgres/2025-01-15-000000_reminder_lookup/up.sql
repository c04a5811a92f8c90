-- A dispatcher pass checks that the reminders it leased are still due by their outbox event:
-- without these the lookup scanned the appointments (SQLite) or the reminders (PostgreSQL).
CREATE INDEX reminders_event_idx ON reminders (event_id);
CREATE INDEX mail_reminders_event_idx ON mail_reminders (event_id);
