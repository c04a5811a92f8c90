-- How many unarchived appointments each doctor has per UTC day and status, kept by triggers in
-- the same transaction as the change, so X-Total-Count of a list by doctor and dates sums one
-- row per day instead of reading every matching index entry (docs/persistence.md).
-- `day` is days since 1970-01-01 of appointment_datetime (UTC), the same number on both backends.
CREATE TABLE appointment_counts (
    doctor_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (doctor_id, day, status)
) WITHOUT ROWID;

INSERT INTO appointment_counts (doctor_id, day, status, n)
SELECT doctor_id, CAST(strftime('%s', date(appointment_datetime)) AS INTEGER) / 86400, status, COUNT(*)
FROM appointments WHERE archived_at IS NULL
GROUP BY 1, 2, 3;

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
