DROP INDEX appointments_doctor_start_idx;
DROP INDEX appointments_patient_start_idx;
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, appointment_datetime, id);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, appointment_datetime, id);
