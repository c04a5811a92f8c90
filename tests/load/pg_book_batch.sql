-- pgbench script: the staff booking of pg_book.sql, but :b bookings (distinct doctors, patients
-- and slots) in one multi-row statement, `ON CONFLICT DO NOTHING` (which the exclusion
-- constraints accept: a row overlapping one already inserted, even by the same statement, is
-- skipped). What PostgreSQL alone would do if the server sent concurrent bookings in batches,
-- which it does not (docs/performance.md). Simple query mode (prepared mode fails on :b):
--   pgbench -n -M simple -D n=0 -D run=1 -D b=32 -c 2 -j 2 -T 6 -f tests/load/pg_book_batch.sql postgres://.../hc_bench
-- Rows per second = tps x b. Give every run on the same data its own -D run=K, and keep runs
-- short (a client's slots stay its own for 100,000 bookings). Needs a database seeded with
-- `healthcare seed-demo` (doctors 1..100, patients 1..5000, user 1), as pg_book.sql does.
\set n :n + 1
\set t 7258118400 + ((:run * 64 + :client_id) * 100000 + :n * :b) * 1800
INSERT INTO appointments (doctor_id, patient_id, appointment_datetime, duration_minutes, end_datetime, reason, status, cancellation_reason, created_by, created_at, updated_at)
SELECT doctors.id, patients.id, to_timestamp(:t::bigint + g.i * 1800), 30, to_timestamp(:t::bigint + g.i * 1800 + 1800), '', 'SCHEDULED', '', 1, now(), now()
FROM generate_series(0, :b - 1) AS g(i)
JOIN doctors ON doctors.id = 1 + (:n * :b + g.i + :client_id * 13) % 100 AND doctors.archived_at IS NULL
JOIN patients ON patients.id = 1 + ((:n * :b + g.i) * 7 + :client_id * 617) % 5000 AND patients.archived_at IS NULL
WHERE NOT EXISTS (SELECT 1 FROM working_hours WHERE working_hours.doctor_id = doctors.id)
FOR NO KEY UPDATE OF doctors, patients
ON CONFLICT DO NOTHING RETURNING *;
