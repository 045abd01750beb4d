-- bench/micro/explain.sql: the plans acquire really runs, logged by auto_explain
-- (nested statements, to the client as NOTICEs).  The first six calls warm
-- the backend's kept plans past the plan cache's five custom plans, so the
-- seventh shows the plans the hot path keeps using; its release follows.
-- psql variable: job.
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
SELECT count(*) AS got, max(batch) AS batch, max(attempt) AS attempt
	FROM batchintory_acquire(:'job') \gset
\if :got
SELECT batchintory_release(:batch, :attempt, 'succeeded') \gset
\endif
ROLLBACK;
