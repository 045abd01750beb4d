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
	max_attempts integer NOT NULL DEFAULT 3,
	lease interval NOT NULL DEFAULT '1 hour',
	retry_backoff interval NOT NULL DEFAULT '0',
	late_commit_guard boolean NOT NULL DEFAULT true,
	guard_timeout interval NOT NULL DEFAULT '10 seconds',
	config jsonb NOT NULL DEFAULT '{}',
	notify boolean NOT NULL DEFAULT false,
	-- last key covered by a batch of this job; NULL before the first batch
	frontier bigint,
	-- bumped by every change of the settings: backends cache a job's
	-- settings and plans and reload them when it moved
	revision bigint NOT NULL DEFAULT 1,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- counters kept by acquire (cut: batches not superseded) and, through
	-- batchintory.progress, by release, requeue and rewind (done: succeeded)
	cut_batches bigint NOT NULL DEFAULT 0,
	cut_assets bigint NOT NULL DEFAULT 0,
	cut_weight numeric NOT NULL DEFAULT 0,
	done_batches bigint NOT NULL DEFAULT 0,
	done_assets bigint NOT NULL DEFAULT 0,
	done_weight numeric NOT NULL DEFAULT 0,
	last_success timestamptz
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
	asset_count bigint NOT NULL,
	weight numeric,
	-- max_count, max_weight, window, no_more_assets or verify
	ended_by text NOT NULL,
	-- processing, succeeded, failed or superseded
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
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
-- ranges of a job in key order; also serves "batches of a job"
CREATE INDEX batch_job_range ON batchintory.batch (job_id, first_id);
-- batches in flight, by lease end: the abandoned ones are a range of it
CREATE INDEX batch_job_leased ON batchintory.batch (job_id, lease_until)
	WHERE status = 'processing';
-- failed batches waiting for a retry, oldest range first (retry_after is
-- when they may go; NULL for a batch failed for good, in the next index)
CREATE INDEX batch_job_retry ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NOT NULL;
CREATE INDEX batch_job_failed ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NULL;
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
	asset_count bigint NOT NULL,
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
	PRIMARY KEY (batch_id, attempt)
);

-- Changes of a job's "done" counters by release, requeue, rewind and verify,
-- inserted (never updated, so concurrent releases do not wait for each
-- other or for acquire) and folded into batchintory.job by the next
-- acquire of the job.
CREATE TABLE batchintory.progress (
	job_id integer NOT NULL,
	batches bigint NOT NULL,
	assets bigint NOT NULL,
	weight numeric NOT NULL,
	last_success timestamptz
);
CREATE INDEX progress_job ON batchintory.progress (job_id);

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
-- batchintory: jobs, acquire, release (C functions).  Each checks first that
-- the caller may use the job (it has the privileges of the job's owner),
-- writes the inventory as the extension's owner and reads the metadata table
-- as the job's owner in a security-restricted operation.

-- A job's settings: their one list (src/settings.c), in the order of
-- batchintory_register's arguments after the job.
CREATE OR REPLACE FUNCTION batchintory.settings()
RETURNS TABLE (setting text, type regtype, default_value text, required boolean,
	resettable boolean)
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 16
AS 'MODULE_PATHNAME', 'batchintory_settings';
COMMENT ON FUNCTION batchintory.settings()
	IS 'the settings of a job: name, type, default, needed by register, resettable by alter';

CREATE OR REPLACE FUNCTION batchintory_register(
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
	guard_timeout interval DEFAULT '10 seconds',
	notify boolean DEFAULT false)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_register';
COMMENT ON FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval, boolean)
	IS 'create a job over a metadata table, owned by the calling role; error if the job exists';

CREATE OR REPLACE FUNCTION batchintory_alter(
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
	reset text[] DEFAULT NULL,
	notify boolean DEFAULT NULL,
	owner regrole DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_alter';
COMMENT ON FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval, text[], boolean, regrole)
	IS 'change a job: NULL leaves a setting unchanged, reset lists settings to clear, owner transfers it';

-- For update scripts: a job's filter analyzed (under the caller's
-- search_path) and stored, nothing else changed; its signature never
-- changes, so that the scripts of every version can call it.
CREATE OR REPLACE FUNCTION batchintory.analyze_filter(job text, filter text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'batchintory_analyze_filter';
COMMENT ON FUNCTION batchintory.analyze_filter(text, text)
	IS 'analyze and store a job''s filter, nothing else changed (internal: used by update scripts)';
REVOKE ALL ON FUNCTION batchintory.analyze_filter(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION batchintory_drop(job text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_drop';
COMMENT ON FUNCTION batchintory_drop(text) IS 'delete a job with its batches and attempts';

CREATE OR REPLACE FUNCTION batchintory_acquire(
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

CREATE OR REPLACE FUNCTION batchintory_peek(
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

CREATE OR REPLACE FUNCTION batchintory_release(
	batch bigint,
	attempt integer,
	status text,
	message text DEFAULT NULL,
	result jsonb DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_release';
COMMENT ON FUNCTION batchintory_release(bigint, integer, text, text, jsonb)
	IS 'record the outcome (succeeded or failed) of the current attempt of a batch, with an optional message and result';

CREATE OR REPLACE FUNCTION batchintory_heartbeat(batch bigint, attempt integer)
RETURNS timestamptz
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_heartbeat';
COMMENT ON FUNCTION batchintory_heartbeat(bigint, integer)
	IS 'extend the lease of the current attempt of a batch; returns the new lease end';

CREATE OR REPLACE FUNCTION batchintory_requeue(batch bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_requeue';
COMMENT ON FUNCTION batchintory_requeue(bigint)
	IS 'put a failed or succeeded batch back in line, with a fresh budget of attempts';

CREATE OR REPLACE FUNCTION batchintory_rewind(job text, id bigint)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_rewind';
COMMENT ON FUNCTION batchintory_rewind(text, bigint)
	IS 'hand out the assets from key id onwards again; returns the number of batches superseded';

CREATE OR REPLACE FUNCTION batchintory_channel(job text)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_channel';
COMMENT ON FUNCTION batchintory_channel(text)
	IS 'the channel to LISTEN on for new assets of a job registered with notify => true';

-- The trigger a job with notify => true puts on its metadata table (one per
-- table, removed with the last such job): after each INSERT statement, a
-- NOTIFY on the table's channel, delivered when the insert commits.
CREATE OR REPLACE FUNCTION batchintory.notify_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'batchintory_notify_trigger';
COMMENT ON FUNCTION batchintory.notify_trigger()
	IS 'statement trigger of a metadata table: NOTIFY the channel of its jobs (see batchintory_channel)';

-- The wait before the retry of a failed batch: the job's retry_backoff,
-- doubled for each attempt since the last requeue, capped (see README).
CREATE OR REPLACE FUNCTION batchintory.retry_delay(backoff interval, attempts integer)
RETURNS interval
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_retry_delay';
COMMENT ON FUNCTION batchintory.retry_delay(interval, integer)
	IS 'backoff * 2^(attempts - 1), at most the larger of backoff and 24 hours (internal: used by release)';

-- An in-database pipeline: acquire, run the command over the batch as the
-- job's owner ($1 first id, $2 last id, $3 batch), release in the same
-- transaction, commit; until no batch is left or max_batches ran.
CREATE OR REPLACE PROCEDURE batchintory_run(
	job text,
	command text,
	max_batches integer DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	worker text DEFAULT NULL,
	stop_on_error boolean DEFAULT false,
	INOUT batches integer DEFAULT NULL,
	INOUT failed integer DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'batchintory_run';
COMMENT ON PROCEDURE batchintory_run(text, text, integer, bigint, numeric, text, boolean, integer, integer)
	IS 'run an SQL command over batch after batch of a job ($1 first id, $2 last id, $3 batch), its results committed with the release';
-- batchintory: the audit of finished work (C function).

CREATE OR REPLACE FUNCTION batchintory_verify(job text, requeue boolean DEFAULT false)
RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
	recorded_count bigint, actual_count bigint,
	recorded_weight numeric, actual_weight numeric, requeued boolean,
	reason text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_verify';
COMMENT ON FUNCTION batchintory_verify(text, boolean)
	IS 'recount the succeeded batches of a job and look for assets of its window no batch covers; list (and with requeue, hand out again) what changed; zero rows = all match';
-- batchintory: observing jobs, batches and attempts (views, lookups, backlog,
-- batch contents).  Every role may read the views: each shows the jobs the
-- role may use (it has the privileges of the job's owner), and every job to
-- members of pg_monitor -- ranges, counts and states, never a metadata row.
-- The views are security barriers, so a function in a caller's WHERE clause
-- never sees another role's rows.

-- Whether the current role may see the inventory of a job owned by owner:
-- the extension's one rule of who may use a job (src/security.c), or
-- pg_monitor.
CREATE OR REPLACE FUNCTION batchintory.may_see(owner regrole)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_may_see';
COMMENT ON FUNCTION batchintory.may_see(regrole)
	IS 'true if the current role has the privileges of owner or of pg_monitor (internal: filters the views)';

-- The state of a batch as acquire sees it -- its status, but in processing
-- past its lease it is abandoned, and failed with attempts left it waits
-- for a retry -- and of an attempt: worked out here only, for the views,
-- the lookups and batchintory_details (inlined into their queries).
CREATE OR REPLACE FUNCTION batchintory.batch_state(status text,
	lease_until timestamptz, retry_after timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT CASE
	WHEN $1 OPERATOR(pg_catalog.=) 'processing'
		AND $2 OPERATOR(pg_catalog.<) pg_catalog.now() THEN 'abandoned'
	WHEN $1 OPERATOR(pg_catalog.=) 'failed' AND $3 IS NOT NULL THEN 'retry_pending'
	ELSE $1
END
$$;
COMMENT ON FUNCTION batchintory.batch_state(text, timestamptz, timestamptz)
	IS 'the state of a batch: its status, abandoned (lease ran out) or retry_pending (failed, attempts left) (internal: used by the views)';

CREATE OR REPLACE FUNCTION batchintory.attempt_state(status text, lease_until timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT CASE
	WHEN $1 OPERATOR(pg_catalog.=) 'processing'
		AND $2 OPERATOR(pg_catalog.<) pg_catalog.now() THEN 'abandoned'
	ELSE $1
END
$$;
COMMENT ON FUNCTION batchintory.attempt_state(text, timestamptz)
	IS 'the state of an attempt: its status, or abandoned (lease ran out) (internal: used by the views)';

-- One row per batch, with the state acquire sees in it.
CREATE OR REPLACE VIEW batchintory.batches WITH (security_barrier) AS
SELECT j.name AS job,
	b.job_id,
	b.batch_id AS batch,
	b.first_id,
	b.last_id,
	b.asset_count,
	b.weight,
	b.ended_by,
	b.status,
	batchintory.batch_state(b.status, b.lease_until, b.retry_after) AS state,
	b.attempt,
	GREATEST(j.max_attempts OPERATOR(pg_catalog.-)
		(b.attempt OPERATOR(pg_catalog.-) b.requeued_after), 0) AS attempts_left,
	b.lease_until,
	b.retry_after,
	b.created_at,
	j.owner
FROM batchintory.batch b
JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id
WHERE batchintory.may_see(j.owner);
COMMENT ON VIEW batchintory.batches IS
	'every batch with its state: processing, abandoned (lease ran out), retry_pending (failed, attempts left), failed (none left), succeeded, superseded';

-- One row per attempt: the audit trail, readable by a monitoring query.
CREATE OR REPLACE VIEW batchintory.attempts WITH (security_barrier) AS
SELECT j.name AS job,
	j.source,
	a.batch_id AS batch,
	a.attempt,
	batchintory.attempt_state(a.status, a.lease_until) AS status,
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
	a.config,
	a.result,
	j.owner
FROM batchintory.attempt a
JOIN batchintory.batch b ON b.batch_id OPERATOR(pg_catalog.=) a.batch_id
JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id
WHERE batchintory.may_see(j.owner);
COMMENT ON VIEW batchintory.attempts IS
	'every attempt of every batch: who acquired it, when, with which config, how it ended and its result (abandoned = lease ran out, not reclaimed yet)';

CREATE OR REPLACE FUNCTION batchintory.check_job(job text)
RETURNS boolean
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_check_job';
COMMENT ON FUNCTION batchintory.check_job(text)
	IS 'true if the job exists and the current role may use it, else an error';

-- Lookups probe batch_job_live and the GiST index batch_range: O(log B).
CREATE OR REPLACE FUNCTION batchintory_lookup(job text, id bigint)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text, result jsonb)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_lookup';
COMMENT ON FUNCTION batchintory_lookup(text, bigint)
	IS 'every attempt of a job that covered the asset with key id, through the range index';

CREATE OR REPLACE FUNCTION batchintory_lookup_all(source regclass, id bigint)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text, result jsonb)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_lookup_all';
COMMENT ON FUNCTION batchintory_lookup_all(regclass, bigint)
	IS 'every attempt of every job of a metadata table (that the current role may use) that covered the asset with key id';

CREATE OR REPLACE FUNCTION batchintory_backlog(job text, exact boolean DEFAULT true)
RETURNS TABLE (asset_count bigint, weight numeric, first_id bigint,
	last_id bigint, retry_batches bigint, in_flight_batches bigint)
LANGUAGE C STABLE STRICT ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_backlog';
COMMENT ON FUNCTION batchintory_backlog(text, boolean)
	IS 'assets of the window no batch holds (counted, or estimated from statistics), batches waiting for a retry, batches in flight';

CREATE OR REPLACE FUNCTION batchintory_assets(batch bigint)
RETURNS SETOF bigint
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_assets';
COMMENT ON FUNCTION batchintory_assets(bigint)
	IS 'the keys of the matching assets of a batch, in key order';

CREATE OR REPLACE FUNCTION batchintory_assets(batch bigint, row_type anyelement)
RETURNS SETOF anyelement
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_assets_rows';
COMMENT ON FUNCTION batchintory_assets(bigint, anyelement)
	IS 'the metadata table''s rows of a batch, in key order: batchintory_assets(batch, NULL::my_table)';

CREATE OR REPLACE FUNCTION batchintory_predicate(batch bigint)
RETURNS text
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_predicate';
COMMENT ON FUNCTION batchintory_predicate(bigint)
	IS 'a WHERE condition selecting the rows of a batch, for a read that pushes it down (Spark/Dask JDBC)';

CREATE OR REPLACE FUNCTION batchintory_details(batch bigint)
RETURNS jsonb
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_details';
COMMENT ON FUNCTION batchintory_details(bigint)
	IS 'a batch and its current attempt as jsonb (job, table, filter, range, state, times, worker, config, message, result), to store with the output';

-- The planner's estimate of a job's backlog, and what is wrong with the job
-- if it cannot work (its table, key, weight or filter is gone or changed):
-- never an error, so one broken job cannot break the jobs view.
CREATE OR REPLACE FUNCTION batchintory.job_estimate(job_id integer,
	OUT backlog bigint, OUT problem text)
RETURNS record
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_job_estimate';
COMMENT ON FUNCTION batchintory.job_estimate(integer)
	IS 'estimated assets of a job not handed out yet, and its problem if any (internal: used by batchintory.jobs)';

-- One row per job: its window, progress and the state of its batches, from
-- the job's counters and its open batches -- no scan of the inventory or of
-- the metadata table.  total (backfills) is the assets cut so far plus the
-- planner's estimate of the rest of the window; oldest_unprocessed is the
-- first key of the oldest open batch, else the first key not handed out.
CREATE OR REPLACE VIEW batchintory.jobs WITH (security_barrier) AS
SELECT j.name AS job,
	j.source,
	CASE WHEN j.upper_bound IS NULL THEN 'incremental' ELSE 'backfill' END AS kind,
	j.lower_bound,
	j.upper_bound,
	j.frontier,
	j.done_assets OPERATOR(pg_catalog.+) p.assets AS processed,
	t.total,
	CASE WHEN t.total OPERATOR(pg_catalog.=) 0 THEN 100.0
		ELSE pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
			(j.done_assets OPERATOR(pg_catalog.+) p.assets)
			OPERATOR(pg_catalog./) t.total, 1)
	END AS progress_pct,
	j.done_batches OPERATOR(pg_catalog.+) p.batches AS succeeded,
	o.failed,
	o.in_flight,
	o.abandoned,
	o.retry_pending,
	GREATEST(j.last_success, p.last_success) AS last_success,
	COALESCE(o.oldest_open,
		CASE WHEN e.backlog OPERATOR(pg_catalog.>) 0 THEN
			COALESCE(j.frontier OPERATOR(pg_catalog.+) 1, j.lower_bound) END) AS oldest_unprocessed,
	j.registered_at,
	pg_catalog.now() OPERATOR(pg_catalog.-) j.registered_at AS registered_ago,
	j.config,
	j.owner,
	j.notify,
	e.backlog AS backlog_estimate,
	e.problem
FROM batchintory.job j
CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(d.batches), 0)::pg_catalog.int8 AS batches,
		COALESCE(pg_catalog.sum(d.assets), 0)::pg_catalog.int8 AS assets,
		pg_catalog.max(d.last_success) AS last_success
	FROM batchintory.progress d
	WHERE d.job_id OPERATOR(pg_catalog.=) j.job_id) p
CROSS JOIN LATERAL (
	SELECT (SELECT pg_catalog.count(*) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'failed' AND b.retry_after IS NULL) AS failed,
		(SELECT pg_catalog.count(*) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'processing'
			AND b.lease_until OPERATOR(pg_catalog.>=) pg_catalog.now()) AS in_flight,
		(SELECT pg_catalog.count(*) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'processing'
			AND b.lease_until OPERATOR(pg_catalog.<) pg_catalog.now()) AS abandoned,
		(SELECT pg_catalog.count(*) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'failed' AND b.retry_after IS NOT NULL) AS retry_pending,
		LEAST((SELECT pg_catalog.min(b.first_id) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'processing'),
		(SELECT pg_catalog.min(b.first_id) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'failed' AND b.retry_after IS NOT NULL),
		(SELECT pg_catalog.min(b.first_id) FROM batchintory.batch b
			WHERE b.job_id OPERATOR(pg_catalog.=) j.job_id
			AND b.status OPERATOR(pg_catalog.=) 'failed' AND b.retry_after IS NULL)) AS oldest_open) o
CROSS JOIN LATERAL batchintory.job_estimate(j.job_id) e
CROSS JOIN LATERAL (
	SELECT CASE WHEN j.upper_bound IS NOT NULL
		THEN j.cut_assets OPERATOR(pg_catalog.+) e.backlog END AS total) t
WHERE batchintory.may_see(j.owner);
COMMENT ON VIEW batchintory.jobs IS
	'every job: owner, window, frontier, backfill progress, batches by state, last success, oldest unprocessed key, estimated backlog, and what is wrong with it if anything';

GRANT SELECT ON batchintory.jobs, batchintory.batches, batchintory.attempts TO PUBLIC;
