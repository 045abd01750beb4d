-- Baseline "bookmark", what people write by hand: one row per consumer
-- holding its last key; lock it, cut the next 100 keys through the primary
-- key (first, last, count, bytes), move it; one committed transaction.  No
-- audit trail, lease, retry or late-commit guard; the row lock serializes
-- the consumer's workers until the commit.  pgbench -D consumer=NAME
BEGIN;
SELECT last_id FROM bookmark WHERE consumer = :consumer FOR UPDATE \gset
SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS n, sum(bytes) AS weight
	FROM (SELECT id, bytes FROM files WHERE id > :last_id ORDER BY id LIMIT 100) s \gset
UPDATE bookmark SET last_id = :last_id WHERE consumer = :consumer;
COMMIT;
