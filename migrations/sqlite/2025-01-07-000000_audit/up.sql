-- The audit trail (same meaning as migrations/postgres; docs/audit.md): append-only events,
-- linked into a SHA-256 hash chain by the sealer, the patient index of the events, the anchor
-- that pruning leaves, the permit through which pruning alone may delete, and the leases of
-- background tasks.

-- One row per audited request. `seq`, `prev_hash` and `hash` are NULL until the sealer links
-- the event into the chain (position `seq`); they are then set once and never again. On SQLite
-- `id` is the commit order: one writer at a time, and the id is taken inside the write.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor BIGINT,
    actor_role TEXT,
    attempted_username TEXT,
    client TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    resource_id BIGINT,
    patients TEXT NOT NULL DEFAULT '[]',
    query TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    seq BIGINT,
    prev_hash TEXT,
    hash TEXT
);
CREATE UNIQUE INDEX audit_events_seq_idx ON audit_events (seq);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, at);
CREATE INDEX audit_events_action_idx ON audit_events (action, at);
CREATE INDEX audit_events_resource_idx ON audit_events (resource, resource_id, at);
-- The sealer's queue: the events not linked yet, in commit order.
CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE seq IS NULL;

-- Which patients each event touched (the `patients` list of the event, one row per id), for the
-- per-patient filter.
CREATE TABLE audit_event_patients (
    patient_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    PRIMARY KEY (patient_id, event_id)
) WITHOUT ROWID;

-- While a prune runs, its transaction holds the one row of this table (it is inserted and
-- deleted again inside that transaction, so no other transaction ever sees it): the DELETE
-- triggers let through only deletions of sealed events up to `upto_seq`.
CREATE TABLE audit_prune_permit (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    upto_seq BIGINT NOT NULL
);

-- The last pruned event: the chain goes on from its position and hash.
CREATE TABLE audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    pruned_before TIMESTAMP NOT NULL,
    pruned_at TIMESTAMP NOT NULL
);

-- Append-only: an event may be sealed once (seq, prev_hash and hash from NULL to values, nothing
-- else changed), and deleted only by a prune, up to its permit.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (
    OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
    AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
    AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
    AND NEW.actor_role IS OLD.actor_role AND NEW.attempted_username IS OLD.attempted_username
    AND NEW.client IS OLD.client AND NEW.request_id IS OLD.request_id
    AND NEW.action IS OLD.action AND NEW.resource IS OLD.resource
    AND NEW.resource_id IS OLD.resource_id AND NEW.patients IS OLD.patients
    AND NEW.query IS OLD.query AND NEW.status IS OLD.status
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM audit_prune_permit p WHERE OLD.seq IS NOT NULL AND OLD.seq <= p.upto_seq
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_event_patients_no_update BEFORE UPDATE ON audit_event_patients
BEGIN
    SELECT RAISE(ABORT, 'audit_event_patients is append-only');
END;

CREATE TRIGGER audit_event_patients_no_delete BEFORE DELETE ON audit_event_patients
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permit)
BEGIN
    SELECT RAISE(ABORT, 'audit_event_patients is append-only');
END;

CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permit)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor changes only with a prune');
END;

CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor changes only with a prune');
END;

-- Leases of background tasks (one holder per name at a time, until `expires_at`).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
