-- Versions 2 and 3 kept the tenant log in this file. It now lives in a file
-- of its own (latchkey-logs.db); Open copies any events found here into that
-- file before this step drops the old tables.
DROP TABLE IF EXISTS log_descriptions;
DROP TABLE IF EXISTS logs;
