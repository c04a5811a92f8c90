-- Indexes for a large appointment table (measured at 1,000,000 rows, docs/performance.md).
--
-- 1. Without statistics SQLite's planner rates an index on (status, appointment_datetime) as
--    good as one on (doctor_id, appointment_datetime) for the overlap check of the triggers,
--    and picked it: every booking then scanned the SCHEDULED appointments of *all* doctors in
--    an 8.5-hour window. The status index goes; a status-only list is served by
--    appointments_start_idx (range on the date, status filtered), and bookings update one index
--    less.
-- 2. The per-doctor and per-patient indexes also carry archived_at, so counting a list
--    (X-Total-Count: "archived_at IS NULL AND doctor_id = ? AND appointment_datetime >= ?") is
--    answered from the index alone, without reading each row.
DROP INDEX appointments_status_start_idx;
DROP INDEX appointments_doctor_start_idx;
DROP INDEX appointments_patient_start_idx;
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id, archived_at);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id, archived_at);
