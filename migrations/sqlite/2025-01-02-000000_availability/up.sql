-- Doctor availability (SQLite): weekly working hours in the doctor's IANA time zone, and time off.
-- Same meaning as migrations/postgres. Times of day are minutes after local midnight (0..1439);
-- weekdays are 0 = Monday .. 6 = Sunday. Timestamps are TEXT in Diesel's one format (UTC).

-- One row per doctor that has working hours; no row means "no working hours" (any time).
CREATE TABLE working_hours (
    doctor_id BIGINT PRIMARY KEY NOT NULL REFERENCES doctors (id),
    timezone TEXT NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE working_hours_intervals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctor_id BIGINT NOT NULL REFERENCES working_hours (doctor_id) ON DELETE CASCADE,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1439),
    CONSTRAINT working_hours_intervals_order CHECK (start_minute < end_minute)
);
CREATE INDEX working_hours_intervals_doctor_idx
    ON working_hours_intervals (doctor_id, weekday, start_minute);

-- Time off is configuration, not clinical history: DELETE through the API removes the row.
CREATE TABLE time_off (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT time_off_order CHECK (start_at < end_at)
);
CREATE INDEX time_off_doctor_start_idx ON time_off (doctor_id, start_at);
