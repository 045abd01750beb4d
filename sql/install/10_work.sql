-- batchintory: jobs, acquire, release (C functions, run as the caller).

CREATE FUNCTION batchintory_register(
	job text,
	source regclass,
	id_column name,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound bigint DEFAULT NULL,
	upper_bound bigint DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT 3,
	lease interval DEFAULT '1 hour',
	config jsonb DEFAULT '{}',
	retry_backoff interval DEFAULT '0',
	late_commit_guard boolean DEFAULT true,
	guard_timeout interval DEFAULT '10 seconds')
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_register';
COMMENT ON FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval)
	IS 'create a job over a metadata table; error if the job exists';

CREATE FUNCTION batchintory_alter(
	job text,
	source regclass DEFAULT NULL,
	id_column name DEFAULT NULL,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound bigint DEFAULT NULL,
	upper_bound bigint DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT NULL,
	lease interval DEFAULT NULL,
	config jsonb DEFAULT NULL,
	retry_backoff interval DEFAULT NULL,
	late_commit_guard boolean DEFAULT NULL,
	guard_timeout interval DEFAULT NULL,
	reset text[] DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_alter';
COMMENT ON FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval, text[])
	IS 'change a job: NULL leaves a setting unchanged, reset lists settings to clear';

CREATE FUNCTION batchintory_drop(job text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_drop';
COMMENT ON FUNCTION batchintory_drop(text) IS 'delete a job with its batches and attempts';

CREATE FUNCTION batchintory_acquire(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	worker text DEFAULT NULL,
	batches integer DEFAULT 1)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_acquire';
COMMENT ON FUNCTION batchintory_acquire(text, bigint, numeric, text, integer)
	IS 'take the next batches of a job: retries first, then new assets in key order; zero rows = no work';

CREATE FUNCTION batchintory_peek(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_peek';
COMMENT ON FUNCTION batchintory_peek(text, bigint, numeric)
	IS 'the batch acquire would hand out now, without taking it';

CREATE FUNCTION batchintory_release(
	batch bigint,
	attempt integer,
	status text,
	message text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_release';
COMMENT ON FUNCTION batchintory_release(bigint, integer, text, text)
	IS 'record the outcome (succeeded or failed) of the current attempt of a batch';

CREATE FUNCTION batchintory_heartbeat(batch bigint, attempt integer)
RETURNS timestamptz
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_heartbeat';
COMMENT ON FUNCTION batchintory_heartbeat(bigint, integer)
	IS 'extend the lease of the current attempt of a batch; returns the new lease end';

CREATE FUNCTION batchintory_requeue(batch bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_requeue';
COMMENT ON FUNCTION batchintory_requeue(bigint)
	IS 'put a failed or succeeded batch back in line, with a fresh budget of attempts';

CREATE FUNCTION batchintory_rewind(job text, id bigint)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_rewind';
COMMENT ON FUNCTION batchintory_rewind(text, bigint)
	IS 'hand out the assets from key id onwards again; returns the number of batches superseded';
