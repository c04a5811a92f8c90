DROP TRIGGER appointments_no_overlap_insert;
DROP TRIGGER appointments_no_overlap_update;
DROP TRIGGER appointments_version;
CREATE TRIGGER appointments_no_overlap_insert
BEFORE INSERT ON appointments
WHEN NEW.status IN ('SCHEDULED', 'PENDING') AND NEW.archived_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.patient_id = NEW.patient_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
CREATE TRIGGER appointments_no_overlap_update
BEFORE UPDATE OF doctor_id, patient_id, appointment_datetime, end_datetime, duration_minutes, status, archived_at ON appointments
WHEN NEW.status IN ('SCHEDULED', 'PENDING') AND NEW.archived_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.doctor_id = NEW.doctor_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.patient_id = NEW.patient_id AND a.status IN ('SCHEDULED', 'PENDING')
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
CREATE TRIGGER appointments_version AFTER UPDATE ON appointments
WHEN NEW.version = OLD.version
BEGIN
    UPDATE appointments SET version = OLD.version + 1 WHERE id = NEW.id;
END;
ALTER TABLE appointments DROP COLUMN blocked_until;
ALTER TABLE appointments DROP COLUMN blocked_from;
ALTER TABLE doctors DROP COLUMN buffer_after_minutes;
ALTER TABLE doctors DROP COLUMN buffer_before_minutes;
