-- Baseline "queue": a state per asset.  Take the oldest max_count pending
-- assets with FOR UPDATE SKIP LOCKED (concurrent workers skip each other's
-- rows), mark them processing, then mark them done.  Rolled back like
-- acquire.sql.  pgbench -D max_count=N
BEGIN;
WITH taken AS (
	UPDATE files_queue SET state = 'processing'
	WHERE id IN (SELECT id FROM files_queue WHERE state = 'pending'
				 ORDER BY id LIMIT :max_count FOR UPDATE SKIP LOCKED)
	RETURNING id, bytes)
SELECT pg_catalog.array_agg(id) AS ids, count(*) AS n, sum(bytes) AS weight FROM taken \gset
UPDATE files_queue SET state = 'done' WHERE id = ANY (:ids::bigint[]);
ROLLBACK;
