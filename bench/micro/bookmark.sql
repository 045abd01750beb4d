-- Baseline "bookmark": what people hand-write instead.  Lock the
-- consumer's last processed key, cut the next max_count keys after it
-- through the primary key (first, last, count, bytes), move the bookmark.
-- No audit trail, no lease, no retry, no late-commit guard; one consumer at
-- a time (the row lock is held until the end of the transaction).  Rolled
-- back like acquire.sql.  pgbench -D max_count=N
BEGIN;
SELECT last_id FROM bookmark WHERE consumer = 'big' FOR UPDATE \gset
SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS n, sum(bytes) AS weight
	FROM (SELECT id, bytes FROM files_big WHERE id > :last_id ORDER BY id LIMIT :max_count) s \gset
UPDATE bookmark SET last_id = :last_id WHERE consumer = 'big';
ROLLBACK;
