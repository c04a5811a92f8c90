DROP TRIGGER audit_anchor_no_insert ON audit_anchor;
DROP FUNCTION audit_anchor_insert_guard();
