-- batchintory: the audit of finished work (C function).

CREATE OR REPLACE FUNCTION batchintory_verify(job text, requeue boolean DEFAULT false)
RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
	recorded_count bigint, actual_count bigint,
	recorded_weight numeric, actual_weight numeric, requeued boolean,
	reason text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_verify';
COMMENT ON FUNCTION batchintory_verify(text, boolean)
	IS 'recount the succeeded batches of a job and look for assets of its window no batch covers; list (and with requeue, hand out again) what changed; zero rows = all match';
