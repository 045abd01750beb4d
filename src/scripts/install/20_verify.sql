-- batchintory: the audit of finished work (C function).

CREATE OR REPLACE FUNCTION batchintory_verify(job text, requeue boolean DEFAULT false)
RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
	recorded_count bigint, actual_count bigint,
	recorded_weight numeric, actual_weight numeric, requeued boolean,
	reason text, late_count bigint, first_key text, last_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_verify';
COMMENT ON FUNCTION batchintory_verify(text, boolean)
	IS 'recount the succeeded batches of a job and look for assets of its window no batch covers; list (and with requeue, hand out again) what changed; zero rows = all match';

-- A job's counters as kept -- its row's, with the changes its progress rows
-- hold added in, as the jobs view reads them -- next to a count of its
-- batches, one row per counter (O(batches)): for an audit, and for the
-- tests that prove them exact under concurrency and crashes.  SQL only: it
-- shares nothing with the code that keeps them.
CREATE OR REPLACE FUNCTION batchintory.job_counters(job_id integer)
RETURNS TABLE (counter text, kept numeric, counted numeric)
LANGUAGE sql STABLE STRICT
AS $$
SELECT k.key, k.value::pg_catalog.numeric,
	(c.counted OPERATOR(pg_catalog.->>) k.key)::pg_catalog.numeric
FROM batchintory.job j
CROSS JOIN LATERAL (
	SELECT pg_catalog.jsonb_build_object(
		'cut_batches', j.cut_batches,
		'cut_assets', j.cut_assets,
		'cut_weight', j.cut_weight,
		'done_batches', j.done_batches OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.batches), 0),
		'done_assets', j.done_assets OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.assets), 0),
		'done_weight', j.done_weight OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.weight), 0),
		'processing_batches', j.processing_batches
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.processing_batches), 0),
		'retry_batches', j.retry_batches
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.retry_batches), 0),
		'failed_batches', j.failed_batches
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.failed_batches), 0),
		'failed_assets', j.failed_assets
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.failed_assets), 0),
		'failed_weight', j.failed_weight
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.failed_weight), 0),
		'skipped_batches', j.skipped_batches
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.sum(p.skipped_batches), 0)) AS kept
	FROM batchintory.progress p WHERE p.job_id OPERATOR(pg_catalog.=) j.job_id) s
CROSS JOIN LATERAL (
	SELECT pg_catalog.jsonb_build_object(
		'cut_batches', pg_catalog.count(*) FILTER (WHERE b.live),
		'cut_assets', COALESCE(pg_catalog.sum(b.asset_count) FILTER (WHERE b.live), 0),
		'cut_weight', COALESCE(pg_catalog.sum(b.weight) FILTER (WHERE b.live), 0),
		'done_batches', pg_catalog.count(*) FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'succeeded'),
		'done_assets', COALESCE(pg_catalog.sum(b.asset_count)
			FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'succeeded'), 0),
		'done_weight', COALESCE(pg_catalog.sum(b.weight)
			FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'succeeded'), 0),
		'processing_batches', pg_catalog.count(*) FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'processing'),
		'retry_batches', pg_catalog.count(*) FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'retry'),
		'failed_batches', pg_catalog.count(*) FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'failed'),
		'failed_assets', COALESCE(pg_catalog.sum(b.asset_count)
			FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'failed'), 0),
		'failed_weight', COALESCE(pg_catalog.sum(b.weight)
			FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'failed'), 0),
		'skipped_batches', pg_catalog.count(*) FILTER (WHERE b.state OPERATOR(pg_catalog.=) 'skipped'))
		AS counted
	FROM (SELECT x.asset_count, x.weight, x.status OPERATOR(pg_catalog.<>) 'superseded' AS live,
			CASE WHEN x.status OPERATOR(pg_catalog.=) 'failed' AND x.retry_after IS NOT NULL
				THEN 'retry' ELSE x.status END AS state
		FROM batchintory.batch x WHERE x.job_id OPERATOR(pg_catalog.=) j.job_id) b) c
CROSS JOIN LATERAL pg_catalog.jsonb_each(s.kept) k
WHERE j.job_id OPERATOR(pg_catalog.=) $1
ORDER BY k.key
$$;
COMMENT ON FUNCTION batchintory.job_counters(integer)
	IS 'a job''s counters as kept and as its batches count them now (O(batches)): they must be equal';
