DROP TABLE idempotency_keys;
DROP TRIGGER users_version;
DROP TRIGGER patients_version;
DROP TRIGGER doctors_version;
DROP TRIGGER mappings_version;
DROP TRIGGER appointments_version;
DROP TRIGGER webhooks_version;
UPDATE appointments SET status = 'CANCELLED' WHERE status IN ('PENDING', 'EXPIRED');
CREATE TABLE appointments_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    appointment_datetime TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    end_datetime TIMESTAMP NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')),
    cancellation_reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
INSERT INTO appointments_old SELECT id, doctor_id, patient_id, appointment_datetime, duration_minutes,
    end_datetime, reason, status, cancellation_reason, created_by, created_at, updated_at, archived_at
FROM appointments;
DROP TABLE appointments;
ALTER TABLE appointments_old RENAME TO appointments;
CREATE INDEX appointments_start_idx ON appointments (appointment_datetime, id);
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id, archived_at);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id, archived_at);
CREATE TRIGGER appointments_no_overlap_insert
BEFORE INSERT ON appointments
WHEN NEW.status = 'SCHEDULED' AND NEW.archived_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.status = 'SCHEDULED' AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.patient_id = NEW.patient_id AND a.status = 'SCHEDULED' AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
CREATE TRIGGER appointments_no_overlap_update
BEFORE UPDATE OF doctor_id, patient_id, appointment_datetime, end_datetime, duration_minutes, status, archived_at
ON appointments
WHEN NEW.status = 'SCHEDULED' AND NEW.archived_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'appointments_doctor_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.doctor_id = NEW.doctor_id AND a.status = 'SCHEDULED'
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
    SELECT RAISE(ABORT, 'appointments_patient_no_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.id <> NEW.id AND a.patient_id = NEW.patient_id AND a.status = 'SCHEDULED'
          AND a.archived_at IS NULL
          AND a.appointment_datetime > datetime(NEW.appointment_datetime, '-480 minutes')
          AND a.appointment_datetime < NEW.end_datetime AND a.end_datetime > NEW.appointment_datetime);
END;
CREATE TRIGGER appointment_counts_insert
AFTER INSERT ON appointments
WHEN NEW.archived_at IS NULL
BEGIN
    INSERT INTO appointment_counts (doctor_id, day, status, n) VALUES
        (NEW.doctor_id, CAST(strftime('%s', date(NEW.appointment_datetime)) AS INTEGER) / 86400, NEW.status, 1)
    ON CONFLICT (doctor_id, day, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER appointment_counts_update
AFTER UPDATE OF doctor_id, appointment_datetime, status, archived_at ON appointments
WHEN OLD.doctor_id IS NOT NEW.doctor_id OR OLD.appointment_datetime IS NOT NEW.appointment_datetime
  OR OLD.status IS NOT NEW.status OR OLD.archived_at IS NOT NEW.archived_at
BEGIN
    UPDATE appointment_counts SET n = n - 1
    WHERE OLD.archived_at IS NULL AND doctor_id = OLD.doctor_id
      AND day = CAST(strftime('%s', date(OLD.appointment_datetime)) AS INTEGER) / 86400
      AND status = OLD.status;
    INSERT INTO appointment_counts (doctor_id, day, status, n)
    SELECT NEW.doctor_id, CAST(strftime('%s', date(NEW.appointment_datetime)) AS INTEGER) / 86400, NEW.status, 1
    WHERE NEW.archived_at IS NULL
    ON CONFLICT (doctor_id, day, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER appointment_counts_delete
AFTER DELETE ON appointments
WHEN OLD.archived_at IS NULL
BEGIN
    UPDATE appointment_counts SET n = n - 1
    WHERE doctor_id = OLD.doctor_id
      AND day = CAST(strftime('%s', date(OLD.appointment_datetime)) AS INTEGER) / 86400
      AND status = OLD.status;
END;

ALTER TABLE users DROP COLUMN version;
ALTER TABLE patients DROP COLUMN version;
ALTER TABLE doctors DROP COLUMN version;
ALTER TABLE doctors DROP COLUMN hours_version;
ALTER TABLE mappings DROP COLUMN version;
ALTER TABLE webhooks DROP COLUMN version;
