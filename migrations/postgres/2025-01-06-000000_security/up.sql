-- Security hardening: sessions that end everywhere at once, atomic throttling of logins and
-- registrations, mapping deactivation and reactivation history.

-- Bumped by a password change, a deactivation or a role change: access tokens carry the version
-- they were issued under (`ver`) and stop working once it moves.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

-- One row per login session (a refresh-token family; the `sid` claim of its access tokens).
-- Revoking it (logout, refresh-token reuse) ends the session's access tokens too.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
INSERT INTO sessions (id, user_id, created_at, revoked_at)
SELECT family, MIN(user_id), now(),
       CASE WHEN bool_or(revoked_at IS NOT NULL) THEN now() END
FROM refresh_tokens GROUP BY family;

-- Failed (or not yet decided) logins are counted per (username, address), per address and per
-- username; this index serves the first.
CREATE INDEX login_failures_user_ip_idx ON login_failures (username_key, client_ip, attempted_at);

-- Self-registrations per client address (throttled).
CREATE TABLE registration_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_ip TEXT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX registration_attempts_ip_idx ON registration_attempts (client_ip, attempted_at);

-- Who deactivated a mapping and when; who reactivated it and when (the first assignment stays).
ALTER TABLE mappings ADD COLUMN deactivated_by BIGINT REFERENCES users (id);
ALTER TABLE mappings ADD COLUMN deactivated_at TIMESTAMPTZ;
ALTER TABLE mappings ADD COLUMN reactivated_by BIGINT REFERENCES users (id);
ALTER TABLE mappings ADD COLUMN reactivated_at TIMESTAMPTZ;
