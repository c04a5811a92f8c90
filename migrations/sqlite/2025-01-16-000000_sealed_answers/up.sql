-- Stored answers are sealed (crates/persistence/src/idempotency.rs): a sealed row's `key` is
-- the SHA-256 of the Idempotency-Key and its `body` is encrypted with a key derived from the
-- Idempotency-Key, so the database alone reads neither. Rows from before stay as they were
-- (sealed = 0) until the sweeper seals them.
ALTER TABLE idempotency_keys ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT 0;
