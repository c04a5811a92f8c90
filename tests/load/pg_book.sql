-- pgbench script: the staff booking statement the server sends to PostgreSQL (the
-- `INSERT ... SELECT ... FOR NO KEY UPDATE RETURNING` of persistence/appointments.rs), without
-- the server: what PostgreSQL alone does on this machine (docs/performance.md).
-- Needs a database seeded with `healthcare seed-demo` (doctors 1..100, patients 1..5000, user 1).
-- Client c books distinct 30-minute slots from 2200-01-01 on; give every run on the same data
-- its own -D run=K, so no two runs' slots meet:
--   pgbench -n -M prepared -D n=0 -D run=1 -c 8 -j 2 -T 8 -f tests/load/pg_book.sql postgres://.../hc_bench
\set n :n + 1
\set t 7258118400 + ((:run * 64 + :client_id) * 100000 + :n) * 1800
\set d 1 + (:n + :client_id * 13) % 100
\set p 1 + (:n * 7 + :client_id * 617) % 5000
INSERT INTO appointments (doctor_id, patient_id, appointment_datetime, duration_minutes, end_datetime, reason, status, cancellation_reason, created_by, created_at, updated_at) SELECT doctors.id, patients.id, to_timestamp(:t::bigint), 30, to_timestamp(:t::bigint + 1800), '', 'SCHEDULED', '', 1, now(), now() FROM doctors INNER JOIN patients ON patients.id = :p AND patients.archived_at IS NULL WHERE doctors.id = :d AND doctors.archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM working_hours WHERE doctor_id = :d) FOR NO KEY UPDATE RETURNING *;
