-- Tampering without DDL that the audit triggers let through (docs/audit.md "Tamper evidence"):
-- `INSERT OR REPLACE` (and `REPLACE`) deletes the row it conflicts with without firing the
-- DELETE trigger (recursive triggers are off), so an insert may not meet an existing event's
-- id or chain position; and the anchor is inserted, as it is changed, only by a prune.
CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN (NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id))
    OR (NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq))
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_anchor_no_insert BEFORE INSERT ON audit_anchor
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permit)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor changes only with a prune');
END;
