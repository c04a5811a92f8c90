-- Tampering without DDL that the audit triggers let through (docs/audit.md "Tamper evidence"):
-- the anchor is inserted, as it is changed, only by a prune. (PostgreSQL has no REPLACE: an
-- upsert's update fires the UPDATE trigger.)
CREATE FUNCTION audit_anchor_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_prune_permit) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_anchor changes only with a prune' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_anchor_no_insert BEFORE INSERT ON audit_anchor
FOR EACH ROW EXECUTE FUNCTION audit_anchor_insert_guard();
