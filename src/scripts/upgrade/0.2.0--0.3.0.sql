-- batchintory 0.2.0 -> 0.3.0, first part: the inventory's tables.  The
-- functions and views of 0.3.0 follow (src/scripts/install/10..30).
\echo Use "ALTER EXTENSION batchintory UPDATE TO '0.3.0'" to load this file. \quit

-- a job's on_failure: jobs of 0.2.0 go on past a batch failed for good, as
-- they did ('skip'); new jobs stop there ('halt', the default)
ALTER TABLE batchintory.job ADD COLUMN on_failure text NOT NULL DEFAULT 'skip';
ALTER TABLE batchintory.job ALTER COLUMN on_failure SET DEFAULT 'halt';
-- stored pipelines: a command, the search_path it was checked under, a
-- pg_cron schedule, a pause
ALTER TABLE batchintory.job ADD COLUMN command text, ADD COLUMN command_search_path text,
	ADD COLUMN schedule text, ADD COLUMN paused boolean NOT NULL DEFAULT false;
-- batches cut by key range alone (max_keys), whose assets are not counted
ALTER TABLE batchintory.job ADD COLUMN max_keys bigint;
-- calendar windows of a time key
ALTER TABLE batchintory.job
	ADD COLUMN window_size interval,
	ADD COLUMN window_time_zone text NOT NULL DEFAULT 'UTC',
	ADD COLUMN window_origin timestamptz,
	ADD COLUMN window_delay interval NOT NULL DEFAULT '0',
	ADD COLUMN empty_windows boolean NOT NULL DEFAULT false,
	ADD COLUMN late text NOT NULL DEFAULT 'record',
	ADD COLUMN late_horizon interval NOT NULL DEFAULT '1 day';
ALTER TABLE batchintory.batch ALTER COLUMN asset_count DROP NOT NULL;
-- what the cut of a batch's current attempt saw, for a job without the guard
ALTER TABLE batchintory.batch ADD COLUMN cut_snapshot pg_snapshot, ADD COLUMN late_rows bigint;
CREATE INDEX batch_job_late ON batchintory.batch (job_id)
	WHERE late_rows IS NOT NULL AND pg_catalog.textne(status, 'superseded');
ALTER TABLE batchintory.attempt ALTER COLUMN asset_count DROP NOT NULL;

-- functions whose arguments or results changed: dropped, then made again
-- below (acquire, peek, backlog, verify and the lookups return the keys as
-- text too: first_key, last_key)
DROP FUNCTION batchintory_acquire(text, bigint, numeric, text, integer);
DROP FUNCTION batchintory_peek(text, bigint, numeric);
DROP FUNCTION batchintory_backlog(text, boolean);
DROP FUNCTION batchintory_verify(text, boolean);
DROP FUNCTION batchintory_lookup(text, bigint);
DROP FUNCTION batchintory_lookup_all(regclass, bigint);
DROP FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint,
	bigint, numeric, integer, interval, jsonb, interval, boolean, interval, boolean);
DROP FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint,
	numeric, integer, interval, jsonb, interval, boolean, interval, text[], boolean, regrole);

-- a job's batches counted by state with the job (the jobs view reads them
-- instead of counting): counted here once for the jobs of 0.2.0, whose
-- progress rows hold changes of the done counters only
ALTER TABLE batchintory.job
	ADD COLUMN processing_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN retry_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_assets bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_weight numeric NOT NULL DEFAULT 0,
	ADD COLUMN skipped_batches bigint NOT NULL DEFAULT 0;
UPDATE batchintory.job j SET
	processing_batches = c.processing,
	retry_batches = c.retry,
	failed_batches = c.failed,
	failed_assets = c.failed_assets,
	failed_weight = c.failed_weight,
	skipped_batches = c.skipped
FROM (SELECT b.job_id,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'processing') AS processing,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'failed'
			AND b.retry_after IS NOT NULL) AS retry,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'failed'
			AND b.retry_after IS NULL) AS failed,
		COALESCE(pg_catalog.sum(b.asset_count) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'failed'
			AND b.retry_after IS NULL), 0) AS failed_assets,
		COALESCE(pg_catalog.sum(b.weight) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'failed'
			AND b.retry_after IS NULL), 0) AS failed_weight,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'skipped') AS skipped
	FROM batchintory.batch b GROUP BY b.job_id) c
WHERE c.job_id OPERATOR(pg_catalog.=) j.job_id;
ALTER TABLE batchintory.progress
	ADD COLUMN processing_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN retry_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_assets bigint NOT NULL DEFAULT 0,
	ADD COLUMN failed_weight numeric NOT NULL DEFAULT 0,
	ADD COLUMN skipped_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN backend integer NOT NULL DEFAULT -1;
ALTER TABLE batchintory.progress ALTER COLUMN backend DROP DEFAULT;
DROP INDEX batchintory.progress_job;
CREATE INDEX progress_job ON batchintory.progress (job_id, backend);
CREATE INDEX batch_job_open ON batchintory.batch (job_id, first_id)
	WHERE status IN ('processing', 'failed');
-- a dashboard's questions by job and time, and by worker, served by indexes
ALTER TABLE batchintory.attempt ADD COLUMN job_id integer;
UPDATE batchintory.attempt a SET job_id = b.job_id
FROM batchintory.batch b WHERE b.batch_id OPERATOR(pg_catalog.=) a.batch_id;
ALTER TABLE batchintory.attempt ALTER COLUMN job_id SET NOT NULL;
CREATE INDEX attempt_job_acquired ON batchintory.attempt (job_id, acquired_at);
CREATE INDEX attempt_worker ON batchintory.attempt (worker, acquired_at)
	WHERE worker IS NOT NULL;
