DROP TRIGGER appointment_counts_delete;
DROP TRIGGER appointment_counts_update;
DROP TRIGGER appointment_counts_insert;
DROP TABLE appointment_counts;
