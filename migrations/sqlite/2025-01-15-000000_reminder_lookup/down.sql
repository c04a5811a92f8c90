DROP INDEX mail_reminders_event_idx;
DROP INDEX reminders_event_idx;
