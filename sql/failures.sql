-- What a batch failed for good (no attempt left) does to its job.
-- on_failure 'halt', the default: the job stops -- acquire and peek hand
-- out nothing, with a warning naming the batch, its last error and how to
-- go on; batchintory.jobs shows the batch and the error; the backlog counts
-- its assets -- until it is requeued, skipped or rewound.  'skip': the job
-- goes on past it, and the views and verify show it as a hole.
CREATE EXTENSION batchintory;
CREATE TABLE f (id bigserial PRIMARY KEY, bytes bigint);
INSERT INTO f (bytes) SELECT 10 FROM generate_series(1, 12);
SELECT setting, default_value FROM batchintory.settings() WHERE setting = 'on_failure';
SELECT batchintory_register('halts', 'f', 'id', 'bytes', max_count => 3, max_attempts => 1);
SELECT batchintory_register('skips', 'f', 'id', 'bytes', max_count => 3, max_attempts => 1,
	on_failure => 'skip');
SELECT job, on_failure, halted_by FROM batchintory.jobs ORDER BY job;

-- halts: its first batch succeeds, its second fails for good
SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('halts');
SELECT batchintory_release(batch, attempt, 'failed', 'corrupt file f/5')
FROM batchintory_acquire('halts');
SELECT batch, first_id, last_id FROM batchintory_acquire('halts');
SELECT batch, first_id, last_id FROM batchintory_peek('halts');
SELECT job, failed, halted_by, halt_reason FROM batchintory.jobs WHERE job = 'halts';
-- not processed: the halted batch's 3 assets and the 6 after it
SELECT asset_count, weight FROM batchintory_backlog('halts');

-- skipped, the batch is a hole and the job goes on
SELECT batchintory_skip(halted_by) FROM batchintory.jobs WHERE job = 'halts';
SELECT first_id, last_id FROM batchintory_acquire('halts');
SELECT job, failed, halted_by, skipped FROM batchintory.jobs WHERE job = 'halts';
SELECT batch, status, state FROM batchintory.batches WHERE job = 'halts' ORDER BY batch;
SELECT first_id, last_id, recorded_count, actual_count, requeued, reason
FROM batchintory_verify('halts', requeue => true);
-- requeued, a skipped batch is taken again
SELECT batchintory_requeue(batch) FROM batchintory.batches
WHERE job = 'halts' AND status = 'skipped';
SELECT attempt, first_id, last_id FROM batchintory_acquire('halts');
SELECT batchintory_release(batch, attempt, 'failed', 'corrupt again')
FROM batchintory.batches WHERE job = 'halts' AND status = 'processing' AND first_id = 4;
SELECT count(*) AS handed_out FROM batchintory_acquire('halts');
-- a rewind to it supersedes it: the job goes on, from there
SELECT batchintory_rewind('halts', 4);
SELECT first_id, last_id FROM batchintory_acquire('halts');
SELECT halted_by FROM batchintory.jobs WHERE job = 'halts';

-- skips goes on past its failed batch, which stays a hole
SELECT batchintory_release(batch, attempt, 'failed', 'corrupt')
FROM batchintory_acquire('skips');
SELECT first_id, last_id FROM batchintory_acquire('skips');
SELECT job, failed, halted_by FROM batchintory.jobs WHERE job = 'skips';
SELECT first_id, last_id, reason FROM batchintory_verify('skips');
-- turned to 'halt', the failed batch stops it
SELECT batchintory_alter('skips', on_failure => 'halt');
SELECT count(*) AS handed_out FROM batchintory_acquire('skips');

-- bad calls
\set VERBOSITY terse
SELECT batchintory_register('bad', 'f', 'id', on_failure => 'stop');
SELECT batchintory_alter('skips', reset => '{on_failure}');
SELECT batchintory_skip(batch) FROM batchintory.batches WHERE job = 'halts' AND status = 'succeeded'
ORDER BY batch LIMIT 1;
SELECT batchintory_skip(batch) FROM batchintory.batches WHERE job = 'halts' AND status = 'processing'
ORDER BY batch LIMIT 1;
SELECT batchintory_skip(999);
\set VERBOSITY default

DROP TABLE f;
DROP EXTENSION batchintory;
