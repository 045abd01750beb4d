--
-- calendar windows of a time key (window_size): every batch ends where a
-- window ends, a window is handed out once complete, days and months are
-- counted on the calendar of window_time_zone
--
CREATE EXTENSION batchintory;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.try_hint(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || ' (' || hint || ')';
END $$;

CREATE TABLE events (t timestamptz NOT NULL, n int);
CREATE INDEX ON events (t);
INSERT INTO events VALUES
	('2026-01-01 00:00', 1), ('2026-01-01 00:59:59.999999', 2),
	('2026-01-01 01:00', 3), ('2026-01-01 01:30', 4), ('2026-01-01 01:30', 5),
	-- nothing from 02:00 to 03:00
	('2026-01-01 03:15', 6),
	-- the window of this hour is not complete yet
	(date_trunc('hour', now()), 7);
CREATE TABLE ids (id bigint PRIMARY KEY);

--
-- what cannot be a window
--
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'ids', 'id', window_size => '1 hour')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 day 2 hours')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '0')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '-1 hour')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 day', window_time_zone => 'Mars/Olympus_Mons')$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 day', window_time_zone => NULL)$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	empty_windows => true)$$);
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 hour', window_delay => '-1 minute')$$);
SELECT pg_temp.try_hint($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 hour', lower_bound => '2026-01-01 00:30')$$);
SELECT pg_temp.try_hint($$SELECT batchintory_register('bad', 'events', 't', late_commit_guard => false,
	window_size => '1 hour', upper_bound => '2026-01-01 04:30')$$);

--
-- hourly: one batch per hour with assets, the hour without any folded into
-- the next batch (the ranges stay gapless), the current hour held back
--
SELECT batchintory_register('hourly', 'events', 't', window_size => '1 hour',
	late_commit_guard => false);
SELECT batch, first_key, last_key, asset_count, ended_by
FROM batchintory_acquire('hourly', batches => 10);
SELECT count(*) AS more FROM batchintory_acquire('hourly', batches => 10);
SELECT count(*) AS peeked FROM batchintory_peek('hourly');

-- a window may be split by the limits, never merged with the next one; equal
-- keys stay together
SELECT batchintory_register('split', 'events', 't', window_size => '1 hour', max_count => 2,
	late_commit_guard => false);
SELECT batch, first_key, last_key, asset_count, ended_by
FROM batchintory_acquire('split', batches => 10);

-- window_delay: the last hour ended less than two hours ago
INSERT INTO events VALUES (date_trunc('hour', now()) - interval '1 hour', 8);
SELECT batchintory_register('delayed', 'events', 't', window_size => '1 hour',
	window_delay => '2 hours', late_commit_guard => false,
	lower_bound => date_trunc('hour', now()) - interval '1 day');
SELECT count(*) AS handed_out FROM batchintory_acquire('delayed', batches => 30);
SELECT batchintory_alter('delayed', window_delay => '0');
SELECT asset_count, last_id = batchintory.key_units(date_trunc('hour', now())) - 1 AS ends_at_the_hour
FROM batchintory_acquire('delayed', batches => 30);

--
-- a backfill of five hours, empty windows handed out too: exactly one
-- window per batch, the last ending at upper_bound (the end of the last
-- window)
--
SELECT batchintory_register('every_hour', 'events', 't', window_size => '1 hour',
	empty_windows => true, late_commit_guard => false,
	lower_bound => '2026-01-01 00:00', upper_bound => '2026-01-01 05:00');
SELECT job, kind, lower_key, upper_key FROM batchintory.jobs WHERE job = 'every_hour';
SELECT batch, first_key, last_key, asset_count, ended_by
FROM batchintory_acquire('every_hour', batches => 10);
SELECT frontier_key, progress_pct FROM batchintory.jobs WHERE job = 'every_hour';
-- its end moves on by whole windows
SELECT pg_temp.try_hint($$SELECT batchintory_alter('every_hour', upper_bound => '2026-01-01 06:10')$$);
SELECT batchintory_alter('every_hour', upper_bound => '2026-01-01 07:00');
SELECT batch, first_key, last_key, asset_count FROM batchintory_acquire('every_hour', batches => 10);

--
-- days in Europe/Berlin: 23 hours when summer time begins, 25 when it ends
--
CREATE TABLE readings (at timestamptz NOT NULL);
CREATE INDEX ON readings (at);
INSERT INTO readings
SELECT generate_series('2026-03-28 00:00 Europe/Berlin'::timestamptz,
	'2026-03-30 23:00 Europe/Berlin', '1 hour')
UNION ALL
SELECT generate_series('2026-10-24 00:00 Europe/Berlin'::timestamptz,
	'2026-10-26 23:00 Europe/Berlin', '1 hour');
SELECT batchintory_register('berlin_days', 'readings', 'at', window_size => '1 day',
	window_time_zone => 'Europe/Berlin', late_commit_guard => false);
SET TimeZone = 'Europe/Berlin';
SELECT batch, first_key, last_key, asset_count,
	batchintory.units_timestamptz(last_id + 1) - batchintory.units_timestamptz(first_id) AS span
FROM batchintory_acquire('berlin_days', batches => 10);
RESET TimeZone;
SET TimeZone = 'UTC';
-- the same days counted in UTC cut elsewhere
SELECT batchintory_register('utc_days', 'readings', 'at', window_size => '1 day',
	late_commit_guard => false);
SELECT first_key, asset_count FROM batchintory_acquire('utc_days', batches => 2);

--
-- date keys: months, and weeks from a Monday
--
CREATE TABLE daily (d date NOT NULL);
CREATE INDEX ON daily (d);
INSERT INTO daily SELECT generate_series('2026-01-25'::date, '2026-03-03', '1 day');
SELECT pg_temp.try($$SELECT batchintory_register('bad', 'daily', 'd', late_commit_guard => false,
	window_size => '6 hours')$$);
SELECT batchintory_register('months', 'daily', 'd', window_size => '1 month',
	late_commit_guard => false);
SELECT batch, first_key, last_key, asset_count FROM batchintory_acquire('months', batches => 10);
SELECT batchintory_register('weeks', 'daily', 'd', window_size => '7 days',
	window_origin => '2026-01-05', late_commit_guard => false,
	lower_bound => '2026-01-26'::date, upper_bound => '2026-02-16');
SELECT batch, first_key, last_key, asset_count, to_char(first_key::date, 'Dy') AS starts
FROM batchintory_acquire('weeks', batches => 10);
SELECT pg_temp.try_hint($$SELECT batchintory_alter('weeks', upper_bound => '2026-02-20')$$);

-- a key of 'infinity' never lies in a complete window: it is never handed out
CREATE TABLE forever (t timestamptz NOT NULL);
CREATE INDEX ON forever (t);
INSERT INTO forever VALUES ('2026-01-01 00:10'), ('infinity');
SELECT batchintory_register('forever', 'forever', 't', window_size => '1 day');
SELECT batch, first_key, last_key, asset_count FROM batchintory_acquire('forever', batches => 5);
SELECT count(*) AS nothing_more FROM batchintory_acquire('forever');
-- DDL underneath: the key is no longer a time
ALTER TABLE forever ALTER t TYPE text;
SELECT pg_temp.try($$SELECT * FROM batchintory_acquire('forever')$$);
SELECT job, problem FROM batchintory.jobs WHERE job = 'forever';
SELECT batchintory_drop('forever');
DROP TABLE forever;

--
-- a timestamp key: windows on its own wall clock
--
CREATE TABLE local_events (t timestamp NOT NULL);
CREATE INDEX ON local_events (t);
INSERT INTO local_events VALUES ('2026-03-29 01:30'), ('2026-03-29 23:30'), ('2026-03-30 00:00');
SELECT batchintory_register('local_days', 'local_events', 't', window_size => '1 day',
	late_commit_guard => false);
SELECT batch, first_key, last_key, asset_count FROM batchintory_acquire('local_days', batches => 10);

--
-- an hourly pipeline: its summary is the source's GROUP BY of every
-- complete hour
--
CREATE TABLE per_hour (hour timestamptz PRIMARY KEY, events bigint, total bigint);
SELECT batchintory_register('summary', 'events', 't', window_size => '1 hour',
	late_commit_guard => false,
	command => $$INSERT INTO per_hour SELECT date_trunc('hour', t), count(*), sum(n)
		FROM events WHERE t BETWEEN $1 AND $2 GROUP BY 1$$);
CALL batchintory_run('summary');
SELECT * FROM per_hour ORDER BY hour LIMIT 3;
CREATE VIEW complete_hours AS
SELECT date_trunc('hour', t) AS hour, count(*) AS events, sum(n) AS total
FROM events WHERE t < date_trunc('hour', now()) GROUP BY 1;
SELECT NOT EXISTS (TABLE per_hour EXCEPT TABLE complete_hours)
	AND NOT EXISTS (TABLE complete_hours EXCEPT TABLE per_hour) AS equals_group_by;

DROP VIEW complete_hours;
DROP TABLE events, ids, readings, daily, local_events, per_hour;
DROP EXTENSION batchintory;
