-- Safe retries and concurrent edits (docs/api.md "Retries and concurrent edits").

-- Versions behind the ETags: every UPDATE of a versioned row adds one (a trigger, so no write
-- path can forget it). A statement that sets the version itself is left as it is: SQLite's
-- RETURNING shows a row before its AFTER triggers ran, so the statements that return the row
-- they change bump the version themselves.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE patients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE doctors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE mappings ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- Working hours are replaced as a whole (rows deleted and inserted): their version is the
-- doctor's `hours_version`, bumped by the replacement itself.
ALTER TABLE doctors ADD COLUMN hours_version BIGINT NOT NULL DEFAULT 1;

-- Tentative bookings: PENDING holds until expires_at, then EXPIRED. SQLite cannot change a
-- CHECK constraint in place: the table is rebuilt with the wider status list, then its
-- indexes and triggers are made again (nothing references appointments by foreign key).
CREATE TABLE appointments_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    appointment_datetime TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    end_datetime TIMESTAMP NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW', 'EXPIRED')),
    cancellation_reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    expires_at TIMESTAMP,
    CHECK (status <> 'PENDING' OR expires_at IS NOT NULL)
);
INSERT INTO appointments_new (id, doctor_id, patient_id, appointment_datetime, duration_minutes,
    end_datetime, reason, status, cancellation_reason, created_by, created_at, updated_at, archived_at)
SELECT id, doctor_id, patient_id, appointment_datetime, duration_minutes, end_datetime, reason,
    status, cancellation_reason, created_by, created_at, updated_at, archived_at FROM appointments;
DROP TABLE appointments;
ALTER TABLE appointments_new RENAME TO appointments;
CREATE INDEX appointments_start_idx ON appointments (appointment_datetime, id);
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id, archived_at);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id, archived_at);
CREATE INDEX appointments_pending_idx ON appointments (expires_at) WHERE status = 'PENDING';
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

CREATE TRIGGER users_version AFTER UPDATE ON users
WHEN NEW.version = OLD.version
BEGIN
    UPDATE users SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER patients_version AFTER UPDATE ON patients
WHEN NEW.version = OLD.version
BEGIN
    UPDATE patients SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER mappings_version AFTER UPDATE ON mappings
WHEN NEW.version = OLD.version
BEGIN
    UPDATE mappings SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER appointments_version AFTER UPDATE ON appointments
WHEN NEW.version = OLD.version
BEGIN
    UPDATE appointments SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER webhooks_version AFTER UPDATE ON webhooks
WHEN NEW.version = OLD.version
BEGIN
    UPDATE webhooks SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE TRIGGER doctors_version AFTER UPDATE ON doctors
WHEN NEW.version = OLD.version AND NEW.hours_version = OLD.hours_version
BEGIN
    UPDATE doctors SET version = OLD.version + 1 WHERE id = NEW.id;
END;

-- Idempotency keys: reserved in a short transaction of their own before the work, answered in
-- the change's transaction.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    -- Who runs the request now (a random token), until `reserved_until`.
    owner TEXT NOT NULL,
    reserved_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- The stored answer; NULL while the request runs.
    status INTEGER,
    location TEXT,
    body BLOB,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
