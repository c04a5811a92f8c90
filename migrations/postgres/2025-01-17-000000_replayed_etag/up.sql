-- A replayed answer (docs/api.md "Idempotency-Key") carries the ETag its first answer had.
-- Answers stored before have none (NULL) and are replayed without it. A new nullable column:
-- safe to apply while older processes still serve.
ALTER TABLE idempotency_keys ADD COLUMN etag TEXT;
