DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE appointments;
DROP TABLE mappings;
DROP TABLE doctors;
DROP TABLE patients;
DROP TABLE users;
DROP TABLE settings;
