DROP TRIGGER audit_anchor_no_insert;
DROP TRIGGER audit_events_no_replace;
