--
-- rows that come into a batch after its cut: a job without the late-commit
-- guard records what each cut saw (batchintory.batch.cut_snapshot); verify
-- lists the batches that rows came into later ('late', late_count), and
-- late => 'reprocess' hands them out again
--
CREATE EXTENSION batchintory;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE events (t timestamptz NOT NULL, n int);
CREATE INDEX ON events (t);
INSERT INTO events SELECT '2026-01-01 00:00'::timestamptz + g * interval '10 minutes', g
FROM generate_series(0, 17) g;	-- three hours, six events each
CREATE TABLE ids (id bigserial PRIMARY KEY, n int);
INSERT INTO ids (n) SELECT g FROM generate_series(1, 6) g;

--
-- the settings
--
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	late => 'ignore')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'ids', 'id', late => 'reprocess')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'ids', 'id', late_commit_guard => false,
	late => 'reprocess')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	late => 'reprocess', late_horizon => '0')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	late => NULL)$$);

--
-- late => 'record': verify lists the rows, exactly
--
SELECT batchintory_register('hourly', 'events', 't', window_size => '1 hour',
	late_commit_guard => false);
SELECT batch, first_key, asset_count FROM batchintory_acquire('hourly', batches => 5);
-- each cut recorded what it saw; a job with the guard records nothing
SELECT count(*) FILTER (WHERE cut_snapshot IS NOT NULL) AS recorded FROM batchintory.batch;
SELECT batchintory_release(batch, 1, 'succeeded') FROM generate_series(1, 3) batch;
SELECT batchintory_register('guarded', 'ids', 'id', max_count => 3);
SELECT batch FROM batchintory_acquire('guarded');
SELECT batch_id, cut_snapshot IS NULL AS nothing_recorded FROM batchintory.batch WHERE batch_id = 4;

-- nothing came late yet
SELECT * FROM batchintory_verify('hourly');
-- an event of 00:25 arrives now, and one of 01:10 is deleted: the hour of
-- 00:00 came late, and the hour of 01:00 still holds six rows, one of them
-- late -- a recount alone would see no change there
INSERT INTO events VALUES ('2026-01-01 00:25', 100);
DELETE FROM events WHERE t = '2026-01-01 01:10';
INSERT INTO events VALUES ('2026-01-01 01:55', 101);
SELECT batch, first_key, recorded_count, actual_count, late_count, reason, requeued
FROM batchintory_verify('hourly');
-- which rows came late: the batch's rows its cut did not see
SELECT * FROM batchintory_late_assets(2, NULL::events);
SELECT pg_temp.try($$SELECT batchintory_late_assets(4, NULL::ids)$$);
SELECT pg_temp.try($$SELECT batchintory_late_assets(2, NULL::ids)$$);
-- an UPDATE that moves a row into an hour makes it late there too
UPDATE events SET t = '2026-01-01 02:05' WHERE n = 0;
SELECT batch, first_key, recorded_count, actual_count, late_count, reason
FROM batchintory_verify('hourly');
-- VACUUM FREEZE keeps a row's xmin: still late
VACUUM (FREEZE) events;
SELECT batch, late_count FROM batchintory_verify('hourly');
-- what verify found is kept with the batches: the jobs view counts it
SELECT job, late_batches, late_rows FROM batchintory.jobs WHERE job = 'hourly';
-- requeue hands them out again; the new cut sees the rows
SELECT batch, requeued FROM batchintory_verify('hourly', requeue => true);
SELECT batch, attempt, first_key, asset_count FROM batchintory_acquire('hourly', batches => 5);
SELECT batchintory_release(batch, 2, 'succeeded') FROM generate_series(1, 3) batch;
SELECT * FROM batchintory_verify('hourly');
SELECT job, late_batches, late_rows FROM batchintory.jobs WHERE job = 'hourly';

--
-- late => 'reprocess': an acquire that finds no new work hands out again
-- the batches of the last late_horizon that rows came into
--
SELECT batchintory_alter('hourly', late => 'reprocess', late_horizon => '90 minutes');
SELECT count(*) AS nothing_new FROM batchintory_acquire('hourly');
INSERT INTO events VALUES ('2026-01-01 00:30', 102), ('2026-01-01 02:30', 103);
-- the hour of 02:00 lies within 90 minutes before the frontier (02:59:59.999999),
-- the hour of 00:00 does not: verify still lists it
SELECT batch, attempt, first_key, asset_count FROM batchintory_acquire('hourly', batches => 5);
SELECT batchintory_release(3, 3, 'succeeded');
SELECT count(*) AS nothing_new FROM batchintory_acquire('hourly');
SELECT batch, first_key, late_count, reason FROM batchintory_verify('hourly');
SELECT job, late_batches, late_rows FROM batchintory.jobs WHERE job = 'hourly';
-- a late row deleted again: verify clears what it kept
DELETE FROM events WHERE n = 102;
SELECT count(*) AS still_late FROM batchintory_verify('hourly');
SELECT job, late_batches, late_rows FROM batchintory.jobs WHERE job = 'hourly';
-- peek neither requeues nor records
SELECT batchintory_alter('hourly', late_horizon => '1 day');
SELECT count(*) AS peeked FROM batchintory_peek('hourly');
SELECT batch, status FROM batchintory.batches WHERE job = 'hourly' ORDER BY batch;

--
-- a stored pipeline with late => 'reprocess': an hourly summary stays equal
-- to a GROUP BY of the events, whatever arrives late
--
CREATE TABLE per_hour (hour timestamptz PRIMARY KEY, events bigint, total bigint);
SELECT batchintory_register('summary', 'events', 't', window_size => '1 hour',
	late_commit_guard => false, late => 'reprocess',
	command => $$INSERT INTO per_hour SELECT date_trunc('hour', t), count(*), sum(n)
		FROM events WHERE t BETWEEN $1 AND $2 GROUP BY 1
		ON CONFLICT (hour) DO UPDATE SET events = excluded.events, total = excluded.total$$);
CALL batchintory_run('summary');
INSERT INTO events VALUES ('2026-01-01 01:01', 1000), ('2026-01-01 02:02', 2000);
CALL batchintory_run('summary');
CREATE VIEW hours AS
SELECT date_trunc('hour', t) AS hour, count(*) AS events, sum(n) AS total FROM events GROUP BY 1;
SELECT NOT EXISTS (TABLE per_hour EXCEPT TABLE hours)
	AND NOT EXISTS (TABLE hours EXCEPT TABLE per_hour) AS equals_group_by;

-- rows the acquiring transaction wrote itself are what its cut saw
BEGIN;
INSERT INTO events VALUES ('2026-01-01 05:10', 7);
SELECT batchintory_register('own', 'events', 't', window_size => '1 hour',
	late_commit_guard => false, lower_bound => '2026-01-01 05:00');
SELECT batch, first_key, asset_count FROM batchintory_acquire('own');
COMMIT;
SELECT batchintory_release(batch, 1, 'succeeded') FROM batchintory.batches WHERE job = 'own';
SELECT count(*) AS late FROM batchintory_verify('own');

DROP VIEW hours;
DROP TABLE events, ids, per_hour;
DROP EXTENSION batchintory;
