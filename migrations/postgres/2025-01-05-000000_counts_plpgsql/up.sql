-- appointment_counts_bump was LANGUAGE sql: called from the plpgsql trigger it cannot be inlined,
-- and PostgreSQL parses and plans a SQL function's statement again on every call (a tenth of the
-- server's CPU per booking under load, docs/performance.md). As plpgsql its statement is planned
-- once per connection and the plan kept. Same statement, same effect.
CREATE OR REPLACE FUNCTION appointment_counts_bump(d BIGINT, t TIMESTAMPTZ, s TEXT, delta INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO appointment_counts AS c (doctor_id, day, status, n)
    VALUES (d, (t AT TIME ZONE 'UTC')::date - DATE '1970-01-01', s, delta)
    ON CONFLICT (doctor_id, day, status) DO UPDATE SET n = c.n + EXCLUDED.n;
END
$$;
