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
	j.owner,
	batchintory.key_text(j.source, j.id_column, b.first_id) AS first_key,
	batchintory.key_text(j.source, j.id_column, b.last_id) AS last_key
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
	j.owner,
	a.job_id,
	batchintory.key_text(j.source, j.id_column, b.first_id) AS first_key,
	batchintory.key_text(j.source, j.id_column, b.last_id) AS last_key
FROM batchintory.attempt a
JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) a.job_id
JOIN batchintory.batch b ON b.batch_id OPERATOR(pg_catalog.=) a.batch_id
WHERE batchintory.may_see(j.owner);
COMMENT ON VIEW batchintory.attempts IS
	'every attempt of every batch: who acquired it, when, with which config, how it ended and its result (abandoned = lease ran out, not reclaimed yet)';

-- The newest batches and attempts of a job, as a dashboard shows them: the
-- rows SELECT * FROM the view WHERE job = $1 ORDER BY first_id (or
-- acquired_at) DESC LIMIT $2 returns, which a security barrier view can only
-- sort after reading every row of the job.  These find the oldest key (or
-- time) among the newest rows through an index first, then read the view
-- from there on, as the caller: O(count).
CREATE OR REPLACE FUNCTION batchintory_newest_batches(job text, count integer DEFAULT 20)
RETURNS SETOF batchintory.batches
LANGUAGE C STABLE STRICT ROWS 20
AS 'MODULE_PATHNAME', 'batchintory_newest_batches';
COMMENT ON FUNCTION batchintory_newest_batches(text, integer)
	IS 'the count batches of a job with the highest keys, newest first, as batchintory.batches shows them, through an index';

CREATE OR REPLACE FUNCTION batchintory_newest_attempts(job text, count integer DEFAULT 20)
RETURNS SETOF batchintory.attempts
LANGUAGE C STABLE STRICT ROWS 20
AS 'MODULE_PATHNAME', 'batchintory_newest_attempts';
COMMENT ON FUNCTION batchintory_newest_attempts(text, integer)
	IS 'the count attempts of a job acquired last, newest first, as batchintory.attempts shows them, through an index';

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
	batch_status text, result jsonb, first_key text, last_key text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_lookup';
COMMENT ON FUNCTION batchintory_lookup(text, bigint)
	IS 'every attempt of a job that covered the asset with key id, through the range index';
-- the key spelled as its type spells it: '2026-03-01 10:00+01' for a time key
CREATE OR REPLACE FUNCTION batchintory_lookup(job text, key text)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text, result jsonb, first_key text, last_key text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_lookup';
COMMENT ON FUNCTION batchintory_lookup(text, text)
	IS 'every attempt of a job that covered the asset with key (as its type spells it, a time for a time key), through the range index';

CREATE OR REPLACE FUNCTION batchintory_lookup_all(source regclass, id bigint)
RETURNS TABLE (job text, batch bigint, attempt integer, status text,
	first_id bigint, last_id bigint, acquired_at timestamptz,
	released_at timestamptz, worker text, message text, config jsonb,
	application_name text, client_addr inet, lease_until timestamptz,
	batch_status text, result jsonb, first_key text, last_key text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_lookup_all';
COMMENT ON FUNCTION batchintory_lookup_all(regclass, bigint)
	IS 'every attempt of every job of a metadata table (that the current role may use) that covered the asset with key id';

CREATE OR REPLACE FUNCTION batchintory_backlog(job text, exact boolean DEFAULT true)
RETURNS TABLE (asset_count bigint, weight numeric, first_id bigint,
	last_id bigint, retry_batches bigint, in_flight_batches bigint,
	first_key text, last_key text)
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

CREATE OR REPLACE FUNCTION batchintory_late_assets(batch bigint, row_type anyelement)
RETURNS SETOF anyelement
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'batchintory_late_assets';
COMMENT ON FUNCTION batchintory_late_assets(bigint, anyelement)
	IS 'the rows of a batch that arrived after it was cut (its recorded snapshot did not see them), in key order: batchintory_late_assets(batch, NULL::my_table)';

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
	IS 'estimated assets of a job not handed out yet, and its problem if any (internal)';

-- What the jobs view shows of a job that changes with its work: its
-- counters (kept with the job as its batches change state) and a few probes
-- of the inventory's partial indexes, as the query's snapshot sees them, in
-- C: no plan over the inventory for its statistics to mislead or for JIT to
-- compile, the same cost with 1 batch or 10^6.  Abandoned batches (lease
-- run out) are a range of batch_job_leased that stops at now(): O(abandoned).
CREATE OR REPLACE FUNCTION batchintory.job_figures(job_id integer,
	OUT succeeded bigint, OUT processed bigint, OUT failed bigint,
	OUT in_flight bigint, OUT abandoned bigint, OUT retry_pending bigint,
	OUT skipped bigint, OUT last_success timestamptz, OUT oldest_open bigint,
	OUT halted_by bigint, OUT halt_reason text, OUT backlog_estimate bigint,
	OUT problem text, OUT late_batches bigint, OUT late_rows bigint)
RETURNS record
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'batchintory_job_figures';
COMMENT ON FUNCTION batchintory.job_figures(integer)
	IS 'a job''s batches by state, processed assets, last success, oldest open key, the batch failed for good that halts it, estimated backlog, what is wrong with the job, and the batches verify found late rows in (internal: used by batchintory.jobs)';

-- One row per job: its window, progress and the state of its batches, from
-- the job's counters (batchintory.job_figures) -- no scan of the inventory
-- or of the metadata table.  total (backfills) is the assets cut so far
-- plus the planner's estimate of the rest of the window (processed and
-- total are NULL for a job cut by key range alone, max_keys: its batches'
-- assets are not counted); oldest_unprocessed is the first key of the
-- oldest open batch, else the first key not handed out.
CREATE OR REPLACE VIEW batchintory.jobs WITH (security_barrier) AS
SELECT j.name AS job,
	j.source,
	CASE WHEN j.upper_bound IS NULL THEN 'incremental' ELSE 'backfill' END AS kind,
	j.lower_bound,
	j.upper_bound,
	j.frontier,
	CASE WHEN j.max_keys IS NULL THEN f.processed END AS processed,
	t.total,
	CASE WHEN t.total OPERATOR(pg_catalog.=) 0 THEN 100.0
		ELSE pg_catalog.round(100.0 OPERATOR(pg_catalog.*) f.processed
			OPERATOR(pg_catalog./) t.total, 1)
	END AS progress_pct,
	f.succeeded,
	f.failed,
	f.in_flight,
	f.abandoned,
	f.retry_pending,
	f.last_success,
	t.oldest_unprocessed,
	j.registered_at,
	pg_catalog.now() OPERATOR(pg_catalog.-) j.registered_at AS registered_ago,
	j.config,
	j.owner,
	j.notify,
	f.backlog_estimate,
	f.problem,
	j.on_failure,
	f.halted_by,
	f.halt_reason,
	f.skipped,
	j.command,
	j.command_search_path,
	j.schedule,
	j.paused,
	j.max_keys,
	(SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) j.source
	 AND a.attname OPERATOR(pg_catalog.=) j.id_column) AS key_type,
	batchintory.key_text(j.source, j.id_column, j.lower_bound) AS lower_key,
	batchintory.key_text(j.source, j.id_column, j.upper_bound) AS upper_key,
	batchintory.key_text(j.source, j.id_column, j.frontier) AS frontier_key,
	batchintory.key_text(j.source, j.id_column, t.oldest_unprocessed) AS oldest_unprocessed_key,
	f.late_batches,
	f.late_rows
FROM batchintory.job j
CROSS JOIN LATERAL batchintory.job_figures(j.job_id) f
CROSS JOIN LATERAL (
	SELECT CASE WHEN j.upper_bound IS NOT NULL AND j.max_keys IS NULL
		THEN j.cut_assets OPERATOR(pg_catalog.+) f.backlog_estimate END AS total,
	COALESCE(f.oldest_open,
		CASE WHEN f.backlog_estimate OPERATOR(pg_catalog.>) 0 THEN
			COALESCE(j.frontier OPERATOR(pg_catalog.+) 1, j.lower_bound) END) AS oldest_unprocessed) t
WHERE batchintory.may_see(j.owner);
COMMENT ON VIEW batchintory.jobs IS
	'every job: owner, window, frontier, backfill progress, batches by state, last success, oldest unprocessed key, estimated backlog, what is wrong with it if anything, and the batch failed for good that halts it';

GRANT SELECT ON batchintory.jobs, batchintory.batches, batchintory.attempts TO PUBLIC;
