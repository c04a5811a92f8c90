-- Initial schema (PostgreSQL). Same meaning as migrations/sqlite; timestamps are TIMESTAMPTZ.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL CONSTRAINT users_username_key_unique UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'doctor', 'patient')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    date_joined TIMESTAMPTZ NOT NULL
);

CREATE TABLE patients (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT REFERENCES users (id),
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('M', 'F', 'O')),
    contact_number TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    medical_history TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE INDEX patients_user_idx ON patients (user_id);
CREATE INDEX patients_last_name_idx ON patients (last_name);

CREATE TABLE doctors (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE INDEX doctors_specialization_idx ON doctors (specialization);

CREATE TABLE mappings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    reason_for_assignment TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    assigned_by BIGINT REFERENCES users (id),
    assigned_date TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT mappings_pair_unique UNIQUE (doctor_id, patient_id)
);
CREATE INDEX mappings_patient_idx ON mappings (patient_id);

CREATE TABLE appointments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    appointment_datetime TIMESTAMPTZ NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    end_datetime TIMESTAMPTZ NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')),
    cancellation_reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ,
    CONSTRAINT appointments_end_after_start
        CHECK (end_datetime = appointment_datetime + make_interval(mins => duration_minutes)),
    CONSTRAINT appointments_doctor_no_overlap EXCLUDE USING gist (
        doctor_id WITH =,
        tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
    ) WHERE (status = 'SCHEDULED' AND archived_at IS NULL),
    CONSTRAINT appointments_patient_no_overlap EXCLUDE USING gist (
        patient_id WITH =,
        tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
    ) WHERE (status = 'SCHEDULED' AND archived_at IS NULL)
);
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id);
CREATE INDEX appointments_status_start_idx ON appointments (status, appointment_datetime, id);
CREATE INDEX appointments_start_idx ON appointments (appointment_datetime, id);

CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    family TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE login_failures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username_key TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username_key, attempted_at);
CREATE INDEX login_failures_ip_idx ON login_failures (client_ip, attempted_at);
