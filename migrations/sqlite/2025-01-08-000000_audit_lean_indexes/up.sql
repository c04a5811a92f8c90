-- The audit trail's secondary indexes cost every audited request one b-tree insert each (and a
-- dirty page per commit), and only served the admin filters of GET /api/audit/, which now read
-- the events newest first by id (the primary key) and filter as they go; the per-patient
-- filter and the access log keep their index, audit_event_patients (docs/audit.md,
-- docs/performance.md).
DROP INDEX audit_events_at_idx;
DROP INDEX audit_events_actor_idx;
DROP INDEX audit_events_action_idx;
DROP INDEX audit_events_resource_idx;
