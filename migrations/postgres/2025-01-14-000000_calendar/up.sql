-- Calendar feeds (docs/api.md "Calendar feeds"): one read-only token per account, stored as
-- its SHA-256 (the token itself is shown once).
CREATE TABLE calendar_tokens (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
