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

DROP EXTENSION batchintory;
DROP TABLE files;
