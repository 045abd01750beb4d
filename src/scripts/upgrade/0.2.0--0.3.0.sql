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
ALTER TABLE batchintory.batch ALTER COLUMN asset_count DROP NOT NULL;
ALTER TABLE batchintory.attempt ALTER COLUMN asset_count DROP NOT NULL;

-- functions whose arguments changed: dropped, then made again below
DROP FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint,
	bigint, numeric, integer, interval, jsonb, interval, boolean, interval, boolean);
DROP FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint,
	numeric, integer, interval, jsonb, interval, boolean, interval, text[], boolean, regrole);

-- batches failed for good and left out by hand (batchintory_skip)
CREATE INDEX batch_job_skipped ON batchintory.batch (job_id, first_id)
	WHERE status = 'skipped';
