-- batchintory: the audit of finished work (C function, runs as the caller).

CREATE FUNCTION batchintory_verify(job text, requeue boolean DEFAULT false)
RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
	recorded_count bigint, actual_count bigint,
	recorded_weight numeric, actual_weight numeric, requeued boolean)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_verify';
COMMENT ON FUNCTION batchintory_verify(text, boolean)
	IS 'recount the succeeded batches of a job; list (and with requeue, re-queue) those whose assets changed since; zero rows = all match';
