-- A dashboard's questions, answered through indexes: the newest batches and
-- attempts of a job (batchintory_newest_batches, batchintory_newest_attempts,
-- which equal the views' ORDER BY ... LIMIT), a worker's attempts, what a
-- job handed out between two times (the views, through the indexes
-- attempt_worker and attempt_job_acquired).
CREATE EXTENSION batchintory;

-- SQLSTATE and message of an error
CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- rows read from the inventory's batch and attempt tables (index entries
-- and rows of sequential scans) since the last call, as of the last
-- statement that ran :flush (its counts are flushed as it ends)
\set flush 'SELECT pg_stat_force_next_flush()'
CREATE TEMP TABLE read_before AS SELECT 0::bigint AS n;
CREATE FUNCTION pg_temp.rows_read() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	total bigint;
	since bigint;
BEGIN
	SELECT (SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i
			WHERE i.schemaname = 'batchintory' AND i.relname IN ('batch', 'attempt'))
		+ (SELECT sum(t.seq_tup_read) FROM pg_stat_user_tables t
			WHERE t.schemaname = 'batchintory' AND t.relname IN ('batch', 'attempt'))
	INTO total;
	SELECT total - r.n INTO since FROM read_before r;
	UPDATE read_before SET n = total;
	RETURN since;
END $$;

-- 2,000 batches of one asset each in job dash, 10 at a time, by workers w0
-- and w1, and 5 by worker rare; the last 6 rewound, 3 of them handed out
-- again; batch 3 fails and is retried last (its attempt 2 is the newest
-- attempt, of one of the oldest batches); a small job beside it
CREATE TABLE files (id bigint PRIMARY KEY);
INSERT INTO files SELECT g FROM generate_series(1, 3000) g;
SELECT batchintory_register('dash', 'files', 'id', max_count => 1, late_commit_guard => false);
SELECT batchintory_register('small', 'files', 'id', max_count => 1000, late_commit_guard => false);
SELECT count(*) FROM generate_series(0, 199) g,
	LATERAL batchintory_acquire('dash', worker => 'w' || g % 2, batches => 10);
SELECT count(*) FROM batchintory_acquire('dash', worker => 'rare', batches => 5);
SELECT count(*) FROM batchintory_acquire('small', batches => 3);
-- keys from 2000 on handed out again: superseded batches share first keys
-- with the new ones
SELECT batchintory_rewind('dash', 2000);
SELECT count(*) FROM batchintory_acquire('dash', worker => 'w0', batches => 3);
SELECT batchintory_release(3, 1, 'failed', 'boom');
SELECT count(batchintory_release(batch, attempt, 'succeeded'))
FROM batchintory.batches WHERE job = 'dash' AND status = 'processing' AND batch % 2 = 0;
SELECT batch, attempt FROM batchintory_acquire('dash', worker => 'rare');
ANALYZE batchintory.batch, batchintory.attempt, batchintory.job;

--
-- The newest batches and attempts equal the views' answers
--
SELECT batch, first_id, last_id, state, attempt FROM batchintory_newest_batches('dash', 3);
SELECT batch, attempt, status, worker FROM batchintory_newest_attempts('dash', 3);
SELECT count(*) FROM batchintory_newest_batches('dash');
SELECT count(*) FROM batchintory_newest_attempts('small');
SELECT n, (SELECT array_agg(b::text) FROM batchintory_newest_batches('dash', n) b)
	= (SELECT array_agg(b::text) FROM (SELECT * FROM batchintory.batches
		WHERE job = 'dash' ORDER BY first_id DESC, batch DESC LIMIT n) b) AS batches_equal,
	(SELECT array_agg(a::text) FROM batchintory_newest_attempts('dash', n) a)
	= (SELECT array_agg(a::text) FROM (SELECT * FROM batchintory.attempts
		WHERE job = 'dash' ORDER BY acquired_at DESC, batch DESC, attempt DESC LIMIT n) a)
		AS attempts_equal
FROM unnest(ARRAY[1, 20, 1999, 5000]) n;

-- ... and read a bounded number of rows (the newest ones, and those that
-- share the oldest one's key or time), where the view sorts every batch of
-- the job
:flush \gset
SELECT pg_temp.rows_read() \gset ignored_
SELECT count(*) FROM batchintory_newest_batches('dash', 20);
:flush \gset
SELECT pg_temp.rows_read() <= 100 AS bounded;
SELECT count(*) FROM batchintory_newest_attempts('dash', 20);
:flush \gset
SELECT pg_temp.rows_read() <= 100 AS bounded;
SELECT count(*) FROM (SELECT * FROM batchintory.batches WHERE job = 'dash'
	ORDER BY first_id DESC LIMIT 20) v;
:flush \gset
SELECT pg_temp.rows_read() >= 2000 AS every_batch;

--
-- The views' filters that indexes serve
--
-- a worker's attempts (probed once per job the planner may choose to)
SELECT count(*) FROM batchintory.attempts WHERE worker = 'rare';
:flush \gset
SELECT pg_temp.rows_read() <= 50 AS bounded;
-- what a job handed out between two times: its attempts acquired then,
-- with their batches' keys and states (since the retry of batch 3: itself)
SELECT acquired_at AS retried_at FROM batchintory_newest_attempts('dash', 1) \gset
:flush \gset
SELECT pg_temp.rows_read() \gset ignored_
SELECT batch, attempt, first_id, last_id, batch_status FROM batchintory.attempts
WHERE job = 'dash' AND acquired_at BETWEEN :'retried_at' AND now();
:flush \gset
SELECT pg_temp.rows_read() <= 20 AS bounded;
SELECT count(*) FROM batchintory.attempts
WHERE job = 'dash' AND acquired_at BETWEEN now() + interval '1 hour' AND now() + interval '2 hours';
:flush \gset
SELECT pg_temp.rows_read() <= 20 AS bounded;

--
-- Refusals, and who may see
--
SELECT pg_temp.try($$SELECT * FROM batchintory_newest_batches('dash', 0)$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_newest_attempts('dash', -1)$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_newest_batches('nope')$$);
SELECT count(*) FROM batchintory_newest_batches(NULL);
SELECT count(*) FROM batchintory_newest_attempts('dash', NULL);
CREATE ROLE regress_dash_stranger;
CREATE ROLE regress_dash_monitor IN ROLE pg_monitor;
SET ROLE regress_dash_stranger;
SELECT pg_temp.try($$SELECT * FROM batchintory_newest_batches('dash')$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_newest_attempts('dash')$$);
SET ROLE regress_dash_monitor;
SELECT count(*) FROM batchintory_newest_batches('dash', 7);
SELECT count(*) FROM batchintory_newest_attempts('dash', 7);
RESET ROLE;
DROP ROLE regress_dash_stranger;
DROP ROLE regress_dash_monitor;

-- the largest count: every batch, the bound the oldest
SELECT count(*) FROM batchintory_newest_batches('small', 2147483647);

-- the metadata table dropped underneath: the inventory is read, never the table
CREATE TABLE gone (id bigint PRIMARY KEY);
INSERT INTO gone SELECT generate_series(1, 5);
SELECT batchintory_register('gone', 'gone', 'id', max_count => 2, late_commit_guard => false);
SELECT count(*) FROM batchintory_acquire('gone', batches => 3);
DROP TABLE gone;
SELECT batch, first_id, last_id, state FROM batchintory_newest_batches('gone', 2);
SELECT count(*) FROM batchintory_newest_attempts('gone');
SELECT batchintory_drop('gone');

-- a job without batches
SELECT batchintory_register('idle', 'files', 'id');
SELECT count(*) FROM batchintory_newest_batches('idle');
SELECT count(*) FROM batchintory_newest_attempts('idle');

DROP TABLE files;
DROP EXTENSION batchintory;
