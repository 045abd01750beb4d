-- batchintory: the inventory (jobs, batches, attempts) in schema batchintory.
\echo Use "CREATE EXTENSION batchintory" to load this file. \quit

CREATE SCHEMA batchintory;
COMMENT ON SCHEMA batchintory IS 'batchintory inventory: jobs, batches and every attempt';

-- One row per job: what to read, how to cut it, how far it got, and counters
-- of its progress.  Only the extension's functions write it (as the
-- extension's owner); no other role has any grant on it.  The inventory's
-- tables carry no CHECK constraints: the functions check every value before
-- they store it, and a CHECK is parsed again by every statement that writes
-- its table -- on every hand-out and release (see docs/performance.md).
CREATE TABLE batchintory.job (
	job_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	-- the role that registered the job: it and its members may use the job,
	-- and the job reads the metadata table with its rights
	owner regrole NOT NULL,
	source regclass NOT NULL,
	id_column name NOT NULL,
	weight_column name,
	-- the filter as its fully qualified deparse (see job_filter)
	filter text,
	lower_bound bigint,
	upper_bound bigint,
	max_count bigint,
	max_weight numeric,
	-- batches cut by key range alone: at most max_keys key values each,
	-- the table not read (their assets are not counted)
	max_keys bigint,
	-- calendar windows of a time key: every batch ends where a window of
	-- window_size ends (whole days and months counted in window_time_zone,
	-- aligned to window_origin, by default 2000-01-01 00:00 there), once the
	-- window's end plus window_delay has passed; empty_windows hands out
	-- windows without assets too
	window_size interval,
	window_time_zone text NOT NULL DEFAULT 'UTC',
	window_origin timestamptz,
	window_delay interval NOT NULL DEFAULT '0',
	empty_windows boolean NOT NULL DEFAULT false,
	-- rows that commit into a batch after its cut (a job without the guard):
	-- 'record' (verify lists them) or 'reprocess' (an acquire with no other
	-- work hands out again the batches of the last late_horizon of keys
	-- that such rows came into)
	late text NOT NULL DEFAULT 'record',
	late_horizon interval NOT NULL DEFAULT '1 day',
	max_attempts integer NOT NULL DEFAULT 3,
	lease interval NOT NULL DEFAULT '1 hour',
	retry_backoff interval NOT NULL DEFAULT '0',
	late_commit_guard boolean NOT NULL DEFAULT true,
	guard_timeout interval NOT NULL DEFAULT '10 seconds',
	config jsonb NOT NULL DEFAULT '{}',
	notify boolean NOT NULL DEFAULT false,
	-- what a batch failed for good does: 'halt' stops the job (no batch is
	-- handed out) until it is requeued, skipped or rewound; 'skip' goes on
	on_failure text NOT NULL DEFAULT 'halt',
	-- a stored pipeline: the SQL command batchintory_run runs over each batch
	-- ($1 first id, $2 last id, $3 batch), checked as the owner when stored,
	-- run under the search_path recorded then; its pg_cron schedule, and
	-- whether the job is paused (nothing handed out, the schedule off)
	command text,
	command_search_path text,
	schedule text,
	paused boolean NOT NULL DEFAULT false,
	-- last key covered by a batch of this job; NULL before the first batch
	frontier bigint,
	-- bumped by every change of the settings: backends cache a job's
	-- settings and plans and reload them when it moved
	revision bigint NOT NULL DEFAULT 1,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- counters of the job's batches, kept with every change of their state
	-- (the job's own changes here, those of releases, requeues and skips
	-- through batchintory.progress): cut (not superseded), done
	-- (succeeded), processing (in flight or abandoned), waiting for a retry,
	-- failed for good, skipped; what the jobs view shows without counting
	cut_batches bigint NOT NULL DEFAULT 0,
	cut_assets bigint NOT NULL DEFAULT 0,
	cut_weight numeric NOT NULL DEFAULT 0,
	done_batches bigint NOT NULL DEFAULT 0,
	done_assets bigint NOT NULL DEFAULT 0,
	done_weight numeric NOT NULL DEFAULT 0,
	last_success timestamptz,
	processing_batches bigint NOT NULL DEFAULT 0,
	retry_batches bigint NOT NULL DEFAULT 0,
	failed_batches bigint NOT NULL DEFAULT 0,
	failed_assets bigint NOT NULL DEFAULT 0,
	failed_weight numeric NOT NULL DEFAULT 0,
	skipped_batches bigint NOT NULL DEFAULT 0
);
CREATE INDEX job_source ON batchintory.job (source);

-- The analyzed filter of a job (nodeToString), from which queries are built:
-- its meaning was fixed when it was registered.  Not dumped: object ids do
-- not survive a dump, so a restored job analyzes its filter's deparse
-- (batchintory.job.filter) again, as a restored CHECK constraint does.
CREATE TABLE batchintory.job_filter (
	job_id integer PRIMARY KEY,
	expr text NOT NULL
);

-- One row per batch: a consecutive key range [first_id, last_id] of a job.
-- The extension keeps the references between job, batch and attempt itself
-- (no foreign keys: they would cost a lookup on every hand-out and release).
CREATE TABLE batchintory.batch (
	batch_id bigserial PRIMARY KEY,
	job_id integer NOT NULL,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	-- NULL: not counted (a batch of a job cut by max_keys)
	asset_count bigint,
	weight numeric,
	-- max_count, max_weight, max_keys, window, no_more_assets or verify
	ended_by text NOT NULL,
	-- processing, succeeded, failed, superseded, or skipped (failed for
	-- good, left out by batchintory_skip)
	status text NOT NULL,
	-- number of the current (latest) attempt; 0 for a batch batchintory_verify
	-- created over assets no batch covered, not handed out yet
	attempt integer NOT NULL,
	-- attempts made before the last manual requeue (they do not count
	-- against max_attempts any more)
	requeued_after integer NOT NULL DEFAULT 0,
	lease_until timestamptz,
	-- a failed batch with attempts left: when it may be handed out again;
	-- NULL for one failed for good (no attempt left)
	retry_after timestamptz,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	-- what the cut of its current attempt saw (a job without the late-commit
	-- guard): a row of its range this snapshot does not see came late
	cut_snapshot pg_snapshot,
	-- how many rows the last verify found came after that cut; NULL: none
	late_rows bigint
);
-- ranges of a job in key order; also serves "batches of a job"
CREATE INDEX batch_job_range ON batchintory.batch (job_id, first_id);
-- the batches rows came into after their cut (few): the jobs view's late
CREATE INDEX batch_job_late ON batchintory.batch (job_id)
	WHERE late_rows IS NOT NULL AND pg_catalog.textne(status, 'superseded');
-- batches in flight, by lease end: the abandoned ones are a range of it
CREATE INDEX batch_job_leased ON batchintory.batch (job_id, lease_until)
	WHERE status = 'processing';
-- failed batches waiting for a retry, oldest range first (retry_after is
-- when they may go; NULL for a batch failed for good, in the next index)
CREATE INDEX batch_job_retry ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NOT NULL;
CREATE INDEX batch_job_failed ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NULL;
-- batches not done yet (in flight, abandoned, failed): the oldest open key
-- of a job is its first entry; also serves "open batches of a job"
CREATE INDEX batch_job_open ON batchintory.batch (job_id, first_id)
	WHERE status IN ('processing', 'failed');
-- asset id -> the batches covering it, in O(log B): the live batches of a
-- job never overlap, so the one covering a key is the last live one that
-- starts at or before it, a backward probe of batch_job_live (whose
-- predicate is a function call: see BI_IS_LIVE in src/batchintory.h); superseded
-- batches overlap anything, and rewind alone writes them: a GiST index over
-- their ranges, which acquire and release never insert into.  A range
-- ending at the largest bigint has no upper bound ([x,max] would overflow
-- int8range).
CREATE INDEX batch_job_live ON batchintory.batch (job_id, first_id)
	WHERE pg_catalog.textne(status, 'superseded');
CREATE INDEX batch_range ON batchintory.batch
	USING gist (pg_catalog.int8range(first_id,
		NULLIF(last_id, 9223372036854775807), '[]'))
	WHERE status = 'superseded';

-- One row per attempt: who took the batch, when, with which configuration,
-- how it ended and what it reported.  Never deleted while its job exists:
-- this is the audit trail.
CREATE TABLE batchintory.attempt (
	batch_id bigint NOT NULL,
	attempt integer NOT NULL,
	-- processing, succeeded, failed, abandoned or superseded
	status text NOT NULL,
	-- NULL: not counted (max_keys)
	asset_count bigint,
	weight numeric,
	acquired_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	lease_until timestamptz NOT NULL,
	released_at timestamptz,
	worker text,
	application_name text,
	client_addr inet,
	backend_pid integer,
	acquired_by name NOT NULL,
	message text,
	config jsonb NOT NULL,
	result jsonb,
	-- the batch's job (the dashboards' questions are by job)
	job_id integer NOT NULL,
	PRIMARY KEY (batch_id, attempt)
);
-- what a dashboard asks of the audit trail: a job's attempts by time (the
-- newest, those between two times: what it handed out when), and a
-- worker's.  The batches have no index by time: each would cost a cycle 4%
-- more instructions (an entry at the cut and one at the release)
CREATE INDEX attempt_job_acquired ON batchintory.attempt (job_id, acquired_at);
CREATE INDEX attempt_worker ON batchintory.attempt (worker, acquired_at)
	WHERE worker IS NOT NULL;

-- Changes of a job's counters by releases, requeues, skips and acquire's
-- give-ups: each backend adds its changes to a row of its own (backend: its
-- process slot; -1 for rows from 0.2.0), so that concurrent releases do not
-- wait for each other or for acquire; each new batch folds the rows of the
-- job into batchintory.job (but its own transaction's).  A job has at most
-- a row or two per backend that changed it since: readers add them up in
-- bounded time.  batches, assets and weight are those of the done counters.
CREATE TABLE batchintory.progress (
	job_id integer NOT NULL,
	batches bigint NOT NULL,
	assets bigint NOT NULL,
	weight numeric NOT NULL,
	last_success timestamptz,
	processing_batches bigint NOT NULL DEFAULT 0,
	retry_batches bigint NOT NULL DEFAULT 0,
	failed_batches bigint NOT NULL DEFAULT 0,
	failed_assets bigint NOT NULL DEFAULT 0,
	failed_weight numeric NOT NULL DEFAULT 0,
	skipped_batches bigint NOT NULL DEFAULT 0,
	backend integer NOT NULL
);
CREATE INDEX progress_job ON batchintory.progress (job_id, backend);

SELECT pg_catalog.pg_extension_config_dump('batchintory.job', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.batch', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.batch_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.attempt', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.progress', '');

-- The inventory tables are the extension's alone: the views below are the
-- way to read them, its functions the only way to write them.
REVOKE ALL ON ALL TABLES IN SCHEMA batchintory FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA batchintory FROM PUBLIC;
GRANT USAGE ON SCHEMA batchintory TO PUBLIC;
