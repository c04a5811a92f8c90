-- Security hardening (same meaning as migrations/postgres): sessions that end everywhere at
-- once, atomic throttling of logins and registrations, mapping deactivation and reactivation
-- history.

ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
INSERT INTO sessions (id, user_id, created_at, revoked_at)
SELECT family, MIN(user_id), strftime('%Y-%m-%d %H:%M:%S', 'now'),
       CASE WHEN MAX(revoked_at IS NOT NULL) THEN strftime('%Y-%m-%d %H:%M:%S', 'now') END
FROM refresh_tokens GROUP BY family;

CREATE INDEX login_failures_user_ip_idx ON login_failures (username_key, client_ip, attempted_at);

CREATE TABLE registration_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_ip TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX registration_attempts_ip_idx ON registration_attempts (client_ip, attempted_at);

ALTER TABLE mappings ADD COLUMN deactivated_by BIGINT REFERENCES users (id);
ALTER TABLE mappings ADD COLUMN deactivated_at TIMESTAMP;
ALTER TABLE mappings ADD COLUMN reactivated_by BIGINT REFERENCES users (id);
ALTER TABLE mappings ADD COLUMN reactivated_at TIMESTAMP;
