-- Acquire and release as a worker does them: each its own committed
-- transaction (the work would happen in between).  The frontier moves by
-- one batch per cycle; got = 0 when the job ran out of assets.
-- pgbench -D job=NAME
SELECT count(*) AS got, coalesce(max(batch), 0) AS batch, coalesce(max(attempt), 0) AS attempt
	FROM batchintory_acquire(:job) \gset
\if :got
SELECT batchintory_release(:batch, :attempt, 'succeeded');
\endif
