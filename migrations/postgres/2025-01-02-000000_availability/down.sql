DROP TABLE time_off;
DROP TABLE working_hours_intervals;
DROP TABLE working_hours;
