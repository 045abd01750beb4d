-- The weight-limited cut: the batch acquire would cut now, ended by
-- max_weight (max_count set out of the way).  pgbench -D job=NAME -D weight=W
SELECT asset_count, weight, ended_by FROM batchintory_peek(:job, max_count => 1000000000000,
	max_weight => :weight);
