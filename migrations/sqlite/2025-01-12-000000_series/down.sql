DROP INDEX appointments_series_idx;
ALTER TABLE appointments DROP COLUMN series_id;
DROP TABLE appointment_series;
