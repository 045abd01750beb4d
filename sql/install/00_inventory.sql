-- batchintory: the inventory (jobs, batches, attempts) in schema batchintory.
\echo Use "CREATE EXTENSION batchintory" to load this file. \quit

CREATE SCHEMA batchintory;
COMMENT ON SCHEMA batchintory IS 'batchintory inventory: jobs, batches and every attempt';

-- One row per job: what to read, how to cut it, and how far it got.
CREATE TABLE batchintory.job (
	job_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	source regclass NOT NULL,
	id_column name NOT NULL,
	weight_column name,
	filter text,
	lower_bound bigint,
	upper_bound bigint,
	max_count bigint CHECK (max_count > 0),
	max_weight numeric CHECK (max_weight > 0),
	max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
	lease interval NOT NULL DEFAULT '1 hour' CHECK (lease > '0'),
	retry_backoff interval NOT NULL DEFAULT '0' CHECK (retry_backoff >= '0'),
	late_commit_guard boolean NOT NULL DEFAULT true,
	guard_timeout interval NOT NULL DEFAULT '10 seconds' CHECK (guard_timeout >= '0'),
	config jsonb NOT NULL DEFAULT '{}',
	-- last key covered by a batch of this job; NULL before the first batch
	frontier bigint,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK (lower_bound <= upper_bound),
	CHECK (frontier >= lower_bound - 1)
);
CREATE INDEX ON batchintory.job (source);

-- One row per batch: a consecutive key range [first_id, last_id] of a job.
CREATE TABLE batchintory.batch (
	batch_id bigserial PRIMARY KEY,
	job_id integer NOT NULL REFERENCES batchintory.job ON DELETE CASCADE,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	asset_count bigint NOT NULL,
	weight numeric,
	ended_by text NOT NULL
		CHECK (ended_by IN ('max_count', 'max_weight', 'window', 'no_more_assets')),
	status text NOT NULL
		CHECK (status IN ('processing', 'succeeded', 'failed', 'superseded')),
	-- number of the current (latest) attempt
	attempt integer NOT NULL CHECK (attempt > 0),
	-- attempts made before the last manual requeue (they do not count
	-- against max_attempts any more)
	requeued_after integer NOT NULL DEFAULT 0,
	lease_until timestamptz,
	retry_after timestamptz,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	CHECK (first_id <= last_id)
);
-- ranges of a job in key order; also serves "batches of a job"
CREATE INDEX batch_job_range ON batchintory.batch (job_id, first_id);
-- the few batches that can still be handed out again
CREATE INDEX batch_job_open ON batchintory.batch (job_id, first_id)
	WHERE status IN ('processing', 'failed');
-- asset id -> batches covering it, in O(log B)
CREATE INDEX batch_range ON batchintory.batch
	USING gist (pg_catalog.int8range(first_id, last_id, '[]'));

-- One row per attempt: who took the batch, when, with which configuration,
-- and how it ended.  Never deleted: this is the audit trail.
CREATE TABLE batchintory.attempt (
	batch_id bigint NOT NULL REFERENCES batchintory.batch ON DELETE CASCADE,
	attempt integer NOT NULL,
	status text NOT NULL
		CHECK (status IN ('processing', 'succeeded', 'failed', 'abandoned', 'superseded')),
	asset_count bigint NOT NULL,
	weight numeric,
	acquired_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	lease_until timestamptz NOT NULL,
	released_at timestamptz,
	worker text,
	application_name text,
	client_addr inet,
	backend_pid integer,
	acquired_by name NOT NULL DEFAULT CURRENT_USER,
	message text,
	config jsonb NOT NULL,
	PRIMARY KEY (batch_id, attempt)
);

SELECT pg_catalog.pg_extension_config_dump('batchintory.job', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.batch', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.batch_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('batchintory.attempt', '');

GRANT USAGE ON SCHEMA batchintory TO PUBLIC;
