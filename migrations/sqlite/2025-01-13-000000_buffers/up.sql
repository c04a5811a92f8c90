-- Doctor buffers (docs/scheduling.md "Buffers"): minutes a doctor keeps free before and after
-- each appointment. Each appointment stores the range it blocks for its doctor,
-- [start - before, end + after), taken from the doctor's buffers when its time or doctor last
-- changed; the doctor's no-overlap rule compares those ranges, so two appointments of one
-- doctor are at least after(A) + before(B) apart.
--
-- SQLite triggers cannot change NEW: the range is written by the AFTER triggers below right
-- after the row (an UPDATE of the two columns alone, which no other trigger listens to), and
-- the no-overlap checks move into those triggers, after it: a RAISE(ABORT) there undoes the
-- whole statement as before. The doctor is checked before the patient, so a booking that hits
-- both is refused with the doctor's message, as before.
ALTER TABLE doctors ADD COLUMN buffer_before_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (buffer_before_minutes BETWEEN 0 AND 120);
ALTER TABLE doctors ADD COLUMN buffer_after_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (buffer_after_minutes BETWEEN 0 AND 120);

ALTER TABLE appointments ADD COLUMN blocked_from TIMESTAMP;
ALTER TABLE appointments ADD COLUMN blocked_until TIMESTAMP;

-- The version trigger now names the columns whose change is a change of the appointment (a
-- new column of the table must be added here), so writing the blocked range bumps nothing.
DROP TRIGGER appointments_version;
UPDATE appointments SET blocked_from = appointment_datetime, blocked_until = end_datetime;
CREATE TRIGGER appointments_version
AFTER UPDATE OF doctor_id, patient_id, appointment_datetime, duration_minutes, end_datetime,
    reason, status, cancellation_reason, created_by, created_at, updated_at, archived_at,
    expires_at, series_id ON appointments
WHEN NEW.version = OLD.version
BEGIN
    UPDATE appointments SET version = OLD.version + 1 WHERE id = NEW.id;
END;

DROP TRIGGER appointments_no_overlap_insert;
DROP TRIGGER appointments_no_overlap_update;

-- Times are compared as stored text; a zero buffer keeps the stored time itself. An
-- appointment lasts at most 480 minutes and a buffer 120, so only appointments starting in
-- (start - 720 min, end + 240 min) can meet the range: the bounds that use the index.
CREATE TRIGGER appointments_no_overlap_insert
AFTER INSERT ON appointments
BEGIN
    UPDATE appointments SET
        blocked_from = (SELECT CASE d.buffer_before_minutes WHEN 0 THEN NEW.appointment_datetime
            ELSE datetime(NEW.appointment_datetime, printf('-%d minutes', d.buffer_before_minutes)) END
            FROM doctors d WHERE d.id = NEW.doctor_id),
        blocked_until = (SELECT CASE d.buffer_after_minutes WHEN 0 THEN NEW.end_datetime
            ELSE datetime(NEW.end_datetime, printf('+%d minutes', d.buffer_after_minutes)) END
            FROM doctors d WHERE d.id = NEW.doctor_id)
    WHERE id = NEW.id;
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap')
    FROM appointments n
    WHERE n.id = NEW.id AND n.status IN ('SCHEDULED', 'PENDING') AND n.archived_at IS NULL
      AND EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> n.id AND a.doctor_id = n.doctor_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(n.appointment_datetime, '-720 minutes')
          AND a.appointment_datetime < datetime(n.end_datetime, '+240 minutes')
          AND a.blocked_from < n.blocked_until AND a.blocked_until > n.blocked_from);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE NEW.status IN ('SCHEDULED', 'PENDING')
      AND NEW.archived_at IS NULL AND EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.patient_id = NEW.patient_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
CREATE TRIGGER appointments_no_overlap_update
AFTER UPDATE OF doctor_id, patient_id, appointment_datetime, end_datetime, duration_minutes, status, archived_at ON appointments
BEGIN
    UPDATE appointments SET
        blocked_from = (SELECT CASE d.buffer_before_minutes WHEN 0 THEN NEW.appointment_datetime
            ELSE datetime(NEW.appointment_datetime, printf('-%d minutes', d.buffer_before_minutes)) END
            FROM doctors d WHERE d.id = NEW.doctor_id),
        blocked_until = (SELECT CASE d.buffer_after_minutes WHEN 0 THEN NEW.end_datetime
            ELSE datetime(NEW.end_datetime, printf('+%d minutes', d.buffer_after_minutes)) END
            FROM doctors d WHERE d.id = NEW.doctor_id)
    WHERE id = NEW.id AND (NEW.doctor_id IS NOT OLD.doctor_id
        OR NEW.appointment_datetime IS NOT OLD.appointment_datetime
        OR NEW.end_datetime IS NOT OLD.end_datetime);
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap')
    FROM appointments n
    WHERE n.id = NEW.id AND n.status IN ('SCHEDULED', 'PENDING') AND n.archived_at IS NULL
      AND EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> n.id AND a.doctor_id = n.doctor_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(n.appointment_datetime, '-720 minutes')
          AND a.appointment_datetime < datetime(n.end_datetime, '+240 minutes')
          AND a.blocked_from < n.blocked_until AND a.blocked_until > n.blocked_from);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE NEW.status IN ('SCHEDULED', 'PENDING')
      AND NEW.archived_at IS NULL AND EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.patient_id = NEW.patient_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
