-- The walkthrough "Five minutes in psql" of README.md, written by
-- "perl test/docs/walkthrough.pl --write-sql": edit README.md, not this
-- file (docs/testing.md says how to update expected/walkthrough.out).
CREATE EXTENSION batchintory;
CREATE TABLE files (
    id         bigserial PRIMARY KEY,
    path       text NOT NULL,
    bytes      bigint,
    kind       text NOT NULL,
    created_at timestamptz DEFAULT now()
);
INSERT INTO files (path, bytes, kind)
SELECT format('s3://lake/raw/%s.%s', g, k), 1000 * g, k
FROM generate_series(1, 10) g,
     LATERAL (SELECT CASE WHEN g % 3 = 0 THEN 'parquet' ELSE 'csv' END AS k) t;

SELECT batchintory_register('csv_ingest', 'files', 'id', 'bytes',
    filter => $$kind = 'csv'$$, max_count => 3, config => '{"model": "v1"}');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by, config
FROM batchintory_acquire('csv_ingest', worker => 'spark-1');

SELECT batchintory_release(1, 1, 'succeeded');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_acquire('csv_ingest', max_weight => 12000, worker => 'spark-1');

SELECT batchintory_release(2, 1, 'failed', 'executor lost');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_acquire('csv_ingest', worker => 'spark-2');

SELECT batchintory_release(2, 1, 'succeeded');
SELECT batchintory_release(2, 2, 'succeeded');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_peek('csv_ingest');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_acquire('csv_ingest', worker => 'spark-1');
SELECT batchintory_release(3, 1, 'succeeded');

INSERT INTO files (path, bytes, kind) VALUES ('s3://lake/raw/11.csv', 500, 'csv');
SELECT * FROM batchintory_backlog('csv_ingest');

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_acquire('csv_ingest', worker => 'spark-1');
SELECT batchintory_release(4, 1, 'succeeded');

SELECT batchintory_register('parquet_backfill', 'files', 'id', 'bytes',
    filter => $$kind = 'parquet'$$, upper_bound => 9, max_count => 2);

SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by
FROM batchintory_acquire('parquet_backfill', worker => 'cron', batches => 3);

SELECT batchintory_release(batch, 1, 'succeeded') FROM generate_series(5, 6) AS batch;
INSERT INTO files (path, bytes, kind) VALUES ('s3://lake/raw/12.parquet', 12000, 'parquet');
SELECT batch, first_id, last_id FROM batchintory_acquire('parquet_backfill');

SELECT job, kind, upper_bound, frontier, processed, total, progress_pct
FROM batchintory.jobs ORDER BY job;

SELECT batch, attempt, status, first_id, last_id, worker, message, config
FROM batchintory_lookup('csv_ingest', 7);

SELECT batch, attempt, status, first_id, last_id, worker
FROM batchintory_newest_attempts('csv_ingest', 3);

SET DateStyle = ISO; SET TimeZone = UTC;
CREATE TABLE events (at timestamptz NOT NULL, bytes bigint);
CREATE INDEX ON events (at);
INSERT INTO events VALUES ('2026-03-01 10:05', 100), ('2026-03-01 10:40', 200),
    ('2026-03-01 11:15', 300), ('2026-03-01 13:30', 400);
CREATE TABLE traffic (hour timestamptz PRIMARY KEY, events bigint, bytes numeric);
SELECT batchintory_register('hourly', 'events', 'at', window_size => '1 hour',
    lower_bound => '2026-03-01 10:00',
    command => $$INSERT INTO traffic
        SELECT date_trunc('hour', at), count(*), sum(bytes) FROM events
        WHERE at BETWEEN $1 AND $2 GROUP BY 1
        ON CONFLICT (hour) DO UPDATE SET events = excluded.events, bytes = excluded.bytes$$);
CALL batchintory_run('hourly');
SELECT batch, first_key, last_key, asset_count FROM batchintory.batches
WHERE job = 'hourly' ORDER BY batch;

INSERT INTO events VALUES ('2026-03-01 10:50', 50);
SELECT batch, first_key, late_count, reason, requeued
FROM batchintory_verify('hourly', requeue => true);
CALL batchintory_run('hourly');
SELECT * FROM traffic ORDER BY hour;

DROP EXTENSION batchintory;
DROP TABLE files, events, traffic;
