-- batchintory: jobs, acquire, release (C functions).  Each checks first that
-- the caller may use the job (it has the privileges of the job's owner),
-- writes the inventory as the extension's owner and reads the metadata table
-- as the job's owner in a security-restricted operation.

-- A time key (timestamptz, timestamp, date) kept as an integer in its own
-- units (microseconds or days since 2000-01-01; src/keys.c), and back: the
-- readers of a time-keyed job's table compare the key column with
-- units_*($1), which its btree index serves.
CREATE OR REPLACE FUNCTION batchintory.key_units(timestamptz)
RETURNS bigint LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_timestamp_units';
CREATE OR REPLACE FUNCTION batchintory.key_units(timestamp)
RETURNS bigint LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_timestamp_units';
CREATE OR REPLACE FUNCTION batchintory.key_units(date)
RETURNS bigint LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_date_units';
CREATE OR REPLACE FUNCTION batchintory.units_timestamptz(bigint)
RETURNS timestamptz LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_units_timestamptz';
CREATE OR REPLACE FUNCTION batchintory.units_timestamp(bigint)
RETURNS timestamp LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_units_timestamp';
CREATE OR REPLACE FUNCTION batchintory.units_date(bigint)
RETURNS date LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'batchintory_units_date';
-- a key in units as its column's type shows it (the views' first_key, last_key)
CREATE OR REPLACE FUNCTION batchintory.key_text(source regclass, id_column name, units bigint)
RETURNS text LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_key_text';
COMMENT ON FUNCTION batchintory.key_text(regclass, name, bigint)
	IS 'a key of a job in its units (first_id, last_id) as the key column''s type shows it (internal: used by the views)';
-- a row's xmin as a full xid (of the last 2^32 transactions), to ask
-- pg_visible_in_snapshot() whether a batch's cut saw it (src/late.c)
CREATE OR REPLACE FUNCTION batchintory.xid8_of(xid)
RETURNS xid8 LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_xid8_of';
COMMENT ON FUNCTION batchintory.xid8_of(xid)
	IS 'a row''s xmin as a full xid, for pg_visible_in_snapshot() against a batch''s cut_snapshot (internal: used to find late rows)';

-- A job's settings: their one list (src/settings.c), in the order of
-- batchintory_register's arguments after the job.
CREATE OR REPLACE FUNCTION batchintory.settings()
RETURNS TABLE (setting text, type regtype, default_value text, required boolean,
	resettable boolean)
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 16
AS 'MODULE_PATHNAME', 'batchintory_settings';
COMMENT ON FUNCTION batchintory.settings()
	IS 'the settings of a job: name, type, default, needed by register, resettable by alter';

CREATE OR REPLACE FUNCTION batchintory_register(
	job text,
	source regclass,
	id_column name,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound "any" DEFAULT NULL,
	upper_bound "any" DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT 3,
	lease interval DEFAULT '1 hour',
	config jsonb DEFAULT '{}',
	retry_backoff interval DEFAULT '0',
	late_commit_guard boolean DEFAULT NULL,
	guard_timeout interval DEFAULT '10 seconds',
	notify boolean DEFAULT false,
	on_failure text DEFAULT 'halt',
	command text DEFAULT NULL,
	schedule text DEFAULT NULL,
	paused boolean DEFAULT false,
	max_keys bigint DEFAULT NULL,
	window_size interval DEFAULT NULL,
	window_time_zone text DEFAULT 'UTC',
	window_origin timestamptz DEFAULT NULL,
	window_delay interval DEFAULT '0',
	empty_windows boolean DEFAULT false,
	late text DEFAULT 'record',
	late_horizon interval DEFAULT '1 day')
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_register';
COMMENT ON FUNCTION batchintory_register(text, regclass, name, name, text, "any", "any", bigint, numeric, integer, interval, jsonb, interval, boolean, interval, boolean, text, text, text, boolean, bigint, interval, text, timestamptz, interval, boolean, text, interval)
	IS 'create a job over a metadata table, owned by the calling role; error if the job exists';

CREATE OR REPLACE FUNCTION batchintory_alter(
	job text,
	source regclass DEFAULT NULL,
	id_column name DEFAULT NULL,
	weight_column name DEFAULT NULL,
	filter text DEFAULT NULL,
	lower_bound "any" DEFAULT NULL,
	upper_bound "any" DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	max_attempts integer DEFAULT NULL,
	lease interval DEFAULT NULL,
	config jsonb DEFAULT NULL,
	retry_backoff interval DEFAULT NULL,
	late_commit_guard boolean DEFAULT NULL,
	guard_timeout interval DEFAULT NULL,
	reset text[] DEFAULT NULL,
	notify boolean DEFAULT NULL,
	owner regrole DEFAULT NULL,
	on_failure text DEFAULT NULL,
	command text DEFAULT NULL,
	schedule text DEFAULT NULL,
	paused boolean DEFAULT NULL,
	max_keys bigint DEFAULT NULL,
	window_size interval DEFAULT NULL,
	window_time_zone text DEFAULT NULL,
	window_origin timestamptz DEFAULT NULL,
	window_delay interval DEFAULT NULL,
	empty_windows boolean DEFAULT NULL,
	late text DEFAULT NULL,
	late_horizon interval DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_alter';
COMMENT ON FUNCTION batchintory_alter(text, regclass, name, name, text, "any", "any", bigint, numeric, integer, interval, jsonb, interval, boolean, interval, text[], boolean, regrole, text, text, text, boolean, bigint, interval, text, timestamptz, interval, boolean, text, interval)
	IS 'change a job: NULL leaves a setting unchanged, reset lists settings to clear, owner transfers it';

-- For update scripts: a job's filter analyzed (under the caller's
-- search_path) and stored, nothing else changed; its signature never
-- changes, so that the scripts of every version can call it.
CREATE OR REPLACE FUNCTION batchintory.analyze_filter(job text, filter text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'batchintory_analyze_filter';
COMMENT ON FUNCTION batchintory.analyze_filter(text, text)
	IS 'analyze and store a job''s filter, nothing else changed (internal: used by update scripts)';
REVOKE ALL ON FUNCTION batchintory.analyze_filter(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION batchintory_drop(job text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_drop';
COMMENT ON FUNCTION batchintory_drop(text) IS 'delete a job with its batches and attempts';

CREATE OR REPLACE FUNCTION batchintory_acquire(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	worker text DEFAULT NULL,
	batches integer DEFAULT 1)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb, first_key text, last_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_acquire';
COMMENT ON FUNCTION batchintory_acquire(text, bigint, numeric, text, integer)
	IS 'take the next batches of a job: retries first, then new assets in key order; zero rows = no work';

-- batchintory_acquire of one batch but those excluded: for batchintory_run,
-- which does not take a batch that failed in the same run again.
CREATE OR REPLACE FUNCTION batchintory.acquire_excluding(job text,
	max_count bigint, max_weight numeric, worker text, excluded bigint[])
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb, first_key text, last_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_acquire_excluding';
COMMENT ON FUNCTION batchintory.acquire_excluding(text, bigint, numeric, text, bigint[])
	IS 'acquire one batch, none of those excluded (internal: used by batchintory_run)';

CREATE OR REPLACE FUNCTION batchintory_peek(
	job text,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL)
RETURNS TABLE (batch bigint, attempt integer, job text, first_id bigint,
	last_id bigint, asset_count bigint, weight numeric, ended_by text,
	lease_until timestamptz, config jsonb, first_key text, last_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'batchintory_peek';
COMMENT ON FUNCTION batchintory_peek(text, bigint, numeric)
	IS 'the batch acquire would hand out now, without taking it';

CREATE OR REPLACE FUNCTION batchintory_release(
	batch bigint,
	attempt integer,
	status text,
	message text DEFAULT NULL,
	result jsonb DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_release';
COMMENT ON FUNCTION batchintory_release(bigint, integer, text, text, jsonb)
	IS 'record the outcome (succeeded or failed) of the current attempt of a batch, with an optional message and result';

CREATE OR REPLACE FUNCTION batchintory_heartbeat(batch bigint, attempt integer)
RETURNS timestamptz
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_heartbeat';
COMMENT ON FUNCTION batchintory_heartbeat(bigint, integer)
	IS 'extend the lease of the current attempt of a batch; returns the new lease end';

CREATE OR REPLACE FUNCTION batchintory_requeue(batch bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_requeue';
COMMENT ON FUNCTION batchintory_requeue(bigint)
	IS 'put a failed or succeeded batch back in line, with a fresh budget of attempts';

CREATE OR REPLACE FUNCTION batchintory_skip(batch bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'batchintory_skip';
COMMENT ON FUNCTION batchintory_skip(bigint)
	IS 'leave out a batch failed for good: it stops a job with on_failure ''halt'' no more (requeue takes it back)';

CREATE OR REPLACE FUNCTION batchintory_pause(job text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'batchintory_pause';
COMMENT ON FUNCTION batchintory_pause(text)
	IS 'pause a job: no batch is handed out and its pg_cron entry is removed until it is resumed';

CREATE OR REPLACE FUNCTION batchintory_resume(job text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'batchintory_resume';
COMMENT ON FUNCTION batchintory_resume(text)
	IS 'resume a paused job (and make its pg_cron entry again)';

CREATE OR REPLACE FUNCTION batchintory_rewind(job text, id bigint)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_rewind';
COMMENT ON FUNCTION batchintory_rewind(text, bigint)
	IS 'hand out the assets from key id onwards again; returns the number of batches superseded';
-- the key spelled as its type spells it: '2026-03-01 10:00+01' for a time key
CREATE OR REPLACE FUNCTION batchintory_rewind(job text, key text)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'batchintory_rewind';
COMMENT ON FUNCTION batchintory_rewind(text, text)
	IS 'hand out the assets from key onwards again (the key as its type spells it, a time for a time key); returns the number of batches superseded';

CREATE OR REPLACE FUNCTION batchintory_channel(job text)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_channel';
COMMENT ON FUNCTION batchintory_channel(text)
	IS 'the channel to LISTEN on for new assets of a job registered with notify => true';

-- The trigger a job with notify => true puts on its metadata table (one per
-- table, removed with the last such job): after each INSERT statement, a
-- NOTIFY on the table's channel, delivered when the insert commits.
CREATE OR REPLACE FUNCTION batchintory.notify_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'batchintory_notify_trigger';
COMMENT ON FUNCTION batchintory.notify_trigger()
	IS 'statement trigger of a metadata table: NOTIFY the channel of its jobs (see batchintory_channel)';

-- The wait before the retry of a failed batch: the job's retry_backoff,
-- doubled for each attempt since the last requeue, capped (see README).
CREATE OR REPLACE FUNCTION batchintory.retry_delay(backoff interval, attempts integer)
RETURNS interval
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'batchintory_retry_delay';
COMMENT ON FUNCTION batchintory.retry_delay(interval, integer)
	IS 'backoff * 2^(attempts - 1), at most the larger of backoff and 24 hours (internal: used by release)';

-- An in-database pipeline: acquire, run the command over the batch as the
-- job's owner ($1 first id, $2 last id, $3 batch), release in the same
-- transaction, commit; until no batch is left or max_batches ran.  Without
-- a command, the job's stored one.
CREATE OR REPLACE PROCEDURE batchintory_run(
	job text,
	command text DEFAULT NULL,
	max_batches integer DEFAULT NULL,
	max_count bigint DEFAULT NULL,
	max_weight numeric DEFAULT NULL,
	worker text DEFAULT NULL,
	stop_on_error boolean DEFAULT false,
	INOUT batches integer DEFAULT NULL,
	INOUT failed integer DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'batchintory_run';
COMMENT ON PROCEDURE batchintory_run(text, text, integer, bigint, numeric, text, boolean, integer, integer)
	IS 'run an SQL command over batch after batch of a job ($1 first id, $2 last id, $3 batch), its results committed with the release';
