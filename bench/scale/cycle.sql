-- One cycle as a worker runs it: acquire commits, (the work), release
-- commits -- two autocommit statements.  pgbench -D job=NAME
SELECT batch, attempt FROM batchintory_acquire(:job) \gset
SELECT batchintory_release(:batch, :attempt, 'succeeded');
