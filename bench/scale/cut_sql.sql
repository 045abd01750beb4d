-- The same rows read by plain SQL.  pgbench -D start=FRONTIER -D n=ASSETS
SELECT count(*), sum(bytes) FROM (SELECT id, bytes FROM files WHERE id > :start ORDER BY id LIMIT :n) s;
