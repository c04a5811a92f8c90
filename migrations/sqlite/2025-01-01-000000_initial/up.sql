-- Initial schema (SQLite). Same meaning as migrations/postgres; timestamps are TEXT written by
-- Diesel in one format ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC), so text order is time order.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL CONSTRAINT users_username_key_unique UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'doctor', 'patient')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    date_joined TIMESTAMP NOT NULL
);

CREATE TABLE patients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id),
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('M', 'F', 'O')),
    contact_number TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    medical_history TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX patients_user_idx ON patients (user_id);
CREATE INDEX patients_last_name_idx ON patients (last_name);

CREATE TABLE doctors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id) CONSTRAINT doctors_user_unique UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    specialization TEXT NOT NULL
        CHECK (specialization IN ('GP', 'CAR', 'NEU', 'PED', 'ORTH', 'DERM', 'PSY', 'RAD', 'SUR', 'OTH')),
    contact_number TEXT NOT NULL,
    email TEXT NOT NULL,
    license_number TEXT NOT NULL CONSTRAINT doctors_license_number_unique UNIQUE,
    hospital TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    experience_years INTEGER NOT NULL DEFAULT 0 CHECK (experience_years BETWEEN 0 AND 80),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX doctors_specialization_idx ON doctors (specialization);

CREATE TABLE mappings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    reason_for_assignment TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    assigned_by BIGINT REFERENCES users (id),
    assigned_date TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT mappings_pair_unique UNIQUE (doctor_id, patient_id)
);
CREATE INDEX mappings_patient_idx ON mappings (patient_id);

CREATE TABLE appointments (
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
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id);
CREATE INDEX appointments_status_start_idx ON appointments (status, appointment_datetime, id);
CREATE INDEX appointments_start_idx ON appointments (appointment_datetime, id);

CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    family TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username_key TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username_key, attempted_at);
CREATE INDEX login_failures_ip_idx ON login_failures (client_ip, attempted_at);

-- No double booking (SPEC §6): a SCHEDULED, unarchived appointment may not overlap another of the
-- same doctor or the same patient. Intervals are half-open [start, end). Writers use IMMEDIATE
-- transactions, so the check and the write are one atomic step even across processes. No
-- appointment is longer than 480 minutes, so only starts in (start - 480 min, end) can overlap:
-- the index (doctor_id, appointment_datetime) bounds the scan on both sides.
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
