-- pgbench script of a worker that releases its batch and acquires the next
-- one in one transaction (so it holds a batch row while it waits for the
-- job's lock: the pattern that deadlocked rewinds in 0.1.0); the second
-- batch is never released and comes back once its lease ran out
\set n random(1, 40)
SELECT coalesce(max(batch), 0) AS b, coalesce(max(attempt), 0) AS a FROM batchintory_acquire('stress', max_count => :n, worker => 'chain') \gset
\if :b > 0
BEGIN;
SELECT release_or_record(:b, :a, 'succeeded');
SELECT count(*) FROM batchintory_acquire('stress', max_count => :n, worker => 'chain');
COMMIT;
\endif
