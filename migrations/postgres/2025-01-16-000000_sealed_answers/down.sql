-- An older build cannot read a sealed row: forget those answers.
DELETE FROM idempotency_keys WHERE sealed;
ALTER TABLE idempotency_keys DROP COLUMN sealed;
