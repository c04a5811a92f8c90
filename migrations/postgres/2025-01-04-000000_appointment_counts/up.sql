-- How many unarchived appointments each doctor has per UTC day and status, kept by a trigger in
-- the same transaction as the change, so X-Total-Count of a list by doctor and dates sums one
-- row per day instead of reading every matching index entry (docs/persistence.md).
-- `day` is days since 1970-01-01 of appointment_datetime in UTC, the same number on both backends.
CREATE TABLE appointment_counts (
    doctor_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (doctor_id, day, status)
) WITH (fillfactor = 50); -- room on each page for the next version of a counter (HOT updates)

INSERT INTO appointment_counts (doctor_id, day, status, n)
SELECT doctor_id, (appointment_datetime AT TIME ZONE 'UTC')::date - DATE '1970-01-01', status, COUNT(*)
FROM appointments WHERE archived_at IS NULL
GROUP BY 1, 2, 3;

CREATE FUNCTION appointment_counts_bump(d BIGINT, t TIMESTAMPTZ, s TEXT, delta INTEGER)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO appointment_counts AS c (doctor_id, day, status, n)
    VALUES (d, (t AT TIME ZONE 'UTC')::date - DATE '1970-01-01', s, delta)
    ON CONFLICT (doctor_id, day, status) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

-- A change that moves an appointment between two counters takes their row locks in key order,
-- so two such changes crossing each other cannot deadlock.
CREATE FUNCTION appointment_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_counted BOOLEAN := TG_OP <> 'INSERT' AND OLD.archived_at IS NULL;
    new_counted BOOLEAN := TG_OP <> 'DELETE' AND NEW.archived_at IS NULL;
BEGIN
    IF old_counted AND new_counted
       AND (NEW.doctor_id, (NEW.appointment_datetime AT TIME ZONE 'UTC')::date, NEW.status)
         < (OLD.doctor_id, (OLD.appointment_datetime AT TIME ZONE 'UTC')::date, OLD.status) THEN
        PERFORM appointment_counts_bump(NEW.doctor_id, NEW.appointment_datetime, NEW.status, 1);
        PERFORM appointment_counts_bump(OLD.doctor_id, OLD.appointment_datetime, OLD.status, -1);
        RETURN NULL;
    END IF;
    IF old_counted THEN
        PERFORM appointment_counts_bump(OLD.doctor_id, OLD.appointment_datetime, OLD.status, -1);
    END IF;
    IF new_counted THEN
        PERFORM appointment_counts_bump(NEW.doctor_id, NEW.appointment_datetime, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER appointment_counts_insert_delete
AFTER INSERT OR DELETE ON appointments
FOR EACH ROW EXECUTE FUNCTION appointment_counts_apply();

CREATE TRIGGER appointment_counts_update
AFTER UPDATE OF doctor_id, appointment_datetime, status, archived_at ON appointments
FOR EACH ROW
WHEN (OLD.doctor_id IS DISTINCT FROM NEW.doctor_id
   OR OLD.appointment_datetime IS DISTINCT FROM NEW.appointment_datetime
   OR OLD.status IS DISTINCT FROM NEW.status
   OR OLD.archived_at IS DISTINCT FROM NEW.archived_at)
EXECUTE FUNCTION appointment_counts_apply();
