-- Time keys (issue 20, first step): a job's key may be a timestamptz,
-- timestamp or date column with a btree index (unique not required); keys
-- are kept as integers in their own units and shown as times; equal keys
-- are never split across batches.
CREATE EXTENSION batchintory;
SET TimeZone = 'UTC';

-- SQLSTATE and message of an error
CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

--
-- Refusals
--
CREATE TABLE events (t timestamptz NOT NULL, bytes numeric, kind text);
-- no index on the key
SELECT pg_temp.try($$SELECT batchintory_register('ev', 'events', 't', late_commit_guard => false)$$);
CREATE INDEX events_t ON events (t);
-- the guard needs a sequence; a time key has none (and is off by default)
SELECT pg_temp.try($$SELECT batchintory_register('ev', 'events', 't', late_commit_guard => true)$$);
SELECT batchintory_register('auto', 'events', 't');
SELECT name, late_commit_guard FROM batchintory.job WHERE name = 'auto';
SELECT batchintory_drop('auto');
-- cutting by key range alone counts keys drawn from a sequence
SELECT pg_temp.try($$SELECT batchintory_register('ev', 'events', 't', max_keys => 10, late_commit_guard => false)$$);
-- a key of another type
SELECT pg_temp.try($$SELECT batchintory_register('ev', 'events', 'kind', late_commit_guard => false)$$);

--
-- timestamptz: equal keys at batch edges
--
SELECT batchintory_register('ev', 'events', 't', max_count => 3, late_commit_guard => false);
SELECT pg_temp.try($$SELECT batchintory_alter('ev', late_commit_guard => true)$$);
INSERT INTO events VALUES
	('2026-01-01 00:00', 1, 'a'), ('2026-01-01 00:01', 1, 'a'),
	('2026-01-01 00:02', 1, 'a'), ('2026-01-01 00:02', 1, 'b'),	-- does not fit batch 1
	('2026-01-01 00:03', 1, 'a'),
	('2026-01-01 00:04', 1, 'a'), ('2026-01-01 00:04', 1, 'a'),	-- 4 equal keys: a batch
	('2026-01-01 00:04', 1, 'b'), ('2026-01-01 00:04', 1, 'b'),	-- of their own, over 3
	('2026-01-01 00:05', 1, 'a');
SELECT batch, asset_count, ended_by FROM batchintory_acquire('ev', batches => 10);
SELECT batch, first_key, last_key, asset_count, ended_by, state
FROM batchintory.batches WHERE job = 'ev' ORDER BY batch;
-- every row in exactly one batch
SELECT count(*) AS rows, count(*) FILTER (WHERE (SELECT count(*) FROM batchintory.batch b
	WHERE b.job_id = (SELECT job_id FROM batchintory.job WHERE name = 'ev') AND batchintory.key_units(e.t) BETWEEN b.first_id AND b.last_id) = 1) AS in_one_batch
FROM events e;
SELECT batchintory_predicate(2);
SELECT * FROM batchintory_assets(3, NULL::events);
-- the keys alone are integers: a time key is shown with its rows
SELECT pg_temp.try($$SELECT batchintory_assets(3)$$);
SELECT job, key_type, frontier_key, oldest_unprocessed_key, in_flight FROM batchintory.jobs;
SELECT batch, attempt, status, first_key, last_key FROM batchintory_newest_attempts('ev', 2);
-- acquire and peek return the keys as text too; lookup takes a time
SELECT batch, first_key, last_key FROM batchintory_peek('ev');
SELECT batch, attempt, status FROM batchintory_lookup('ev', '2026-01-01 00:02:00+00');
SELECT batch, attempt, status FROM batchintory_lookup('ev', '2026-01-01 01:04:00+01');
SELECT pg_temp.try($$SELECT * FROM batchintory_lookup('ev', 'not a time')$$);

-- a failed batch comes back whole; the next rows are cut after the frontier
SELECT batchintory_release(1, 1, 'failed', 'boom');
SELECT batchintory_release(b, 1, 'succeeded') FROM generate_series(2, 4) b;
INSERT INTO events VALUES ('2026-01-01 00:06', 1, 'a'), ('2026-01-01 00:06', 1, 'a');
SELECT batch, attempt, asset_count, ended_by FROM batchintory_acquire('ev', batches => 3);
SELECT asset_count, first_key, last_key, retry_batches FROM batchintory_backlog('ev');
-- a row that commits under the frontier later is not handed out (no guard):
-- the audit finds it, counted in batch 2's range
INSERT INTO events VALUES ('2026-01-01 00:02:30', 1, 'late');
SELECT batch, first_key, last_key, recorded_count, actual_count, reason FROM batchintory_verify('ev');
-- rewind to a time: from the batch holding it on, handed out again
SELECT batchintory_rewind('ev', '2026-01-01 00:02:30+00');
SELECT batch, first_key, last_key, asset_count FROM batchintory_acquire('ev', batches => 5);

--
-- weights: a group of equal keys that does not fit the weight limit
--
CREATE TABLE sized (t timestamp NOT NULL, bytes numeric);
CREATE INDEX ON sized (t);
INSERT INTO sized VALUES ('2026-02-01 10:00', 4.5), ('2026-02-01 11:00', 3),
	('2026-02-01 11:00', 3), ('2026-02-01 12:00', 20), ('2026-02-01 12:00', 1),
	('2026-02-01 13:00', 2);
SELECT batchintory_register('sized', 'sized', 't', 'bytes', max_weight => 10,
	late_commit_guard => false);
SELECT batch, asset_count, weight, ended_by FROM batchintory_acquire('sized', batches => 5);
SELECT batch, first_key, last_key, weight FROM batchintory.batches WHERE job = 'sized' ORDER BY batch;

--
-- date keys: a day's rows stay together
--
CREATE TABLE daily (d date NOT NULL, n int);
CREATE INDEX ON daily (d);
INSERT INTO daily SELECT '2026-03-01'::date + g / 4, g FROM generate_series(0, 13) g;
SELECT batchintory_register('daily', 'daily', 'd', max_count => 6, late_commit_guard => false,
	filter => 'n <> 5');
SELECT batch, asset_count, ended_by FROM batchintory_acquire('daily', batches => 10);
SELECT batch, first_key, last_key, asset_count FROM batchintory.batches
WHERE job = 'daily' ORDER BY batch;
SELECT batchintory_predicate(b.batch) FROM batchintory.batches b
WHERE job = 'daily' ORDER BY batch LIMIT 1;

--
-- a backfill between two times: bounds given as times, as text in the key's
-- spelling, or as a date (midnight in the session's zone, as its cast)
--
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	lower_bound => 5)$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	lower_bound => 'yesterday noon')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	lower_bound => '-infinity'::timestamptz)$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	upper_bound => 'infinity')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	lower_bound => '2026-01-02 00:00+00', upper_bound => '2026-01-01'::date)$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'daily', 'd', late_commit_guard => false,
	upper_bound => 20)$$);
SELECT batchintory_register('window', 'events', 't', max_count => 2, late_commit_guard => false,
	lower_bound => '2026-01-01 00:01+00'::timestamptz,
	upper_bound => '2026-01-01 00:03+00');
SELECT batch, asset_count, ended_by FROM batchintory_acquire('window', batches => 5);
SELECT batch, first_key, last_key FROM batchintory.batches WHERE job = 'window' ORDER BY batch;
SELECT job, kind, lower_key, upper_key, frontier_key FROM batchintory.jobs WHERE job = 'window';
-- its upper bound moves on as a time, never below the frontier
SELECT pg_temp.try($$SELECT batchintory_alter('window', upper_bound => '2026-01-01 00:02+00')$$);
SELECT pg_temp.try($$SELECT batchintory_alter('window', lower_bound => '2026-01-01 00:00+00')$$);
SELECT batchintory_alter('window', lower_bound => '2026-01-01 00:01+00',
	upper_bound => '2026-01-01 00:04+00'::timestamp);
SELECT upper_key FROM batchintory.jobs WHERE job = 'window';
SELECT batch, first_key, last_key FROM batchintory_acquire('window', batches => 5);

-- times are shown in the session's time zone
SET TimeZone = 'Europe/Berlin';
SELECT batch, first_key, last_key FROM batchintory.batches WHERE job = 'window' ORDER BY batch;
RESET TimeZone;

--
-- a pipeline: $1 and $2 are the batch's first and last key, typed as the key
--
CREATE TABLE per_day (first_day date, last_day date, n bigint);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'daily', 'd', late_commit_guard => false,
	command => 'SELECT $1 + 1.5')$$);
SELECT batchintory_register('days', 'daily', 'd', max_count => 8, late_commit_guard => false,
	lower_bound => '2026-03-02 18:00+00'::timestamptz,	-- a date key: 2026-03-02
	command => 'INSERT INTO per_day SELECT $1, $2, count(*) FROM daily WHERE d BETWEEN $1 AND $2');
CALL batchintory_run('days');
SELECT * FROM per_day ORDER BY first_day;
SELECT sum(n) = (SELECT count(*) FROM daily WHERE d >= '2026-03-02') AS every_row FROM per_day;

DROP TABLE events, sized, daily, per_day;
DROP EXTENSION batchintory;
