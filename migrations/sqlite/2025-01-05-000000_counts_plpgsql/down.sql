-- Nothing to revert on SQLite (see up.sql).
SELECT 1;
