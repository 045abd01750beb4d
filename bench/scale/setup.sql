-- bench/scale/setup.sql: helpers of the scale benchmark (bench/run.sh), created
-- once in its database by a superuser.  They write the inventory directly,
-- as the extension's own statements do, keeping its invariants: the live
-- ranges of a job follow each other without gap up to its frontier, every
-- batch has attempts 1..attempt, and the job's counters are the sums of its
-- batches (cut: every live batch; done: the succeeded ones).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS batchintory;

-- The metadata table: dense keys 1..N from its sequence (set as if
-- nextval() had drawn them: the late-commit guard reads it), a weight.
CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint NOT NULL, kind text NOT NULL);

-- Baseline "bookmark": one row per consumer, the last key it processed.
CREATE TABLE bookmark (consumer text PRIMARY KEY, last_id bigint NOT NULL);
-- Baseline "floor": the least a batch inventory can write per cycle, one
-- INSERT (acquire) and one UPDATE by key (release).
CREATE TABLE floor_batch (
	batch_id bigserial PRIMARY KEY,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	status text NOT NULL
);

-- bench_files(n): files holds keys 1..n (empty it first), analyzed.
CREATE FUNCTION bench_files(n bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE files;
	INSERT INTO files (id, bytes, kind)
		SELECT g, 1000 + (g * 7919) % 100000, (ARRAY['image', 'video', 'text', 'audio'])[1 + g % 4]
		FROM generate_series(1, n) g;
	PERFORM setval('files_id_seq', n);
END $$;

-- bench_grow(job, batches, size): append batches of size keys after the
-- job's frontier until it has `batches` live batches, each succeeded at its
-- first attempt, one attempt row each.  Returns the number of batches added.
CREATE FUNCTION bench_grow(p_job text, p_batches bigint, p_size bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	j batchintory.job;
	have bigint;
	start bigint;
BEGIN
	SELECT * INTO STRICT j FROM batchintory.job WHERE name = p_job FOR UPDATE;
	have := j.cut_batches;
	IF have >= p_batches THEN
		RETURN 0;
	END IF;
	start := coalesce(j.frontier, 0);
	CREATE TEMP TABLE grown ON COMMIT DROP AS
	WITH r AS (
		SELECT (f.id - start - 1) / p_size AS i, count(*) AS n, sum(f.bytes) AS w
		FROM files f
		WHERE f.id > start AND f.id <= start + (p_batches - have) * p_size
		GROUP BY 1)
	SELECT i, start + i * p_size + 1 AS first_id, start + (i + 1) * p_size AS last_id, n, w,
		clock_timestamp() - interval '1 day' + i * interval '10 us' AS t
	FROM r;
	IF (SELECT count(*) FROM grown) <> p_batches - have THEN
		RAISE EXCEPTION 'files holds too few keys for % batches of % after key %', p_batches - have, p_size, start;
	END IF;
	WITH b AS (
		INSERT INTO batchintory.batch (job_id, first_id, last_id, asset_count, weight,
			ended_by, status, attempt, created_at)
		SELECT j.job_id, g.first_id, g.last_id, g.n, g.w, 'max_count', 'succeeded', 1, g.t
		FROM grown g ORDER BY g.i
		RETURNING batch_id, asset_count, weight, created_at)
	INSERT INTO batchintory.attempt (batch_id, job_id, attempt, status, asset_count, weight,
		acquired_at, lease_until, released_at, worker, acquired_by, config)
	SELECT b.batch_id, j.job_id, 1, 'succeeded', b.asset_count, b.weight, b.created_at,
		b.created_at + j.lease, b.created_at + interval '1 s', 'bench', current_user, j.config
	FROM b;
	UPDATE batchintory.job SET
		frontier = start + (p_batches - have) * p_size,
		cut_batches = cut_batches + (SELECT count(*) FROM grown),
		cut_assets = cut_assets + (SELECT sum(n) FROM grown),
		cut_weight = cut_weight + (SELECT sum(w) FROM grown),
		done_batches = done_batches + (SELECT count(*) FROM grown),
		done_assets = done_assets + (SELECT sum(n) FROM grown),
		done_weight = done_weight + (SELECT sum(w) FROM grown),
		last_success = GREATEST(last_success, (SELECT max(t) + interval '1 s' FROM grown))
	WHERE job_id = j.job_id;
	RETURN p_batches - have;
END $$;

-- bench_fail(job, failed): turn succeeded batches of the job, spread
-- evenly over its ranges, into batches that failed at every attempt
-- (attempts 1..max_attempts, none left: acquire no longer retries them, the
-- jobs view counts them as failed) until it has `failed` such batches.
-- Returns the number of batches changed.
CREATE FUNCTION bench_fail(p_job text, p_failed bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	j batchintory.job;
	have bigint;
	changed bigint;
BEGIN
	SELECT * INTO STRICT j FROM batchintory.job WHERE name = p_job FOR UPDATE;
	SELECT count(*) INTO have FROM batchintory.batch
		WHERE job_id = j.job_id AND status = 'failed';
	IF have >= p_failed THEN
		RETURN 0;
	END IF;
	CREATE TEMP TABLE failing ON COMMIT DROP AS
	SELECT batch_id, asset_count, weight FROM (
		SELECT b.batch_id, b.asset_count, b.weight,
			row_number() OVER (ORDER BY b.first_id) AS r, count(*) OVER () AS n
		FROM batchintory.batch b WHERE b.job_id = j.job_id AND b.status = 'succeeded') s
	WHERE r % greatest(n / (p_failed - have), 1) = 0
	LIMIT p_failed - have;
	UPDATE batchintory.batch b SET status = 'failed', attempt = j.max_attempts
		FROM failing f WHERE b.batch_id = f.batch_id;
	UPDATE batchintory.attempt a SET status = 'failed', message = 'bench: failed'
		FROM failing f WHERE a.batch_id = f.batch_id;
	INSERT INTO batchintory.attempt (batch_id, job_id, attempt, status, asset_count, weight,
		acquired_at, lease_until, released_at, worker, acquired_by, message, config)
	SELECT a.batch_id, a.job_id, n, 'failed', a.asset_count, a.weight, a.acquired_at + n * interval '1 min',
		a.lease_until + n * interval '1 min', a.released_at + n * interval '1 min', a.worker,
		a.acquired_by, a.message, a.config
	FROM batchintory.attempt a JOIN failing f USING (batch_id), generate_series(2, j.max_attempts) n
	WHERE a.attempt = 1;
	SELECT count(*) INTO changed FROM failing;
	UPDATE batchintory.job SET
		done_batches = done_batches - changed,
		done_assets = done_assets - (SELECT sum(asset_count) FROM failing),
		done_weight = done_weight - (SELECT sum(weight) FROM failing)
	WHERE job_id = j.job_id;
	RETURN changed;
END $$;

-- bench_check(job): the invariants bench_grow and bench_reset keep, one
-- row per violated one (none: no row).  O(batches).
CREATE FUNCTION bench_check(p_job text) RETURNS SETOF text LANGUAGE sql AS $$
	WITH j AS (SELECT * FROM batchintory.job WHERE name = p_job),
	live AS (SELECT b.* FROM batchintory.batch b JOIN j USING (job_id) WHERE b.status <> 'superseded'),
	p AS (SELECT coalesce(sum(p.batches), 0) AS batches, coalesce(sum(p.assets), 0) AS assets,
		coalesce(sum(p.weight), 0) AS weight FROM batchintory.progress p JOIN j USING (job_id)),
	s AS (SELECT count(*) AS batches, coalesce(sum(asset_count), 0) AS assets,
		coalesce(sum(weight), 0) AS weight,
		count(*) FILTER (WHERE status = 'succeeded') AS done_batches,
		coalesce(sum(asset_count) FILTER (WHERE status = 'succeeded'), 0) AS done_assets,
		coalesce(sum(weight) FILTER (WHERE status = 'succeeded'), 0) AS done_weight,
		max(last_id) AS last_id,
		count(*) FILTER (WHERE first_id <> prev_last + 1) AS gaps
		FROM (SELECT *, lag(last_id) OVER (ORDER BY first_id) AS prev_last FROM live) l),
	a AS (SELECT count(*) AS bad FROM (SELECT b.batch_id FROM live b
		LEFT JOIN batchintory.attempt a USING (batch_id)
		GROUP BY b.batch_id, b.attempt HAVING count(a.attempt) <> b.attempt) x)
	SELECT 'gap or overlap between consecutive live ranges: ' || s.gaps FROM s WHERE s.gaps > 0
	UNION ALL SELECT 'frontier is not the end of the last live range' FROM j, s
		WHERE j.frontier IS DISTINCT FROM s.last_id
	UNION ALL SELECT 'cut counters differ from the live batches' FROM j, s
		WHERE (j.cut_batches, j.cut_assets, j.cut_weight) <> (s.batches, s.assets, s.weight)
	UNION ALL SELECT 'done counters differ from the succeeded batches' FROM j, s, p
		WHERE (j.done_batches + p.batches, j.done_assets + p.assets, j.done_weight + p.weight)
			<> (s.done_batches, s.done_assets, s.done_weight)
	UNION ALL SELECT 'batches whose attempts are not 1..attempt: ' || a.bad FROM a WHERE a.bad > 0
$$;

-- bench_mark(job) remembers the job's inventory now; bench_reset(job) puts
-- it back there: the batches (and their attempts) made since are deleted,
-- the frontier and counters restored.  Runs of committed cycles start from
-- the same inventory and never run out of assets.  bench_mark first folds
-- the job's progress rows into its counters, as acquire does.
CREATE TABLE bench_mark (
	job_id integer PRIMARY KEY,
	batch_id bigint NOT NULL,
	job batchintory.job NOT NULL
);

CREATE FUNCTION bench_mark(p_job text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	id integer;
BEGIN
	SELECT job_id INTO STRICT id FROM batchintory.job WHERE name = p_job FOR UPDATE;
	WITH d AS (DELETE FROM batchintory.progress p WHERE p.job_id = id RETURNING *)
	UPDATE batchintory.job SET
		done_batches = done_batches + (SELECT coalesce(sum(batches), 0) FROM d),
		done_assets = done_assets + (SELECT coalesce(sum(assets), 0) FROM d),
		done_weight = done_weight + (SELECT coalesce(sum(weight), 0) FROM d),
		last_success = GREATEST(last_success, (SELECT max(last_success) FROM d))
	WHERE job_id = id;
	INSERT INTO bench_mark
	SELECT id, (SELECT coalesce(max(b.batch_id), 0) FROM batchintory.batch b WHERE b.job_id = id), j
	FROM batchintory.job j WHERE j.job_id = id
	ON CONFLICT (job_id) DO UPDATE SET batch_id = excluded.batch_id, job = excluded.job;
END $$;

CREATE FUNCTION bench_reset(p_job text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	m bench_mark;
BEGIN
	SELECT bm.* INTO STRICT m FROM bench_mark bm JOIN batchintory.job j USING (job_id)
		WHERE j.name = p_job;
	DELETE FROM batchintory.attempt a USING batchintory.batch b
		WHERE a.batch_id = b.batch_id AND b.job_id = m.job_id AND b.batch_id > m.batch_id;
	DELETE FROM batchintory.batch b WHERE b.job_id = m.job_id AND b.batch_id > m.batch_id;
	DELETE FROM batchintory.progress p WHERE p.job_id = m.job_id;
	UPDATE batchintory.job SET frontier = (m.job).frontier,
		cut_batches = (m.job).cut_batches, cut_assets = (m.job).cut_assets,
		cut_weight = (m.job).cut_weight, done_batches = (m.job).done_batches,
		done_assets = (m.job).done_assets, done_weight = (m.job).done_weight,
		last_success = (m.job).last_success
	WHERE job_id = m.job_id;
END $$;
