-- Baseline "floor": the least a batch inventory writes per cycle -- one
-- INSERT (acquire) and one UPDATE by key (release), in two autocommit
-- transactions, reading nothing.
INSERT INTO floor_batch (first_id, last_id, status) VALUES (1, 100, 'processing')
	RETURNING batch_id \gset
UPDATE floor_batch SET status = 'succeeded' WHERE batch_id = :batch_id;
