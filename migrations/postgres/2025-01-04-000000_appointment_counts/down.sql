DROP TRIGGER appointment_counts_update ON appointments;
DROP TRIGGER appointment_counts_insert_delete ON appointments;
DROP FUNCTION appointment_counts_apply();
DROP FUNCTION appointment_counts_bump(BIGINT, TIMESTAMPTZ, TEXT, INTEGER);
DROP TABLE appointment_counts;
