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
-- batchintory: jobs, acquire, release (C functions, run as the caller).

CREATE FUNCTION batchintory_register(
	job text,
	source regclass,
	id_column name,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound bigint DEFAULT NULL,
	upper_bound bigint DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT 3,
	lease interval DEFAULT '1 hour',
	config jsonb DEFAULT '{}',
	retry_backoff interval DEFAULT '0',
	late_commit_guard boolean DEFAULT true,
	guard_timeout interval DEFAULT '10 seconds')
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_register';
COMMENT ON FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval)
	IS 'create a job over a metadata table; error if the job exists';

CREATE FUNCTION batchintory_alter(
	job text,
	source regclass DEFAULT NULL,
	id_column name DEFAULT NULL,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound bigint DEFAULT NULL,
	upper_bound bigint DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT NULL,
	lease interval DEFAULT NULL,
	config jsonb DEFAULT NULL,
	retry_backoff interval DEFAULT NULL,
	late_commit_guard boolean DEFAULT NULL,
	guard_timeout interval DEFAULT NULL,
	reset text[] DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_alter';
COMMENT ON FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval, text[])
	IS 'change a job: NULL leaves a setting unchanged, reset lists settings to clear';

CREATE FUNCTION batchintory_drop(job text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_drop';
COMMENT ON FUNCTION batchintory_drop(text) IS 'delete a job with its batches and attempts';

CREATE FUNCTION batchintory_acquire(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	worker text DEFAULT NULL,
	batches integer DEFAULT 1)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_acquire';
COMMENT ON FUNCTION batchintory_acquire(text, bigint, numeric, text, integer)
	IS 'take the next batches of a job: retries first, then new assets in key order; zero rows = no work';

CREATE FUNCTION batchintory_peek(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_peek';
COMMENT ON FUNCTION batchintory_peek(text, bigint, numeric)
	IS 'the batch acquire would hand out now, without taking it';

CREATE FUNCTION batchintory_release(
	batch bigint,
	attempt integer,
	status text,
	message text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_release';
COMMENT ON FUNCTION batchintory_release(bigint, integer, text, text)
	IS 'record the outcome (succeeded or failed) of the current attempt of a batch';

CREATE FUNCTION batchintory_heartbeat(batch bigint, attempt integer)
RETURNS timestamptz
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_heartbeat';
COMMENT ON FUNCTION batchintory_heartbeat(bigint, integer)
	IS 'extend the lease of the current attempt of a batch; returns the new lease end';

CREATE FUNCTION batchintory_requeue(batch bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_requeue';
COMMENT ON FUNCTION batchintory_requeue(bigint)
	IS 'put a failed or succeeded batch back in line, with a fresh budget of attempts';

CREATE FUNCTION batchintory_rewind(job text, id bigint)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_rewind';
COMMENT ON FUNCTION batchintory_rewind(text, bigint)
	IS 'hand out the assets from key id onwards again; returns the number of batches superseded';
-- batchintory: the audit of finished work (C function, runs as the caller).

CREATE FUNCTION batchintory_verify(job text, requeue boolean DEFAULT false)
RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
	recorded_count bigint, actual_count bigint,
	recorded_weight numeric, actual_weight numeric, requeued boolean)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_verify';
COMMENT ON FUNCTION batchintory_verify(text, boolean)
	IS 'recount the succeeded batches of a job; list (and with requeue, re-queue) those whose assets changed since; zero rows = all match';
-- batchintory: observing jobs, batches and attempts (views, lookups, backlog,
-- batch contents).  The views are not granted to PUBLIC: the inventory is
-- private; see "Observability" in README.md for the GRANT a monitoring role
-- needs.

-- One row per batch, with the state acquire sees in it.
CREATE VIEW batchintory.batches AS
SELECT j.name AS job,
	b.job_id,
	b.batch_id AS batch,
	b.first_id,
	b.last_id,
	b.asset_count,
	b.weight,
	b.ended_by,
	b.status,
	CASE
		WHEN b.status = 'processing'
			AND b.lease_until OPERATOR(pg_catalog.<) pg_catalog.now() THEN 'abandoned'
		WHEN b.status = 'failed'
			AND (b.attempt OPERATOR(pg_catalog.-) b.requeued_after)
				OPERATOR(pg_catalog.<) j.max_attempts THEN 'retry_pending'
		ELSE b.status
	END AS state,
	b.attempt,
	GREATEST(j.max_attempts OPERATOR(pg_catalog.-)
		(b.attempt OPERATOR(pg_catalog.-) b.requeued_after), 0) AS attempts_left,
	b.lease_until,
	b.retry_after,
	b.created_at
FROM batchintory.batch b
JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id;
COMMENT ON VIEW batchintory.batches IS
	'every batch with its state: processing, abandoned (lease ran out), retry_pending (failed, attempts left), failed (none left), succeeded, superseded';

-- One row per attempt: the audit trail, readable by a monitoring query.
CREATE VIEW batchintory.attempts AS
SELECT j.name AS job,
	j.source,
	a.batch_id AS batch,
	a.attempt,
	CASE
		WHEN a.status = 'processing'
			AND a.lease_until OPERATOR(pg_catalog.<) pg_catalog.now() THEN 'abandoned'
		ELSE a.status
	END AS status,
	b.status AS batch_status,
	b.first_id,
	b.last_id,
	a.asset_count,
	a.weight,
	a.acquired_at,
	a.lease_until,
	a.released_at,
	COALESCE(a.released_at, pg_catalog.now()) OPERATOR(pg_catalog.-) a.acquired_at AS duration,
	a.worker,
	a.application_name,
	a.client_addr,
	a.backend_pid,
	a.acquired_by,
	a.message,
	a.config
FROM batchintory.attempt a
JOIN batchintory.batch b ON b.batch_id OPERATOR(pg_catalog.=) a.batch_id
JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id;
COMMENT ON VIEW batchintory.attempts IS
	'every attempt of every batch: who acquired it, when, with which config, and how it ended (abandoned = lease ran out, not reclaimed yet)';

CREATE FUNCTION batchintory.check_job(job text)
RETURNS boolean
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_check_job';
COMMENT ON FUNCTION batchintory.check_job(text)
	IS 'true if the job exists, else an error (internal: used by batchintory_lookup)';

-- SQL functions, inlined into the calling query (hence not STRICT): the plan
-- shows the range lookup in the GiST index batch_range.
CREATE FUNCTION batchintory_lookup(job text, id bigint)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text)
LANGUAGE sql STABLE
AS $$
SELECT a.job, a.batch, a.attempt, a.status, a.first_id, a.last_id,
	a.acquired_at, a.released_at, a.worker, a.message, a.config,
	a.application_name, a.client_addr, a.lease_until, a.batch_status
FROM batchintory.attempts a
WHERE batchintory.check_job($1)
	AND a.job OPERATOR(pg_catalog.=) $1
	AND pg_catalog.int8range(a.first_id, a.last_id, '[]') OPERATOR(pg_catalog.@>) $2
ORDER BY a.batch, a.attempt
$$;
COMMENT ON FUNCTION batchintory_lookup(text, bigint)
	IS 'every attempt of a job that covered the asset with key id, through the range index';

CREATE FUNCTION batchintory_lookup_all(source regclass, id bigint)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text)
LANGUAGE sql STABLE
AS $$
SELECT a.job, a.batch, a.attempt, a.status, a.first_id, a.last_id,
	a.acquired_at, a.released_at, a.worker, a.message, a.config,
	a.application_name, a.client_addr, a.lease_until, a.batch_status
FROM batchintory.attempts a
WHERE a.source OPERATOR(pg_catalog.=) $1
	AND pg_catalog.int8range(a.first_id, a.last_id, '[]') OPERATOR(pg_catalog.@>) $2
ORDER BY a.job, a.batch, a.attempt
$$;
COMMENT ON FUNCTION batchintory_lookup_all(regclass, bigint)
	IS 'every attempt of every job of a metadata table that covered the asset with key id';

CREATE FUNCTION batchintory_backlog(job text, exact boolean DEFAULT true)
RETURNS TABLE (asset_count bigint, weight numeric, first_id bigint,
	last_id bigint, retry_batches bigint, in_flight_batches bigint)
LANGUAGE C STABLE STRICT ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_backlog';
COMMENT ON FUNCTION batchintory_backlog(text, boolean)
	IS 'assets no batch holds yet (counted, or estimated from statistics), batches waiting for a retry, batches in flight';

CREATE FUNCTION batchintory_assets(batch bigint)
RETURNS SETOF bigint
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_assets';
COMMENT ON FUNCTION batchintory_assets(bigint)
	IS 'the keys of the matching assets of a batch, in key order';

CREATE FUNCTION batchintory_assets(batch bigint, row_type anyelement)
RETURNS SETOF anyelement
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_assets_rows';
COMMENT ON FUNCTION batchintory_assets(bigint, anyelement)
	IS 'the metadata table''s rows of a batch, in key order: batchintory_assets(batch, NULL::my_table)';

CREATE FUNCTION batchintory_predicate(batch bigint)
RETURNS text
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_predicate';
COMMENT ON FUNCTION batchintory_predicate(bigint)
	IS 'a WHERE condition selecting the rows of a batch, for a read that pushes it down (Spark/Dask JDBC)';

CREATE FUNCTION batchintory_details(batch bigint)
RETURNS jsonb
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_details';
COMMENT ON FUNCTION batchintory_details(bigint)
	IS 'the current attempt of a batch as jsonb (job, batch, attempt, times, worker, config), to store with the output';

-- One row per job: its window, progress and the state of its batches.
-- total (backfills only) adds the matching assets of the window not cut into
-- batches yet, counted as the caller (O(rest of the window)); it is NULL when
-- the caller cannot read batchintory.job and the metadata table.  For an
-- incremental job, oldest_unprocessed comes from the estimated backlog.
CREATE VIEW batchintory.jobs AS
SELECT j.name AS job,
	j.source,
	CASE WHEN j.upper_bound IS NULL THEN 'incremental' ELSE 'backfill' END AS kind,
	j.lower_bound,
	j.upper_bound,
	j.frontier,
	COALESCE(s.processed, 0) AS processed,
	t.total,
	CASE WHEN t.total OPERATOR(pg_catalog.=) 0 THEN 100.0
		ELSE pg_catalog.round(100.0 OPERATOR(pg_catalog.*) COALESCE(s.processed, 0)
			OPERATOR(pg_catalog./) t.total, 1)
	END AS progress_pct,
	COALESCE(s.succeeded, 0) AS succeeded,
	COALESCE(s.failed, 0) AS failed,
	COALESCE(s.in_flight, 0) AS in_flight,
	COALESCE(s.abandoned, 0) AS abandoned,
	COALESCE(s.retry_pending, 0) AS retry_pending,
	l.last_success,
	COALESCE(s.oldest_open, bl.first_id) AS oldest_unprocessed,
	j.registered_at,
	pg_catalog.now() OPERATOR(pg_catalog.-) j.registered_at AS registered_ago,
	j.config
FROM batchintory.job j
LEFT JOIN LATERAL (
	SELECT pg_catalog.count(*) FILTER (WHERE b.state = 'succeeded') AS succeeded,
		pg_catalog.count(*) FILTER (WHERE b.state = 'failed') AS failed,
		pg_catalog.count(*) FILTER (WHERE b.state = 'processing') AS in_flight,
		pg_catalog.count(*) FILTER (WHERE b.state = 'abandoned') AS abandoned,
		pg_catalog.count(*) FILTER (WHERE b.state = 'retry_pending') AS retry_pending,
		pg_catalog.sum(b.asset_count) FILTER (WHERE b.state = 'succeeded') AS processed,
		pg_catalog.sum(b.asset_count) FILTER (WHERE b.state <> 'superseded') AS cut,
		pg_catalog.min(b.first_id)
			FILTER (WHERE b.state NOT IN ('succeeded', 'superseded')) AS oldest_open
	FROM batchintory.batches b
	WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id) s ON true
LEFT JOIN LATERAL (
	SELECT pg_catalog.max(a.released_at) AS last_success
	FROM batchintory.batch b
	JOIN batchintory.attempt a ON a.batch_id OPERATOR(pg_catalog.=) b.batch_id
	WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id AND a.status = 'succeeded') l ON true
-- backlog reads the job and the metadata table as the caller; OFFSET 0
-- keeps the privilege test a one-time filter in front of the call
LEFT JOIN LATERAL (
	SELECT r.asset_count, r.first_id
	FROM @extschema@.batchintory_backlog(j.name, j.upper_bound IS NOT NULL) r
	WHERE pg_catalog.has_table_privilege('batchintory.job', 'SELECT')
		AND pg_catalog.has_table_privilege(j.source, 'SELECT')
	OFFSET 0) bl ON true
CROSS JOIN LATERAL (
	SELECT CASE WHEN j.upper_bound IS NOT NULL
		THEN COALESCE(s.cut, 0) OPERATOR(pg_catalog.+) bl.asset_count END AS total) t;
COMMENT ON VIEW batchintory.jobs IS
	'every job: window, frontier, backfill progress, batches by state, last success, oldest unprocessed key';
