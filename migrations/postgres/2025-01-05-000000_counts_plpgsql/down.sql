CREATE OR REPLACE FUNCTION appointment_counts_bump(d BIGINT, t TIMESTAMPTZ, s TEXT, delta INTEGER)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO appointment_counts AS c (doctor_id, day, status, n)
    VALUES (d, (t AT TIME ZONE 'UTC')::date - DATE '1970-01-01', s, delta)
    ON CONFLICT (doctor_id, day, status) DO UPDATE SET n = c.n + EXCLUDED.n
$$;
