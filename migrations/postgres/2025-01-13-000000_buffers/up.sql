-- Doctor buffers (docs/scheduling.md "Buffers"): minutes a doctor keeps free before and after
-- each appointment. Each appointment stores the range it blocks for its doctor,
-- [start - before, end + after), taken from the doctor's buffers when its time or doctor last
-- changed (a trigger, so no write path can forget it); the doctor's no-overlap rule compares
-- those ranges, so two appointments of one doctor are at least after(A) + before(B) apart.
ALTER TABLE doctors ADD COLUMN buffer_before_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (buffer_before_minutes BETWEEN 0 AND 120);
ALTER TABLE doctors ADD COLUMN buffer_after_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (buffer_after_minutes BETWEEN 0 AND 120);

ALTER TABLE appointments ADD COLUMN blocked_from TIMESTAMPTZ;
ALTER TABLE appointments ADD COLUMN blocked_until TIMESTAMPTZ;
-- Filling the new columns is no change of the appointments (their versions stay).
ALTER TABLE appointments DISABLE TRIGGER appointments_version;
UPDATE appointments SET blocked_from = appointment_datetime, blocked_until = end_datetime;
ALTER TABLE appointments ENABLE TRIGGER appointments_version;
ALTER TABLE appointments ALTER COLUMN blocked_from SET NOT NULL;
ALTER TABLE appointments ALTER COLUMN blocked_until SET NOT NULL;

-- The blocked range is set from the doctor's buffers when the row is inserted or its doctor or
-- time changes, and kept as it is otherwise (a statement cannot set it by hand).
CREATE FUNCTION appointments_blocked_range() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_minutes INTEGER;
    after_minutes INTEGER;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.doctor_id = OLD.doctor_id
        AND NEW.appointment_datetime = OLD.appointment_datetime
        AND NEW.end_datetime = OLD.end_datetime THEN
        NEW.blocked_from := OLD.blocked_from;
        NEW.blocked_until := OLD.blocked_until;
        RETURN NEW;
    END IF;
    SELECT buffer_before_minutes, buffer_after_minutes INTO before_minutes, after_minutes
    FROM doctors WHERE id = NEW.doctor_id;
    NEW.blocked_from := NEW.appointment_datetime - make_interval(mins => COALESCE(before_minutes, 0));
    NEW.blocked_until := NEW.end_datetime + make_interval(mins => COALESCE(after_minutes, 0));
    RETURN NEW;
END $$;
CREATE TRIGGER appointments_blocked BEFORE INSERT OR UPDATE OF doctor_id, appointment_datetime,
    end_datetime, blocked_from, blocked_until ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_blocked_range();

-- Both rules are made again, the doctor's first: PostgreSQL checks them in that order, and a
-- booking that meets both is refused with the doctor's message.
ALTER TABLE appointments DROP CONSTRAINT appointments_doctor_no_overlap;
ALTER TABLE appointments DROP CONSTRAINT appointments_patient_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_doctor_no_overlap EXCLUDE USING gist (
    doctor_id WITH =,
    tstzrange(blocked_from, blocked_until, '[)') WITH &&
) WHERE (status IN ('SCHEDULED', 'PENDING') AND archived_at IS NULL);
ALTER TABLE appointments ADD CONSTRAINT appointments_patient_no_overlap EXCLUDE USING gist (
    patient_id WITH =,
    tstzrange(appointment_datetime, end_datetime, '[)') WITH &&
) WHERE (status IN ('SCHEDULED', 'PENDING') AND archived_at IS NULL);
