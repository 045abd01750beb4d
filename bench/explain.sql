-- bench/explain.sql: the plans acquire really runs, logged by auto_explain
-- (nested statements, to the client as NOTICEs).  The first six calls warm
-- the backend's kept plans past the plan cache's five custom plans, so the
-- seventh shows the plan the hot path keeps using.  psql variable: job.
\set ON_ERROR_STOP on
BEGIN;
SELECT count(*) FROM generate_series(1, 6) g,
	LATERAL batchintory_acquire(:'job', worker => g::text) \gset
ROLLBACK;
LOAD 'auto_explain';
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_buffers = on;
SET auto_explain.log_level = notice;
SET auto_explain.log_min_duration = 0;
BEGIN;
SELECT first_id, last_id, asset_count FROM batchintory_acquire(:'job') \gset
ROLLBACK;
