-- The attempts view filtered by job: its 20 latest attempts (a dashboard's
-- "recent activity").  pgbench -D job=NAME
SELECT * FROM batchintory.attempts WHERE job = :job ORDER BY acquired_at DESC LIMIT 20;
