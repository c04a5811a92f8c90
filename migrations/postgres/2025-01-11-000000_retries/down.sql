DROP TABLE idempotency_keys;
DROP INDEX appointments_pending_idx;
UPDATE appointments SET status = 'CANCELLED' WHERE status IN ('PENDING', 'EXPIRED');
ALTER TABLE appointments DROP CONSTRAINT appointments_doctor_no_overlap;
ALTER TABLE appointments DROP CONSTRAINT appointments_patient_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_doctor_no_overlap EXCLUDE USING gist (
    doctor_id WITH =,
    tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
) WHERE (status = 'SCHEDULED' AND archived_at IS NULL);
ALTER TABLE appointments ADD CONSTRAINT appointments_patient_no_overlap EXCLUDE USING gist (
    patient_id WITH =,
    tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
) WHERE (status = 'SCHEDULED' AND archived_at IS NULL);
ALTER TABLE appointments DROP CONSTRAINT appointments_hold_expires;
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW'));
ALTER TABLE appointments DROP COLUMN expires_at;
DROP TRIGGER users_version ON users;
DROP TRIGGER patients_version ON patients;
DROP TRIGGER doctors_version ON doctors;
DROP TRIGGER mappings_version ON mappings;
DROP TRIGGER appointments_version ON appointments;
DROP TRIGGER webhooks_version ON webhooks;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE patients DROP COLUMN version;
ALTER TABLE doctors DROP COLUMN version;
ALTER TABLE doctors DROP COLUMN hours_version;
ALTER TABLE mappings DROP COLUMN version;
ALTER TABLE appointments DROP COLUMN version;
ALTER TABLE webhooks DROP COLUMN version;
DROP FUNCTION bump_version();
