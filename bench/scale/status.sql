-- The jobs view filtered by job, as the CLI's status command reads it.
-- pgbench -D job=NAME
SELECT * FROM batchintory.jobs WHERE job = :job;
