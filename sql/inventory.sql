-- The inventory module (src/inventory/) writes the inventory's rows, most
-- directly, not through SQL statements.  Every kind of change -- every verb
-- of the module -- leaves
-- each index of the inventory whole (amcheck with heapallindexed: partial
-- indexes included), the rows hold what the statements wrote before
-- (counters, leases, retry times, who took a batch, TOASTed values), and a
-- read-only transaction is refused, as an UPDATE would be.
CREATE EXTENSION batchintory;
CREATE EXTENSION amcheck;

-- an error as SQLSTATE: message (detail) hint; what the call did is undone
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
	hint text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '')
		|| coalesce(' ' || nullif(hint, ''), '');
END $$;

CREATE TABLE inv (id bigserial PRIMARY KEY, bytes bigint);
INSERT INTO inv (bytes) SELECT g FROM generate_series(1, 100) g;
SELECT batchintory_register('inv', 'inv', 'id', 'bytes', max_count => 10,
	max_attempts => 2, retry_backoff => '1 hour',
	config => jsonb_build_object('big', repeat('x', 300000))) IS NOT NULL AS registered;
SELECT batchintory_register('plain', 'inv', 'id', max_count => 40) IS NOT NULL AS registered;

-- three batches at once; one succeeds (message and result kept), one fails
-- (waits an hour for its retry), one is extended
SELECT batch, attempt, first_id, last_id, asset_count, weight, ended_by,
	lease_until > now() + interval '59 minutes' AS leased_an_hour
FROM batchintory_acquire('inv', worker => 'w1', batches => 3);
SELECT batchintory_release(1, 1, 'succeeded', repeat('m', 500000), '{"rows": 10}');
SELECT batchintory_release(2, 1, 'failed', 'disk full');
SELECT batchintory_heartbeat(3, 1) > now() AS extended;

-- a read-only transaction changes nothing
SET default_transaction_read_only = on;
SELECT pg_temp.try($$SELECT batchintory_acquire('inv')$$);
SELECT pg_temp.try($$SELECT batchintory_release(3, 1, 'succeeded')$$);
SELECT pg_temp.try($$SELECT batchintory_heartbeat(3, 1)$$);
RESET default_transaction_read_only;

-- batches and attempts that do not exist, at the extremes of their types
SELECT pg_temp.try($$SELECT batchintory_release(3, -2147483648, 'failed')$$);
SELECT pg_temp.try($$SELECT batchintory_heartbeat(3, 2147483647)$$);
SELECT pg_temp.try($$SELECT batchintory_release(9223372036854775807, 1, 'succeeded')$$);
SELECT pg_temp.try($$SELECT batchintory_heartbeat(-1, 1)$$);

-- the failed batch comes back once its backoff is over (moved here into
-- the past), as attempt 2; failing again it has no attempt left
UPDATE batchintory.batch SET retry_after = now() - interval '1 second' WHERE batch_id = 2;
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('inv', worker => 'w2');
SELECT batchintory_release(2, 2, 'failed', 'disk full again');
-- requeued, it gets attempt 3; a release in a REPEATABLE READ transaction
SELECT batchintory_requeue(2);
SELECT batch, attempt FROM batchintory_acquire('inv', worker => 'w3');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT batchintory_release(2, 3, 'succeeded');
COMMIT;
SELECT batchintory_release(3, 1, 'succeeded');
-- a new batch in the same transaction as the releases before it, then a
-- rewind into it and a batch cut again over the same keys
BEGIN;
SELECT batch, first_id, last_id FROM batchintory_acquire('inv');
SELECT batchintory_release(4, 1, 'succeeded');
SELECT batch, first_id, last_id FROM batchintory_acquire('inv');
COMMIT;
SELECT batchintory_rewind('inv', 35);
SELECT batch, first_id, last_id FROM batchintory_acquire('inv');
-- a job without a weight column
SELECT batch, first_id, last_id, weight FROM batchintory_acquire('plain');
SELECT batchintory_release(7, 1, 'succeeded', NULL, 'null'::jsonb);
SELECT batch, first_id, last_id, weight FROM batchintory_acquire('plain');
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT batchintory_heartbeat(8, 1) > now() AS extended;
COMMIT;

SELECT batch_id, job_id, first_id, last_id, asset_count, weight, status, attempt,
	requeued_after, lease_until IS NOT NULL AS leased,
	retry_after IS NOT NULL AS retry_waits
FROM batchintory.batch ORDER BY batch_id;
SELECT batch_id, attempt, status, asset_count, weight, worker,
	length(message) AS message_length, result,
	released_at IS NOT NULL AS released, lease_until > acquired_at AS lease_after_acquired,
	application_name = current_setting('application_name') AS application,
	client_addr IS NOT DISTINCT FROM inet_client_addr() AS client,
	backend_pid = pg_backend_pid() AS pid, acquired_by = current_user AS by,
	length(config ->> 'big') AS config_length
FROM batchintory.attempt ORDER BY batch_id, attempt;

-- the job's counters are those of its batches, with the changes releases
-- recorded since the last new batch added in (as the jobs view adds them)
CREATE FUNCTION pg_temp.counters() RETURNS TABLE (job text, frontier bigint, wrong text)
LANGUAGE sql AS $$
	SELECT j.name, j.frontier, (SELECT coalesce(string_agg(format('%s: %s kept, %s counted',
			c.counter, c.kept, c.counted), '; '), 'none')
		FROM batchintory.job_counters(j.job_id) c WHERE c.kept IS DISTINCT FROM c.counted)
	FROM batchintory.job j ORDER BY j.name
$$;
SELECT * FROM pg_temp.counters();
SELECT job, succeeded, failed, in_flight, processed FROM batchintory.jobs ORDER BY job;

-- the other verbs, before the indexes are checked: a lease that ran out
-- (moved into the past here), handed out again, its attempt abandoned; one
-- that ran out on the last attempt, given up; max_attempts changed; a key
-- under the first batch covered by verify; a backfill whose window ends
-- with no asset left; a job dropped
CREATE TABLE inv2 (id bigint PRIMARY KEY, bytes bigint);
INSERT INTO inv2 SELECT g, 1 FROM generate_series(10, 40) g;
SELECT batchintory_register('leases', 'inv2', 'id', 'bytes', max_count => 5,
	max_attempts => 2, late_commit_guard => false, upper_bound => 38) IS NOT NULL AS registered;
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('leases', batches => 2);
UPDATE batchintory.batch SET lease_until = now() - interval '1 second'
WHERE job_id = (SELECT job_id FROM batchintory.job WHERE name = 'leases');
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('leases', batches => 2);
UPDATE batchintory.batch SET lease_until = now() - interval '1 second'
WHERE job_id = (SELECT job_id FROM batchintory.job WHERE name = 'leases')
AND status = 'processing' AND first_id = 10;
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('leases');
SELECT b.first_id, b.status, b.attempt, b.retry_after IS NULL AS for_good, a.status AS attempt_status,
	a.message
FROM batchintory.batch b JOIN batchintory.attempt a USING (batch_id)
WHERE b.job_id = (SELECT job_id FROM batchintory.job WHERE name = 'leases')
ORDER BY b.first_id, a.attempt;
SELECT batchintory_alter('leases', max_attempts => 3);
SELECT first_id, retry_after IS NOT NULL AS retry_waits FROM batchintory.batch
WHERE job_id = (SELECT job_id FROM batchintory.job WHERE name = 'leases') AND status = 'failed';
INSERT INTO inv2 VALUES (5, 1);
SELECT first_id, last_id, requeued, reason FROM batchintory_verify('leases', requeue => true);
DELETE FROM inv2 WHERE id BETWEEN 35 AND 38;
SELECT count(*) AS batches FROM batchintory_acquire('leases', batches => 20);
SELECT count(*) AS none_left FROM batchintory_acquire('leases');
SELECT frontier FROM batchintory.job WHERE name = 'leases';
SELECT batchintory_register('gone', 'inv2', 'id', late_commit_guard => false) IS NOT NULL AS registered;
SELECT count(*) FROM batchintory_acquire('gone');
SELECT * FROM pg_temp.counters();
SELECT batchintory_drop('gone');

-- every btree index of the inventory holds exactly its rows (amcheck
-- raises an error otherwise)
SELECT c.relname, bt_index_check(c.oid, true)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree'
WHERE i.indrelid IN ('batchintory.job'::regclass, 'batchintory.batch'::regclass,
	'batchintory.attempt'::regclass, 'batchintory.progress'::regclass)
ORDER BY c.relname;

-- an inventory changed by hand gets an error that says so
SELECT pg_temp.try($$DROP INDEX batchintory.batch_job_leased;
	SELECT batchintory_acquire('inv')$$);
SELECT pg_temp.try($$ALTER TABLE batchintory.attempt RENAME COLUMN worker TO worker_name;
	SELECT batchintory_acquire('plain')$$);

-- a column added by hand with a default gets it in the rows acquire writes
-- directly, as an INSERT gives it (here and in the SQL paths alike); a
-- trigger or generated column added by hand is refused: it would not run
ALTER TABLE batchintory.attempt ADD COLUMN site text DEFAULT 'eu-1',
	ADD COLUMN noted timestamptz DEFAULT now();
ALTER TABLE batchintory.batch ADD COLUMN kind text NOT NULL DEFAULT 'regular';
INSERT INTO inv (bytes) VALUES (1);
SELECT batch, attempt FROM batchintory_acquire('plain') \gset
SELECT site, noted IS NOT NULL AS noted FROM batchintory.attempt
WHERE batch_id = :batch AND attempt = :attempt;
SELECT kind FROM batchintory.batch WHERE batch_id = :batch;
SELECT batchintory_release(:batch, :attempt, 'succeeded');
ALTER TABLE batchintory.attempt DROP COLUMN site, DROP COLUMN noted;
ALTER TABLE batchintory.batch DROP COLUMN kind;
CREATE FUNCTION pg_temp.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEW;
END $$;
SELECT pg_temp.try($$CREATE TRIGGER audit BEFORE INSERT ON batchintory.attempt
	FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
	INSERT INTO inv (bytes) VALUES (1);
	SELECT batchintory_acquire('plain')$$);
SELECT pg_temp.try($$ALTER TABLE batchintory.batch
	ADD COLUMN doubled bigint GENERATED ALWAYS AS (asset_count * 2) STORED;
	INSERT INTO inv (bytes) VALUES (1);
	SELECT batchintory_acquire('plain')$$);

DROP EXTENSION batchintory;
DROP EXTENSION amcheck;
DROP TABLE inv, inv2;
