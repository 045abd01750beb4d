-- Invariants of the inventory that hold for every job whatever was done to
-- its metadata table (random DDL, deletes, keys moved, filters changed): the
-- fuzz test (test/t/030_fuzz.pl) checks them after the random calls and
-- again after draining every job -- among them that every counter a job
-- keeps, and every figure the jobs view shows, is what a count of its
-- batches gives.  Unlike test/t/invariants.sql they read only the inventory
-- (and the jobs view, which never fails), never the metadata tables (those
-- may be gone or reshaped), so they cover every job at once.  One row per
-- violated invariant and job, with the number of violations and one example.

CREATE FUNCTION fuzz_invariants()
RETURNS TABLE (job text, invariant text, violations bigint, example text)
LANGUAGE sql AS $$
	WITH j AS (
		SELECT * FROM batchintory.job
	), live AS (
		SELECT * FROM batchintory.batch WHERE status <> 'superseded'
	), att AS (
		SELECT b.job_id, b.batch_id, b.status AS batch_status, b.attempt AS current,
			b.requeued_after, b.asset_count AS batch_count, a.attempt, a.status,
			a.asset_count
		FROM batchintory.batch b JOIN batchintory.attempt a USING (batch_id)
	), checks (job_id, invariant, example) AS (
		SELECT x.job_id, 'two live ranges of the job overlap',
			format('batch %s [%s, %s] (%s) and batch %s [%s, %s] (%s)', x.batch_id,
				x.first_id, x.last_id, x.status, y.batch_id, y.first_id, y.last_id, y.status)
		FROM live x JOIN live y ON x.job_id = y.job_id AND x.batch_id < y.batch_id
			AND x.first_id <= y.last_id AND y.first_id <= x.last_id
		UNION ALL
		SELECT b.job_id, 'an attempt is filed under another job than its batch',
			format('batch %s of job %s: attempt %s under job %s', b.batch_id, b.job_id,
				a.attempt, a.job_id)
		FROM batchintory.batch b JOIN batchintory.attempt a USING (batch_id)
		WHERE a.job_id <> b.job_id
		UNION ALL
		SELECT l.job_id, 'a live range reaches beyond the frontier',
			format('batch %s [%s, %s], frontier %s', l.batch_id, l.first_id, l.last_id,
				coalesce(j.frontier::text, 'NULL'))
		FROM live l JOIN j USING (job_id)
		WHERE j.frontier IS NULL OR l.last_id > j.frontier
		UNION ALL
		SELECT l.job_id, 'a live range lies outside the window',
			format('batch %s [%s, %s], window [%s, %s]', l.batch_id, l.first_id, l.last_id,
				j.lower_bound, j.upper_bound)
		FROM live l JOIN j USING (job_id)
		WHERE l.first_id < j.lower_bound OR l.last_id > j.upper_bound
		UNION ALL
		SELECT b.job_id, 'attempts of a batch are not numbered 1..current',
			format('batch %s: current %s, attempts %s', b.batch_id, b.attempt,
				(SELECT string_agg(a.attempt::text, ',' ORDER BY a.attempt)
				 FROM batchintory.attempt a WHERE a.batch_id = b.batch_id))
		FROM batchintory.batch b
		WHERE (SELECT count(*) <> b.attempt OR min(a.attempt) <> 1 OR max(a.attempt) <> b.attempt
			   FROM batchintory.attempt a WHERE a.batch_id = b.batch_id)
		UNION ALL
		SELECT job_id, 'the current attempt does not match its live batch',
			format('batch %s (%s, %s assets): attempt %s (%s, %s assets)', batch_id,
				batch_status, batch_count, attempt, status, asset_count)
		FROM att
		WHERE attempt = current AND batch_status <> 'superseded'
			AND (asset_count <> batch_count OR NOT (status = batch_status
				OR (batch_status = 'failed' AND status = 'abandoned')
				-- failed for good, then left out (batchintory_skip)
				OR (batch_status = 'skipped' AND status IN ('failed', 'abandoned'))
				-- requeued by hand (batchintory_requeue, verify) after it succeeded
				OR (batch_status = 'failed' AND status = 'succeeded'
					AND attempt = requeued_after)))
		UNION ALL
		SELECT job_id, 'an earlier attempt is neither failed nor abandoned',
			format('batch %s: attempt %s of %s is %s (requeued after %s)', batch_id,
				attempt, current, status, requeued_after)
		FROM att
		WHERE attempt < current AND status NOT IN ('failed', 'abandoned')
			-- a batch requeued by hand after it succeeded
			AND NOT (status = 'succeeded' AND attempt <= requeued_after)
		UNION ALL
		SELECT job_id, 'a superseded batch has an attempt still processing',
			format('batch %s: attempt %s', batch_id, attempt)
		FROM att
		WHERE batch_status = 'superseded' AND status = 'processing'
		UNION ALL
		SELECT job_id, 'a processing batch has no lease',
			format('batch %s', batch_id)
		FROM live WHERE status = 'processing' AND lease_until IS NULL
		UNION ALL
		SELECT j.job_id, 'a counter of the job differs from a count of its batches',
			format('%s: %s kept, %s counted', c.counter, c.kept, c.counted)
		FROM j, batchintory.job_counters(j.job_id) c
		WHERE c.kept IS DISTINCT FROM c.counted
		UNION ALL
		SELECT j.job_id, 'the jobs view differs from a count of the batches',
			format('view %s, counted %s', (v.succeeded, v.processed, v.in_flight, v.abandoned,
				v.retry_pending, v.failed, v.skipped, v.oldest_unprocessed), c)
		FROM j JOIN batchintory.jobs v ON v.job = j.name
		CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE l.status = 'succeeded') AS succeeded,
				coalesce(sum(l.asset_count) FILTER (WHERE l.status = 'succeeded'), 0) AS processed,
				count(*) FILTER (WHERE l.status = 'processing' AND l.lease_until >= now()) AS in_flight,
				count(*) FILTER (WHERE l.status = 'processing' AND l.lease_until < now()) AS abandoned,
				count(*) FILTER (WHERE l.status = 'failed' AND l.retry_after IS NOT NULL) AS retry_pending,
				count(*) FILTER (WHERE l.status = 'failed' AND l.retry_after IS NULL) AS failed,
				count(*) FILTER (WHERE l.status = 'skipped') AS skipped,
				min(l.first_id) FILTER (WHERE l.status IN ('processing', 'failed')) AS oldest_open
			FROM live l WHERE l.job_id = j.job_id) c
		WHERE (v.succeeded, v.processed, v.in_flight, v.abandoned, v.retry_pending, v.failed,
				v.skipped)
			IS DISTINCT FROM (c.succeeded, c.processed, c.in_flight, c.abandoned,
				c.retry_pending, c.failed, c.skipped)
			OR v.oldest_unprocessed IS DISTINCT FROM coalesce(c.oldest_open, v.oldest_unprocessed)
	)
	SELECT j.name, c.invariant, count(*), min(c.example)
	FROM checks c JOIN j USING (job_id)
	GROUP BY j.name, c.invariant
	ORDER BY j.name, c.invariant
$$;

-- Not asserted, shown in the summary: holes between consecutive live ranges
-- of a job (a backfill's frontier that skipped to its upper bound, then the
-- bound was raised, leaves one).
CREATE FUNCTION fuzz_gaps()
RETURNS TABLE (job text, gaps bigint, example text)
LANGUAGE sql AS $$
	SELECT j.name, count(*), min(format('[%s, %s]', g.prev_last + 1, g.first_id - 1))
	FROM (SELECT job_id, first_id,
			lag(last_id) OVER (PARTITION BY job_id ORDER BY first_id) AS prev_last
		  FROM batchintory.batch WHERE status <> 'superseded') g
	JOIN batchintory.job j USING (job_id)
	WHERE g.first_id <> g.prev_last + 1
	GROUP BY j.name ORDER BY j.name
$$;

-- Take and succeed every batch a job hands out now, stopping at the first
-- error: returns 'ok N', 'SQLSTATE message', or 'not drained after N
-- batches' (a bound against a job that never runs dry: long runs leave
-- tens of thousands of keys, which a small max_weight cuts into batches
-- of one or two).  Each batch is
-- taken and released in its own subtransaction, so the batches drained
-- before an error stay drained.  The acquires cycle through the per-call
-- max_count NULL (the job's), 1, the bigint maximum and 2.
CREATE FUNCTION fuzz_drain(job_name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n integer := 0;
	calls integer := 0;
	done boolean := false;
	counts bigint[] := ARRAY[NULL, 1, 9223372036854775807, 2];
BEGIN
	WHILE NOT done AND n < 200000 LOOP
		BEGIN
			SELECT * INTO r FROM batchintory_acquire(job_name, worker => 'drain',
				max_count => counts[calls % 4 + 1]);
			calls := calls + 1;
			IF NOT FOUND THEN
				done := true;
			ELSE
				PERFORM batchintory_release(r.batch, r.attempt, 'succeeded');
				n := n + 1;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			RETURN format('%s %s (after %s batches, max_count %s)', SQLSTATE, SQLERRM, n,
				coalesce(counts[calls % 4 + 1]::text, 'NULL'));
		END;
	END LOOP;
	IF NOT done THEN
		RETURN format('not drained after %s batches', n);
	END IF;
	RETURN format('ok %s (last acquire: max_count %s)', n,
		coalesce(counts[(calls - 1) % 4 + 1]::text, 'NULL'));
END $$;

-- What a drained job still shows: new work peek would hand out, and the
-- assets the backlog counts beyond the frontier.  Both must be none once
-- acquire returned nothing (no writer is running then).  Keys the backlog
-- counts at or below the frontier (moved below the first batch, say) are
-- not work acquire hands out: they are left to verify and rewind.
CREATE FUNCTION fuzz_leftover(job_name text) RETURNS text LANGUAGE sql AS $$
	SELECT format('peek: %s new batch(es)%s; backlog: %s asset(s)%s',
		(SELECT count(*) FROM batchintory_peek(job_name) WHERE batch IS NULL),
		(SELECT coalesce(' ' || string_agg(format('[%s, %s]', first_id, last_id), ' '), '')
		 FROM batchintory_peek(job_name) WHERE batch IS NULL),
		CASE WHEN b.last_id <= j.frontier THEN 0 ELSE b.asset_count END,
		CASE WHEN b.asset_count > 0 AND b.last_id > j.frontier
			THEN format(' [%s, %s] beyond the frontier %s', b.first_id, b.last_id, j.frontier)
			ELSE '' END)
	FROM batchintory_backlog(job_name) b, batchintory.job j
	WHERE j.name = job_name
$$;
