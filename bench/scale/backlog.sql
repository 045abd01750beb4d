-- The estimated backlog (counters + the planner's estimate).  pgbench -D job=NAME
SELECT * FROM batchintory_backlog(:job, exact => false);
