-- Every attempt that covered a random asset of the inventory.
-- pgbench -D job=NAME -D covered=LAST_KEY_IN_A_BATCH
\set id random(1, :covered)
SELECT * FROM batchintory_lookup(:job, :id);
