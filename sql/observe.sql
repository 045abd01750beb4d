-- Observability: backlog, lookup, batch contents, details and the views
-- batchintory.jobs, batchintory.batches and batchintory.attempts.
CREATE EXTENSION batchintory;

-- SQLSTATE and message of an error
CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- keys 0..9, weight = 2 * key; keys 2, 5 and 8 are json, the others csv
-- (csv: 0 1 3 4 6 7 9, weight 60).  The dropped column stays in the row type.
CREATE TABLE files (id bigint PRIMARY KEY, junk int, bytes numeric, kind text NOT NULL);
ALTER TABLE files DROP COLUMN junk;
INSERT INTO files
SELECT g, 2 * g, CASE WHEN g % 3 = 2 THEN 'json' ELSE 'csv' END
FROM generate_series(0, 9) g;
ANALYZE files;

SELECT batchintory_register('csv', 'files', 'id', 'bytes', filter => $$kind = 'csv'$$,
	max_count => 3, config => '{"model": "v1"}');

--
-- Backlog
--
-- exact: every csv asset, nothing handed out yet
SELECT * FROM batchintory_backlog('csv');
-- estimate: the planner's row estimate (7 = 70% csv of 10 rows in the
-- statistics); no weight before the first batch
SELECT * FROM batchintory_backlog('csv', exact => false);

-- two batches: 1 = [0,3] (0 1 3, weight 8), 2 = [4,7] (4 6 7, weight 34)
SELECT batch, attempt, first_id, last_id, asset_count, weight
FROM batchintory_acquire('csv', worker => 'w1', batches => 2);
-- one asset left (9, weight 18), two batches in flight
SELECT * FROM batchintory_backlog('csv');
-- the estimate scales the average weight of the batches so far (42 / 6 = 7
-- per asset): rough when weights grow with the key, as here
SELECT * FROM batchintory_backlog('csv', false);

SELECT batchintory_release(1, 1, 'succeeded', 'ok');
SELECT batchintory_release(2, 1, 'failed', 'disk full');
-- batch 2 waits for a retry
SELECT * FROM batchintory_backlog('csv');
-- the configuration changes before the retry: attempt 2 records the new one
SELECT batchintory_alter('csv', config => '{"model": "v2"}');
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('csv', worker => 'w2');
SELECT * FROM batchintory_backlog('csv');

SELECT pg_temp.try('SELECT * FROM batchintory_backlog(''nope'')');
SELECT count(*) FROM batchintory_backlog(NULL);

--
-- Lookup
--
-- asset 6: both attempts of batch 2, with worker, outcome and configuration
SELECT job, batch, attempt, status, first_id, last_id, worker, message, config,
	application_name, client_addr IS NOT DISTINCT FROM inet_client_addr() AS same_addr,
	acquired_at <= released_at AS acquired_first, lease_until > now() AS leased
FROM batchintory_lookup('csv', 6);
-- asset 2 is json, yet inside the range of batch 1
SELECT job, batch, attempt, status, message FROM batchintory_lookup('csv', 2);
-- asset 9 is in no batch yet
SELECT count(*) FROM batchintory_lookup('csv', 9);
SELECT pg_temp.try('SELECT * FROM batchintory_lookup(''nope'', 1)');

-- a second job on the same table, for the json files, one attempt only
SELECT batchintory_register('json', 'files', 'id', filter => $$kind = 'json' -- no csv$$,
	max_attempts => 1);
SELECT batch, first_id, last_id, asset_count FROM batchintory_acquire('json', worker => 'j1');
SELECT batchintory_release(3, 1, 'failed', 'bad schema');
-- every job of the table that covered asset 6
SELECT job, batch, attempt, status, worker, message, config
FROM batchintory_lookup_all('files', 6);

-- Lookup probes the live batches through batch_job_live and the superseded
-- ones through the GiST index batch_range (int8range @> id), not every batch
-- of the job: the scans of both indexes are counted.
SELECT pg_stat_force_next_flush();
SELECT sum(idx_scan) FILTER (WHERE indexrelname = 'batch_job_live') AS live_before,
	sum(idx_scan) FILTER (WHERE indexrelname = 'batch_range') AS range_before
FROM pg_stat_user_indexes WHERE schemaname = 'batchintory' \gset
SELECT count(*) FROM batchintory_lookup('csv', 6);
SELECT count(*) FROM batchintory_lookup_all('files', 6);
SELECT pg_stat_force_next_flush();
SELECT sum(idx_scan) FILTER (WHERE indexrelname = 'batch_job_live') - :live_before >= 2
		AS live_batches_probed,
	sum(idx_scan) FILTER (WHERE indexrelname = 'batch_range') - :range_before >= 2
		AS superseded_batches_probed
FROM pg_stat_user_indexes WHERE schemaname = 'batchintory';

--
-- Batch contents
--
SELECT batchintory_assets(1);
-- the user's own rows, typed, in key order
SELECT * FROM batchintory_assets(2, NULL::files);
SELECT f.id, f.bytes / 2 AS half FROM batchintory_assets(2, NULL::files) f;
SELECT * FROM batchintory_assets(1, NULL::pg_class);
SELECT pg_temp.try('SELECT * FROM batchintory_assets(1, 0)');
SELECT pg_temp.try('SELECT * FROM batchintory_assets(NULL, NULL::files)');
SELECT pg_temp.try('SELECT * FROM batchintory_assets(42)');

-- the predicate for a pushed-down read selects the same rows
SELECT batchintory_predicate(2);
SELECT format('SELECT array_agg(id ORDER BY id) FROM files WHERE %s', batchintory_predicate(2))
\gexec
-- the filter comes out as its deparse: qualified where needed, comments gone
SELECT batchintory_predicate(3);
SELECT format('SELECT array_agg(id ORDER BY id) FROM files WHERE %s', batchintory_predicate(3))
\gexec
SELECT pg_temp.try('SELECT batchintory_predicate(42)');

--
-- Enrichment: the details of the current attempt, to store with the output
--
SELECT batchintory_details(2) - 'acquired_at' - 'lease_until' - 'released_at' AS details;
SELECT (batchintory_details(2) ->> 'acquired_at')::timestamptz = acquired_at AS same_time
FROM batchintory.attempt WHERE batch_id = 2 AND attempt = 2;
SELECT pg_temp.try('SELECT batchintory_details(42)');

--
-- A backfill of keys 1..7, one asset per batch, a lease that runs out at
-- once: 4 batches taken, 3 succeed, the 4th is abandoned
--
SELECT batchintory_register('backfill', 'files', 'id', 'bytes', lower_bound => 1,
	upper_bound => 7, max_count => 1, lease => '1 millisecond');
SELECT batch, first_id, last_id FROM batchintory_acquire('backfill', batches => 4);
SELECT pg_sleep(0.01);
SELECT batchintory_release(batch, 1, 'succeeded') FROM generate_series(4, 6) batch;
-- 3 assets (5 6 7) not handed out; the abandoned batch waits for a retry
SELECT * FROM batchintory_backlog('backfill');
SELECT job, batch, attempt, status FROM batchintory_lookup('backfill', 4);

SELECT job, batch, first_id, last_id, status, state, attempt, attempts_left
FROM batchintory.batches ORDER BY batch;

-- 3 of 7 assets processed: 42.9%
SELECT job, kind, lower_bound, upper_bound, frontier, processed, total, progress_pct,
	succeeded, failed, in_flight, abandoned, retry_pending,
	last_success IS NOT NULL AS has_success, oldest_unprocessed,
	registered_ago < '1 hour' AS recent
FROM batchintory.jobs ORDER BY job;

-- the attempts view, as a monitoring query reads it
SELECT status, count(*), sum(asset_count) AS assets
FROM batchintory.attempts GROUP BY status ORDER BY status;

-- the jobs view at a glance (who may see which job: security.sql)
SELECT job, processed, total, progress_pct, oldest_unprocessed, backlog_estimate, problem
FROM batchintory.jobs ORDER BY job;

-- the rest of the backfill: the total is now counted from the batches
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('backfill', batches => 4);
SELECT batchintory_release(b.batch_id, b.attempt, 'succeeded')
FROM batchintory.batch b WHERE b.batch_id BETWEEN 7 AND 10;
SELECT job, frontier, processed, total, progress_pct, abandoned, retry_pending, oldest_unprocessed
FROM batchintory.jobs WHERE job = 'backfill';
SELECT * FROM batchintory_backlog('backfill');

-- after a rewind to key 6, lookup shows the superseded batch and the new one;
-- progress counts the live batches only: 5 of 7
SELECT batchintory_rewind('backfill', 6);
SELECT batchintory_alter('backfill', lease => '1 hour');
SELECT batch, first_id, last_id FROM batchintory_acquire('backfill');
SELECT job, batch, attempt, status, batch_status FROM batchintory_lookup('backfill', 6);
SELECT job, frontier, processed, total, progress_pct, abandoned, oldest_unprocessed
FROM batchintory.jobs WHERE job = 'backfill';

-- After layers of rewinds (superseded batches overlapping each other and the
-- live ones), lookup and lookup_all agree, key for key, with a look at every
-- batch of the job; keys 0, 53..61 are in no batch.
CREATE TABLE layered (id bigint PRIMARY KEY);
INSERT INTO layered SELECT g FROM generate_series(1, 60) g;
SELECT batchintory_register('layers', 'layered', 'id', max_count => 7,
	late_commit_guard => false);
SELECT count(*) FROM batchintory_acquire('layers', batches => 5);
SELECT batchintory_rewind('layers', 10);
SELECT count(*) FROM batchintory_acquire('layers', max_count => 4, batches => 4);
SELECT batchintory_rewind('layers', 20);
SELECT count(*) FROM batchintory_acquire('layers', max_count => 11, batches => 3);
SELECT batch, first_id, last_id, status FROM batchintory.batches WHERE job = 'layers'
ORDER BY batch;
SELECT count(*) AS keys,
	count(*) FILTER (WHERE by_lookup IS NOT DISTINCT FROM by_scan) AS lookup_agrees,
	count(*) FILTER (WHERE by_lookup_all IS NOT DISTINCT FROM by_scan) AS lookup_all_agrees,
	count(by_scan) AS covered, max(cardinality(by_scan)) AS most_attempts
FROM (SELECT k,
	(SELECT array_agg(l.batch ORDER BY l.batch, l.attempt)
	 FROM batchintory_lookup('layers', k) l) AS by_lookup,
	(SELECT array_agg(l.batch ORDER BY l.batch, l.attempt)
	 FROM batchintory_lookup_all('layered', k) l) AS by_lookup_all,
	(SELECT array_agg(a.batch_id ORDER BY a.batch_id, a.attempt)
	 FROM batchintory.batch b JOIN batchintory.attempt a USING (batch_id)
	 JOIN batchintory.job j ON j.job_id = b.job_id
	 WHERE j.name = 'layers' AND k BETWEEN b.first_id AND b.last_id) AS by_scan
	FROM generate_series(0, 61) k) t;
DROP TABLE layered;

-- The jobs view's estimate is kept by the backend and made again when what
-- it is made from changes: rows added (the table's size, its highest key),
-- ANALYZE, the job's settings, the table's definition.
CREATE TABLE polled (id int PRIMARY KEY, kind text);
INSERT INTO polled SELECT g, 'a' FROM generate_series(1, 100) g;
ANALYZE polled;
SELECT batchintory_register('polled', 'polled', 'id', filter => $$kind = 'a'$$,
	late_commit_guard => false);
SELECT backlog_estimate, problem FROM batchintory.jobs WHERE job = 'polled';
SELECT backlog_estimate, problem FROM batchintory.jobs WHERE job = 'polled';
INSERT INTO polled SELECT g, 'a' FROM generate_series(101, 1000) g;
SELECT backlog_estimate > 100 AS grew FROM batchintory.jobs WHERE job = 'polled';
ANALYZE polled;
SELECT backlog_estimate FROM batchintory.jobs WHERE job = 'polled';
SELECT batchintory_alter('polled', lower_bound => 601);
SELECT backlog_estimate FROM batchintory.jobs WHERE job = 'polled';
SELECT count(*) FROM batchintory_acquire('polled', max_count => 100);
SELECT backlog_estimate FROM batchintory.jobs WHERE job = 'polled';
ALTER TABLE polled DROP COLUMN kind;
SELECT backlog_estimate, problem FROM batchintory.jobs WHERE job = 'polled';
SELECT batchintory_drop('polled');
DROP TABLE polled;

DROP TABLE files;
DROP EXTENSION batchintory;
