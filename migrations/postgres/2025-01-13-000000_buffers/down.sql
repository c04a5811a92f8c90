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
DROP TRIGGER appointments_blocked ON appointments;
DROP FUNCTION appointments_blocked_range();
ALTER TABLE appointments DROP COLUMN blocked_until;
ALTER TABLE appointments DROP COLUMN blocked_from;
ALTER TABLE doctors DROP COLUMN buffer_after_minutes;
ALTER TABLE doctors DROP COLUMN buffer_before_minutes;
