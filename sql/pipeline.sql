-- In-database pipelines: CALL batchintory_run loops acquire, the command over
-- the batch as the job's owner, and the release in the same transaction; a
-- failing command is rolled back and its batch released failed.
CREATE EXTENSION batchintory;

CREATE TABLE events (id bigserial PRIMARY KEY, day date NOT NULL, amount int);
INSERT INTO events (day, amount)
SELECT date '2026-01-01' + g % 3, g FROM generate_series(1, 20) g;
CREATE TABLE daily (day date PRIMARY KEY, total bigint NOT NULL);

SELECT batchintory_register('daily', 'events', 'id', max_count => 7);
-- $1 first id, $2 last id, $3 batch
CALL batchintory_run('daily', $$
	INSERT INTO daily SELECT day, sum(amount) FROM events
	WHERE id BETWEEN $1 AND $2 GROUP BY day
	ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total$$);
SELECT * FROM daily ORDER BY day;
SELECT sum(total) AS total, (SELECT sum(amount) FROM events) AS expected FROM daily;
-- each attempt stored how many rows the command's last statement wrote
SELECT batch, attempt, status, worker, result FROM batchintory.attempts ORDER BY batch;
-- nothing left: no batch, and the call says so
CALL batchintory_run('daily', 'SELECT 1');

-- new rows, processed by the next call only; max_batches stops early
INSERT INTO events (day, amount)
SELECT date '2026-01-01' + g % 3, 100 FROM generate_series(1, 10) g;
CALL batchintory_run('daily', $$
	INSERT INTO daily SELECT day, sum(amount) FROM events
	WHERE id BETWEEN $1 AND $2 GROUP BY day
	ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total$$,
	max_batches => 1);
SELECT count(*) AS left FROM batchintory_backlog('daily') WHERE asset_count > 0;

-- A failing command: its writes are rolled back and its batch released
-- failed with the error, the other batches go on and commit, and the call
-- ends with the error (pg_cron's run fails).  A batch that failed is not
-- taken again in the same run: the next run retries it.  Failed for good
-- (max_attempts), it halts the job (on_failure 'halt', the default): every
-- run fails and nothing is handed out until it is requeued (or skipped or
-- rewound).  Fixed and requeued, the summary holds every row once.
CREATE TABLE audit (batch bigint, first_id bigint, last_id bigint);
CREATE TABLE sums (total bigint);
INSERT INTO sums VALUES (0);
SELECT batchintory_register('fragile', 'events', 'id', max_count => 10, max_attempts => 2);
CREATE FUNCTION check_amount(n bigint) RETURNS bigint LANGUAGE sql
	AS $$ SELECT 1 / (n - 10) $$;
CALL batchintory_run('fragile', $$
	INSERT INTO audit VALUES ($3, $1, $2);
	UPDATE sums SET total = total + (SELECT sum(amount) FROM events WHERE id BETWEEN $1 AND $2);
	SELECT check_amount(count(*) FILTER (WHERE amount = 100)) FROM events
	WHERE id BETWEEN $1 AND $2$$);
SELECT * FROM audit ORDER BY batch;
SELECT batch, attempt, status, message FROM batchintory.attempts
WHERE job = 'fragile' ORDER BY batch, attempt;
-- the next run retries it once: failed for good, the job halts
CALL batchintory_run('fragile', $$
	INSERT INTO audit VALUES ($3, $1, $2);
	UPDATE sums SET total = total + (SELECT sum(amount) FROM events WHERE id BETWEEN $1 AND $2);
	SELECT check_amount(count(*) FILTER (WHERE amount = 100)) FROM events
	WHERE id BETWEEN $1 AND $2$$);
SELECT job, failed, halted_by, halt_reason FROM batchintory.jobs WHERE job = 'fragile';
SELECT asset_count FROM batchintory_backlog('fragile');
-- halted, every run fails and nothing is handed out
INSERT INTO events (day, amount) VALUES ('2026-01-01', 1);
CALL batchintory_run('fragile', 'SELECT 1');
SELECT count(*) AS handed_out FROM batchintory_acquire('fragile');
-- the cause fixed, the batch requeued: the run takes it, then the new row
CREATE OR REPLACE FUNCTION check_amount(n bigint) RETURNS bigint LANGUAGE sql
	AS $$ SELECT n $$;
SELECT batchintory_requeue(halted_by) FROM batchintory.jobs WHERE job = 'fragile';
CALL batchintory_run('fragile', $$
	INSERT INTO audit VALUES ($3, $1, $2);
	UPDATE sums SET total = total + (SELECT sum(amount) FROM events WHERE id BETWEEN $1 AND $2);
	SELECT check_amount(count(*) FILTER (WHERE amount = 100)) FROM events
	WHERE id BETWEEN $1 AND $2$$);
SELECT total = (SELECT sum(amount) FROM events) AS every_row_once FROM sums;
SELECT count(*) AS ranges, count(DISTINCT batch) AS batches FROM audit;
-- stop_on_error stops at the first failure
SELECT batchintory_register('fragile2', 'events', 'id', max_count => 10, on_failure => 'skip');
CALL batchintory_run('fragile2', $$SELECT 1 / 0$$, stop_on_error => true);
SELECT count(*) AS attempts FROM batchintory.attempts WHERE job = 'fragile2';

-- the command runs as the job's owner, not as the caller
CREATE ROLE regress_pipe_owner;
CREATE TABLE owned (id bigserial PRIMARY KEY);
INSERT INTO owned DEFAULT VALUES;
ALTER TABLE owned OWNER TO regress_pipe_owner;
CREATE TABLE whoami (who name);
GRANT INSERT ON whoami TO regress_pipe_owner;
SET ROLE regress_pipe_owner;
SELECT batchintory_register('owned', 'owned', 'id');
RESET ROLE;
CALL batchintory_run('owned', 'INSERT INTO whoami VALUES (current_user)');
SELECT * FROM whoami;

-- The owner's code never runs with the caller's rights, nor changes the
-- caller's session -- a superuser running a team's pipeline, here.  Each
-- call below takes one new row of "owned" as one batch (job "trap", one
-- attempt per batch).
CREATE SCHEMA regress_pipe_trap AUTHORIZATION regress_pipe_owner;
SET ROLE regress_pipe_owner;
SELECT batchintory_register('trap', 'owned', 'id', max_attempts => 1, on_failure => 'skip');
SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('trap');
CREATE FUNCTION regress_pipe_trap.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO whoami VALUES (current_user);
	BEGIN
		EXECUTE 'ALTER ROLE regress_pipe_owner SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN NULL;
	END;
	RETURN NULL;
END $$;
CREATE FUNCTION regress_pipe_trap.defer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	SET CONSTRAINTS ALL DEFERRED;
	INSERT INTO regress_pipe_trap.late VALUES (1);
	RETURN NULL;
END $$;
CREATE FUNCTION regress_pipe_trap.plant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'regress_pipe_trap, public', false);
	PERFORM pg_catalog.set_config('work_mem', '77kB', false);
	RETURN NULL;
END $$;
-- a constraint trigger deferred to the commit
CREATE TABLE regress_pipe_trap.late (id bigint);
CREATE CONSTRAINT TRIGGER late AFTER INSERT ON regress_pipe_trap.late
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION regress_pipe_trap.escalate();
-- a trigger that defers constraints itself
CREATE TABLE regress_pipe_trap.deferring (id bigint);
CREATE TRIGGER deferring AFTER INSERT ON regress_pipe_trap.deferring
	FOR EACH STATEMENT EXECUTE FUNCTION regress_pipe_trap.defer();
-- a trigger that changes the session's settings for good
CREATE TABLE regress_pipe_trap.planting (id bigint);
CREATE TRIGGER planting AFTER INSERT ON regress_pipe_trap.planting
	FOR EACH STATEMENT EXECUTE FUNCTION regress_pipe_trap.plant();
-- a table whose check constraint's error quotes the row
CREATE TABLE regress_pipe_trap.strict (email text, ssn text CHECK (ssn IS NULL));
RESET ROLE;
TRUNCATE whoami;
-- the deferred trigger fires inside the command, as the owner
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', 'INSERT INTO regress_pipe_trap.late VALUES ($1)');
SELECT * FROM whoami;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_pipe_owner';
-- deferring constraints is refused, in the command or in a trigger
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', 'SET CONSTRAINTS ALL DEFERRED; INSERT INTO regress_pipe_trap.late VALUES ($1)');
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', 'INSERT INTO regress_pipe_trap.deferring VALUES ($1)');
SELECT * FROM whoami;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_pipe_owner';
-- settings made by the owner's code are undone; temporary objects refused
SHOW search_path;
SHOW work_mem;
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', 'INSERT INTO regress_pipe_trap.planting VALUES ($1)');
SHOW search_path;
SHOW work_mem;
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', 'CREATE TEMP TABLE planted (id bigint)');
SELECT count(*) AS planted FROM pg_class WHERE relname = 'planted';
-- a failing command's message is kept, its detail (which quotes the row)
-- only reported to the caller
INSERT INTO owned DEFAULT VALUES;
CALL batchintory_run('trap', $$INSERT INTO regress_pipe_trap.strict VALUES ('ceo@corp.example', '999-12-3456')$$);
SELECT batch, status, message FROM batchintory.attempts WHERE job = 'trap' ORDER BY batch;
SELECT count(*) AS leaked FROM batchintory.attempts WHERE message LIKE '%ceo@%';

-- under a hostile search_path (the regress-hostile pass creates a schema
-- "hostile" whose operators and functions raise an error): nothing that
-- batchintory_run runs itself resolves a name through it
SET search_path = hostile, pg_catalog, public;
INSERT INTO public.owned DEFAULT VALUES;
CALL batchintory_run('trap', 'INSERT INTO public.whoami VALUES (current_user)');
RESET search_path;

-- bad calls
\set VERBOSITY terse
BEGIN;
CALL batchintory_run('daily', 'SELECT 1');
ROLLBACK;
CALL batchintory_run('nope', 'SELECT 1');
CALL batchintory_run('daily', NULL);
CALL batchintory_run('daily', 'SELECT 1', max_batches => 0);
CREATE ROLE regress_pipe_stranger;
SET ROLE regress_pipe_stranger;
CALL batchintory_run('daily', 'SELECT 1');
RESET ROLE;
\set VERBOSITY default

SELECT batchintory_drop(job) FROM unnest(ARRAY['daily', 'fragile', 'fragile2', 'owned', 'trap']) job;
DROP SCHEMA regress_pipe_trap CASCADE;
DROP TABLE events, daily, audit, sums, owned, whoami;
DROP FUNCTION check_amount(bigint);
DROP EXTENSION batchintory;
DROP ROLE regress_pipe_owner, regress_pipe_stranger;
