ALTER TABLE mappings DROP COLUMN reactivated_at;
ALTER TABLE mappings DROP COLUMN reactivated_by;
ALTER TABLE mappings DROP COLUMN deactivated_at;
ALTER TABLE mappings DROP COLUMN deactivated_by;
DROP TABLE registration_attempts;
DROP INDEX login_failures_user_ip_idx;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN token_version;
