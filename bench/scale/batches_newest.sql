-- The batches view filtered by job: its 20 newest ranges (a dashboard's
-- "latest batches").  pgbench -D job=NAME
SELECT * FROM batchintory.batches WHERE job = :job ORDER BY first_id DESC LIMIT 20;
