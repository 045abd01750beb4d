-- One acquire + release cycle, rolled back: the job's frontier never moves,
-- so the table (N) and the inventory (B) stay the same size for the whole
-- run, and a table of any size never runs out of work.  pgbench -D job=NAME
BEGIN;
SELECT batch, attempt FROM batchintory_acquire(:job) \gset
SELECT batchintory_release(:batch, :attempt, 'succeeded');
ROLLBACK;
