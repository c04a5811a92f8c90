-- Safe retries and concurrent edits (docs/api.md "Retries and concurrent edits").

-- Versions behind the ETags: every UPDATE of a versioned row adds one (a trigger, so no write
-- path can forget it).
CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END $$;

ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE patients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE doctors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE mappings ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE appointments ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- Working hours are replaced as a whole (rows deleted and inserted): their version is the
-- doctor's `hours_version`, bumped by the replacement itself.
ALTER TABLE doctors ADD COLUMN hours_version BIGINT NOT NULL DEFAULT 1;

-- A statement that sets the version itself (one that returns the row it changed) is left as
-- it is.
CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW
    WHEN (NEW.version = OLD.version) EXECUTE FUNCTION bump_version();
CREATE TRIGGER patients_version BEFORE UPDATE ON patients FOR EACH ROW
    WHEN (NEW.version = OLD.version) EXECUTE FUNCTION bump_version();
CREATE TRIGGER doctors_version BEFORE UPDATE ON doctors FOR EACH ROW
    WHEN (NEW.version = OLD.version AND NEW.hours_version = OLD.hours_version)
    EXECUTE FUNCTION bump_version();
CREATE TRIGGER mappings_version BEFORE UPDATE ON mappings FOR EACH ROW
    WHEN (NEW.version = OLD.version) EXECUTE FUNCTION bump_version();
CREATE TRIGGER appointments_version BEFORE UPDATE ON appointments FOR EACH ROW
    WHEN (NEW.version = OLD.version) EXECUTE FUNCTION bump_version();
CREATE TRIGGER webhooks_version BEFORE UPDATE ON webhooks FOR EACH ROW
    WHEN (NEW.version = OLD.version) EXECUTE FUNCTION bump_version();

-- Tentative bookings: PENDING holds until expires_at, then EXPIRED. The no-overlap rule covers
-- SCHEDULED and PENDING alike; a write that meets an expired hold marks it EXPIRED first, in
-- its own transaction, so an expired hold never blocks.
ALTER TABLE appointments ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('PENDING', 'SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW', 'EXPIRED'));
ALTER TABLE appointments ADD CONSTRAINT appointments_hold_expires
    CHECK (status <> 'PENDING' OR expires_at IS NOT NULL);
ALTER TABLE appointments DROP CONSTRAINT appointments_doctor_no_overlap;
ALTER TABLE appointments DROP CONSTRAINT appointments_patient_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_doctor_no_overlap EXCLUDE USING gist (
    doctor_id WITH =,
    tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
) WHERE (status IN ('SCHEDULED', 'PENDING') AND archived_at IS NULL);
ALTER TABLE appointments ADD CONSTRAINT appointments_patient_no_overlap EXCLUDE USING gist (
    patient_id WITH =,
    tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
) WHERE (status IN ('SCHEDULED', 'PENDING') AND archived_at IS NULL);
CREATE INDEX appointments_pending_idx ON appointments (expires_at) WHERE status = 'PENDING';

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
    reserved_until TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- The stored answer; NULL while the request runs.
    status INTEGER,
    location TEXT,
    body BYTEA,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
