-- The batches view filtered by job: its failed and in-flight batches (a
-- dashboard's "what needs attention").  pgbench -D job=NAME
SELECT * FROM batchintory.batches WHERE job = :job AND status IN ('failed', 'processing');
