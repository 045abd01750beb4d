-- The exact backlog: counts the assets no batch holds, O(backlog).  pgbench -D job=NAME
SELECT * FROM batchintory_backlog(:job, exact => true);
