-- Helpers shared by the stress and crash tests (TAP): a release that records
-- fencing refusals instead of failing the client, and the invariants of a
-- job's inventory, one row per invariant with the number of violations.

CREATE TABLE refused (batch bigint, attempt integer, status text, message text);

-- batchintory_release, but a refusal (SQLSTATE 55000: the attempt is no
-- longer current or was already released) is recorded, not raised
CREATE FUNCTION release_or_record(b bigint, a integer, s text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM batchintory_release(b, a, s);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	INSERT INTO refused VALUES (b, a, s, SQLERRM);
END $$;

-- batchintory_rewind back from the frontier by back keys, but a rewind that
-- found a batch locked by a release in progress (SQLSTATE 55P03: try again)
-- is recorded, not raised; a deadlock would be raised
CREATE TABLE rewind_refused (sqlstate text, message text);
CREATE FUNCTION rewind_or_record(job_name text, back int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	f bigint;
BEGIN
	SELECT frontier INTO f FROM batchintory.job WHERE name = job_name;
	IF f IS NOT NULL THEN
		PERFORM batchintory_rewind(job_name, greatest(f - back, 1));
	END IF;
EXCEPTION WHEN lock_not_available THEN
	INSERT INTO rewind_refused VALUES (SQLSTATE, SQLERRM);
END $$;

-- One worker takes every batch left and succeeds it, until acquire has
-- nothing more (abandoned batches come back once their lease ran out)
CREATE FUNCTION drain(job text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n bigint := 0;
BEGIN
	LOOP
		SELECT * INTO r FROM batchintory_acquire(job, worker => 'drain');
		EXIT WHEN NOT FOUND;
		PERFORM batchintory_release(r.batch, r.attempt, 'succeeded');
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- What every job's live ranges must be: no overlap, no gap, the frontier at
-- the end of the last one (both kinds of job below start with these)
CREATE FUNCTION live_range_invariants(job_name text)
RETURNS TABLE (invariant text, violations bigint) LANGUAGE sql AS $$
	WITH j AS (
		SELECT * FROM batchintory.job WHERE name = job_name
	), live AS (
		SELECT b.* FROM batchintory.batch b JOIN j USING (job_id)
		WHERE b.status <> 'superseded'
	), ordered AS (
		SELECT first_id, lag(last_id) OVER (ORDER BY first_id) AS prev_last FROM live
	)
	SELECT 'two live ranges overlap',
		(SELECT count(*) FROM live x JOIN live y ON x.batch_id < y.batch_id
		 AND int8range(x.first_id, x.last_id, '[]') && int8range(y.first_id, y.last_id, '[]'))
	UNION ALL
	SELECT 'gap between consecutive live ranges',
		(SELECT count(*) FROM ordered WHERE first_id <> prev_last + 1)
	UNION ALL
	SELECT 'frontier is not the end of the last live range',
		(SELECT count(*) FROM j WHERE frontier IS DISTINCT FROM (SELECT max(last_id) FROM live))
$$;

-- Invariants of job job_name over table assets (key id).  drained: the job was
-- drained, so nothing may be processing and no work may be left.
CREATE FUNCTION invariants(job_name text, drained boolean)
RETURNS TABLE (invariant text, violations bigint) LANGUAGE sql AS $$
	WITH j AS (
		SELECT * FROM batchintory.job WHERE name = job_name
	), live AS (
		SELECT b.* FROM batchintory.batch b JOIN j USING (job_id)
		WHERE b.status <> 'superseded'
	), attempts AS (
		SELECT b.batch_id, b.status AS batch_status, b.attempt AS current,
			b.asset_count AS batch_count, a.attempt, a.status, a.asset_count
		FROM live b JOIN batchintory.attempt a USING (batch_id)
	)
	SELECT * FROM live_range_invariants(job_name)
	UNION ALL
	SELECT 'asset up to the frontier not in exactly one live range',
		(SELECT count(*) FROM assets s, j WHERE s.id <= j.frontier
		 AND (SELECT count(*) FROM live b WHERE s.id BETWEEN b.first_id AND b.last_id) <> 1)
	UNION ALL
	SELECT 'recorded count differs from the assets in the range (a late row skipped)',
		(SELECT count(*) FROM live b WHERE b.asset_count <>
		 (SELECT count(*) FROM assets s WHERE s.id BETWEEN b.first_id AND b.last_id))
	UNION ALL
	SELECT 'attempts of a batch are not numbered 1..current',
		(SELECT count(*) FROM (SELECT batch_id FROM attempts GROUP BY batch_id, current
		 HAVING count(*) <> current OR max(attempt) <> current OR min(attempt) <> 1) x)
	UNION ALL
	SELECT 'batch without attempts',
		(SELECT count(*) FROM live b WHERE NOT EXISTS
		 (SELECT FROM batchintory.attempt a WHERE a.batch_id = b.batch_id))
	UNION ALL
	SELECT 'current attempt does not match its batch',
		(SELECT count(*) FROM attempts WHERE attempt = current AND (asset_count <> batch_count
		 OR NOT (status = batch_status OR (batch_status IN ('failed', 'skipped') AND status IN ('failed', 'abandoned')))))
	UNION ALL
	SELECT 'earlier attempt neither failed nor abandoned',
		(SELECT count(*) FROM attempts WHERE attempt < current AND status NOT IN ('failed', 'abandoned'))
	UNION ALL
	SELECT 'succeeded batch whose assets changed (batchintory_verify)',
		(SELECT count(*) FROM batchintory_verify(job_name) WHERE reason <> 'not processed')
	UNION ALL
	SELECT 'refused release of an attempt that was still current',
		(SELECT count(*) FROM refused r JOIN batchintory.batch b ON b.batch_id = r.batch
		 JOIN batchintory.attempt a ON a.batch_id = r.batch AND a.attempt = r.attempt
		 WHERE r.attempt = b.attempt AND a.status NOT IN ('abandoned', 'superseded'))
	UNION ALL
	SELECT 'a counter of the job differs from a count of its batches',
		(SELECT count(*) FROM j, batchintory.job_counters(j.job_id) c
		 WHERE c.kept IS DISTINCT FROM c.counted)
	UNION ALL
	SELECT 'the jobs view differs from a count of the batches',
		(SELECT count(*) FROM batchintory.jobs v JOIN j ON j.name = v.job,
		 LATERAL (SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
			coalesce(sum(asset_count) FILTER (WHERE status = 'succeeded'), 0) AS processed,
			count(*) FILTER (WHERE status = 'processing' AND lease_until >= now()) AS in_flight,
			count(*) FILTER (WHERE status = 'processing' AND lease_until < now()) AS abandoned,
			count(*) FILTER (WHERE status = 'failed' AND retry_after IS NOT NULL) AS retry_pending,
			count(*) FILTER (WHERE status = 'failed' AND retry_after IS NULL) AS failed,
			count(*) FILTER (WHERE status = 'skipped') AS skipped,
			min(first_id) FILTER (WHERE status IN ('processing', 'failed')) AS oldest_open
			FROM live) c
		 WHERE (v.succeeded, v.processed, v.in_flight, v.abandoned, v.retry_pending,
				v.failed, v.skipped)
			IS DISTINCT FROM (c.succeeded, c.processed, c.in_flight, c.abandoned,
				c.retry_pending, c.failed, c.skipped)
		 OR v.oldest_unprocessed IS DISTINCT FROM coalesce(c.oldest_open, v.oldest_unprocessed))
	UNION ALL
	SELECT 'failed batch whose retry_after does not say whether it has attempts left',
		(SELECT count(*) FROM live b, j WHERE b.status = 'failed'
		 AND (b.attempt - b.requeued_after < j.max_attempts) <> (b.retry_after IS NOT NULL))
	UNION ALL
	SELECT 'drained job: batch still processing',
		(SELECT count(*) FROM live WHERE drained AND status = 'processing')
	UNION ALL
	SELECT 'drained job: failed batch with attempts left',
		(SELECT count(*) FROM live b, j WHERE drained AND b.status = 'failed'
		 AND b.attempt - b.requeued_after < j.max_attempts)
	UNION ALL
	SELECT 'drained job: asset beyond the frontier',
		(SELECT count(*) FROM assets s, j WHERE drained AND s.id > coalesce(j.frontier, 0))
$$;

-- Invariants of job job_name cut by key range alone (max_keys) over table
-- events (key id, drawn from a sequence): such a job records no count or
-- weight, so its ranges are checked against the keys of the table and the
-- last key the sequence drew.  drained: the job was drained.  (PL/pgSQL:
-- the table need not exist yet when this file is installed.)
CREATE FUNCTION key_range_invariants(job_name text, drained boolean)
RETURNS TABLE (invariant text, violations bigint) LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY WITH j AS (
		SELECT *, pg_sequence_last_value(pg_get_serial_sequence('events', 'id')::regclass)
			AS last_drawn
		FROM batchintory.job WHERE name = job_name
	), batches AS (
		SELECT b.* FROM batchintory.batch b JOIN j USING (job_id)
	), live AS (
		SELECT * FROM batches WHERE status <> 'superseded'
	), attempts AS (
		SELECT b.batch_id, b.attempt AS current, a.attempt, a.asset_count, a.weight
		FROM batches b JOIN batchintory.attempt a USING (batch_id)
	)
	SELECT * FROM live_range_invariants(job_name)
	UNION ALL
	SELECT 'batch with a count or weight',
		(SELECT count(*) FROM batches WHERE asset_count IS NOT NULL OR weight IS NOT NULL)
	UNION ALL
	SELECT 'attempt with a count or weight',
		(SELECT count(*) FROM attempts WHERE asset_count IS NOT NULL OR weight IS NOT NULL)
	UNION ALL
	SELECT 'attempts of a batch are not numbered 1..current',
		(SELECT count(*) FROM (SELECT batch_id FROM attempts GROUP BY batch_id, current
		 HAVING count(*) <> current OR max(attempt) <> current OR min(attempt) <> 1) x)
	UNION ALL
	SELECT 'batch without attempts',
		(SELECT count(*) FROM batches b WHERE NOT EXISTS
		 (SELECT FROM batchintory.attempt a WHERE a.batch_id = b.batch_id))
	UNION ALL
	SELECT 'a counter of the job differs from a count of its batches',
		(SELECT count(*) FROM j, batchintory.job_counters(j.job_id) c
		 WHERE c.kept IS DISTINCT FROM c.counted)
	UNION ALL
	SELECT 'drained job: frontier is not the last key the sequence drew',
		(SELECT count(*) FROM j WHERE drained AND frontier IS DISTINCT FROM last_drawn)
	UNION ALL
	SELECT 'drained job: key up to the last one drawn not in exactly one succeeded batch',
		(SELECT count(*) FROM events e, j WHERE drained AND e.id <= j.last_drawn
		 AND (SELECT count(*) FROM live b WHERE b.status = 'succeeded'
			  AND e.id BETWEEN b.first_id AND b.last_id) <> 1);
END $$;
