-- The PostgreSQL migration of this version turns the counters' helper function from SQL into
-- plpgsql (it was parsed again on every call). SQLite's counter triggers are plain statements
-- inside the triggers, prepared once with them: nothing changes here.
SELECT 1;
