-- Recurring appointments (docs/scheduling.md "Series"): each occurrence is an ordinary
-- appointment that names its series.
CREATE TABLE appointment_series (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    first_start TIMESTAMPTZ NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    reason TEXT NOT NULL DEFAULT '',
    rrule TEXT NOT NULL CHECK (length(rrule) BETWEEN 1 AND 500),
    timezone TEXT NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE appointments ADD COLUMN series_id BIGINT REFERENCES appointment_series (id);
CREATE INDEX appointments_series_idx ON appointments (series_id, appointment_datetime)
    WHERE series_id IS NOT NULL;
