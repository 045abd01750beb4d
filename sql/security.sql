-- Who may use a job and as whom it works: five roles (the job's owner, a
-- worker that is a member of the owner role, a stranger, a pg_monitor member
-- and a superuser) against every function; a filter that tries to make its
-- author a superuser; direct writes on the inventory.
CREATE EXTENSION batchintory;
\set VERBOSITY terse

CREATE ROLE regress_sec_owner;
CREATE ROLE regress_sec_worker IN ROLE regress_sec_owner;
CREATE ROLE regress_sec_stranger;
CREATE ROLE regress_sec_monitor IN ROLE pg_monitor;

-- the owner's metadata table, readable only by the owner
CREATE TABLE sec_files (id bigserial PRIMARY KEY, bytes bigint, kind text);
INSERT INTO sec_files (bytes, kind) SELECT g, 'csv' FROM generate_series(1, 10) g;
ALTER TABLE sec_files OWNER TO regress_sec_owner;

-- the result of a statement: ok, or its SQLSTATE
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the owner registers a job: it owns it
SET ROLE regress_sec_owner;
SELECT batchintory_register('sec', 'sec_files', 'id', 'bytes', max_count => 2);
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('sec', worker => 'owner');
SELECT job, owner FROM batchintory.jobs;
RESET ROLE;

-- every function on the job and its batch 1: a stranger and a monitor get
-- 42501 naming the job; nothing is changed or locked
CREATE TEMP TABLE calls (n int, call text);
INSERT INTO calls VALUES
	(1, $$SELECT * FROM batchintory_acquire('sec')$$),
	(2, $$SELECT * FROM batchintory_peek('sec')$$),
	(3, $$SELECT batchintory_heartbeat(1, 1)$$),
	(4, $$SELECT batchintory_release(1, 1, 'succeeded')$$),
	(5, $$SELECT * FROM batchintory_backlog('sec')$$),
	(6, $$SELECT * FROM batchintory_backlog('sec', exact => false)$$),
	(7, $$SELECT * FROM batchintory_lookup('sec', 1)$$),
	(8, $$SELECT * FROM batchintory_assets(1)$$),
	(9, $$SELECT * FROM batchintory_assets(1, NULL::sec_files)$$),
	(10, $$SELECT batchintory_predicate(1)$$),
	(11, $$SELECT batchintory_details(1)$$),
	(12, $$SELECT * FROM batchintory_verify('sec')$$),
	(13, $$SELECT batchintory_requeue(1)$$),
	(14, $$SELECT batchintory_rewind('sec', 1)$$),
	(15, $$SELECT batchintory_alter('sec', max_count => 5)$$),
	(16, $$SELECT batchintory_channel('sec')$$),
	(17, $$SELECT batchintory.check_job('sec')$$),
	(18, $$SELECT batchintory_drop('sec')$$),
	(19, $$SELECT * FROM batchintory_newest_batches('sec')$$),
	(20, $$SELECT * FROM batchintory_newest_attempts('sec')$$),
	(21, $$SELECT * FROM batchintory_late_assets(1, NULL::sec_files)$$);
GRANT SELECT ON calls TO PUBLIC;
SET ROLE regress_sec_stranger;
SELECT n, pg_temp.try(call) FROM calls ORDER BY n;
SET ROLE regress_sec_monitor;
SELECT n, pg_temp.try(call) FROM calls ORDER BY n;
RESET ROLE;
-- the batch is still the owner's first attempt, processing
SELECT batch, attempt, status, worker FROM batchintory_lookup('sec', 1);

-- the full message, with the one GRANT that would help
SET ROLE regress_sec_stranger;
\set VERBOSITY default
SELECT * FROM batchintory_acquire('sec');
\set VERBOSITY terse
RESET ROLE;

-- a worker, member of the owner role and with no other grant, does all of it
SET ROLE regress_sec_worker;
SELECT batchintory_heartbeat(1, 1) > now() AS extended;
SELECT batchintory_release(1, 1, 'succeeded', result => '{"rows": 2}');
SELECT batch, attempt, first_id, last_id FROM batchintory_acquire('sec', worker => 'worker');
SELECT batchintory_release(2, 1, 'failed', 'boom');
SELECT asset_count, first_id, last_id, retry_batches FROM batchintory_backlog('sec');
SELECT asset_count > 0 AS some FROM batchintory_backlog('sec', exact => false);
SELECT batch, attempt, status, worker, result FROM batchintory_lookup('sec', 3);
SELECT job, batch, status FROM batchintory_lookup_all('sec_files', 1);
SELECT * FROM batchintory_assets(1);
SELECT * FROM batchintory_assets(1, NULL::sec_files);
SELECT batchintory_predicate(1);
SELECT batchintory_details(1) ->> 'status' AS status,
	batchintory_details(1) -> 'result' AS result;
SELECT * FROM batchintory_verify('sec');
SELECT batchintory_requeue(1);
SELECT batch, attempt FROM batchintory_acquire('sec', batches => 2);
SELECT batchintory_rewind('sec', 1);
SELECT batchintory_alter('sec', max_count => 5);
SELECT batchintory_channel('sec') IS NULL AS no_channel;
SELECT job, owner, succeeded, in_flight FROM batchintory.jobs;
SELECT count(*) FROM batchintory.batches;
SELECT count(*) FROM batchintory.attempts;
SELECT count(*) FROM batchintory_newest_batches('sec');
SELECT count(*) FROM batchintory_newest_attempts('sec');
-- the attempts record who acquired them: the calling role
SELECT DISTINCT acquired_by FROM batchintory.attempts ORDER BY 1;

-- nobody but the extension writes the inventory, not even a job's worker
SELECT pg_temp.try($$INSERT INTO batchintory.job (name, owner, source, id_column) VALUES ('x', 'regress_sec_worker', 'sec_files', 'id')$$);
SELECT pg_temp.try($$UPDATE batchintory.job SET filter = 'true'$$);
SELECT pg_temp.try($$UPDATE batchintory.batch SET status = 'succeeded'$$);
SELECT pg_temp.try($$DELETE FROM batchintory.attempt$$);
SELECT pg_temp.try($$DELETE FROM batchintory.job_filter$$);
SELECT pg_temp.try($$INSERT INTO batchintory.progress VALUES (1, 1, 1, 1)$$);
SELECT pg_temp.try($$SELECT * FROM batchintory.job$$);
RESET ROLE;

-- a stranger sees only its own jobs in the views, and no row of others
SET ROLE regress_sec_stranger;
SELECT count(*) FROM batchintory.jobs;
SELECT count(*) FROM batchintory.batches;
SELECT count(*) FROM batchintory.attempts;
SELECT count(*) FROM batchintory_lookup_all('sec_files', 1);
-- a leaky function in the caller's WHERE sees no other role's rows
CREATE FUNCTION pg_temp.leak(bigint) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'leaked batch %', $1;
	RETURN true;
END $$;
SELECT count(*) FROM batchintory.batches WHERE pg_temp.leak(batch);
DROP FUNCTION pg_temp.leak(bigint);
RESET ROLE;
-- a monitor sees every job's inventory, never a metadata row
SET ROLE regress_sec_monitor;
SELECT job, owner, processed FROM batchintory.jobs;
SELECT count(*) > 0 AS sees FROM batchintory.batches;
SELECT pg_temp.try('SELECT * FROM sec_files');
RESET ROLE;

-- ownership: a worker cannot give the job to a role it has no privileges
-- of; a superuser can, and the old worker loses the job
SET ROLE regress_sec_worker;
SELECT batchintory_alter('sec', owner => 'regress_sec_stranger');
RESET ROLE;
SELECT batchintory_alter('sec', owner => 'regress_sec_stranger');
GRANT SELECT ON sec_files TO regress_sec_stranger;
SELECT batchintory_alter('sec', owner => 'regress_sec_stranger');
GRANT SELECT ON SEQUENCE sec_files_id_seq TO regress_sec_stranger;
SELECT batchintory_alter('sec', owner => 'regress_sec_stranger');
SELECT job, owner FROM batchintory.jobs;
SET ROLE regress_sec_worker;
SELECT pg_temp.try($$SELECT * FROM batchintory_peek('sec')$$);
SET ROLE regress_sec_stranger;
SELECT first_id FROM batchintory_peek('sec');
RESET ROLE;
SELECT batchintory_alter('sec', owner => 'regress_sec_owner');

-- registering needs SELECT on the table (and its sequence, with the guard)
CREATE TABLE sec_open (id bigserial PRIMARY KEY);
GRANT SELECT ON sec_open TO regress_sec_stranger;
REVOKE SELECT ON sec_files FROM regress_sec_stranger;
SET ROLE regress_sec_stranger;
SELECT batchintory_register('stolen', 'sec_files', 'id');
SELECT batchintory_register('open', 'sec_open', 'id');
SELECT batchintory_register('open', 'sec_open', 'id', late_commit_guard => false);
RESET ROLE;
SELECT batchintory_drop('open');

--
-- A job owned by a superuser: the hint never says to grant a superuser (or
-- any role with rights a job does not need) to the caller
--
SELECT batchintory_register('super', 'sec_files', 'id');
SET ROLE regress_sec_stranger;
\set VERBOSITY default
SELECT * FROM batchintory_peek('super');
\set VERBOSITY terse
RESET ROLE;
SELECT batchintory_drop('super');

--
-- A filter contains no code but PostgreSQL's own: a stranger's function,
-- which would make its author a superuser if a superuser ran it (reading
-- the batch's predicate, refreshing the jobs view), is refused, volatile,
-- stable or immutable -- also through an operator or a cast to a domain.
--
CREATE SCHEMA regress_sec_evil AUTHORIZATION regress_sec_stranger;
CREATE TABLE regress_sec_evil.stuff (id bigserial PRIMARY KEY, kind text);
ALTER TABLE regress_sec_evil.stuff OWNER TO regress_sec_stranger;
INSERT INTO regress_sec_evil.stuff (kind) VALUES ('a'), ('b');
SET ROLE regress_sec_stranger;
CREATE FUNCTION regress_sec_evil.escalate() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	EXECUTE 'ALTER ROLE regress_sec_stranger SUPERUSER';
	RETURN true;
END $$;
CREATE FUNCTION regress_sec_evil.stable_check(text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN regress_sec_evil.escalate();
END $$;
CREATE FUNCTION regress_sec_evil.immutable_check(text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN regress_sec_evil.escalate();
END $$;
CREATE FUNCTION regress_sec_evil.stable_upper(text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RAISE NOTICE 'planted code runs as %', current_user;
	PERFORM regress_sec_evil.escalate();
	RETURN pg_catalog.upper($1);
END $$;
CREATE FUNCTION regress_sec_evil.same(text, text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN regress_sec_evil.escalate();
END $$;
CREATE OPERATOR regress_sec_evil.=== (FUNCTION = regress_sec_evil.same,
	LEFTARG = text, RIGHTARG = text);
CREATE DOMAIN regress_sec_evil.checked AS text
	CHECK (regress_sec_evil.immutable_check(VALUE));
SELECT batchintory_register('evil', 'regress_sec_evil.stuff', 'id',
	filter => 'regress_sec_evil.escalate()', late_commit_guard => false);
SELECT batchintory_register('evil_stable', 'regress_sec_evil.stuff', 'id',
	filter => 'regress_sec_evil.stable_check(kind)', late_commit_guard => false);
SELECT batchintory_register('evil_immutable', 'regress_sec_evil.stuff', 'id',
	filter => 'regress_sec_evil.immutable_check(kind)', late_commit_guard => false);
SELECT batchintory_register('evil_operator', 'regress_sec_evil.stuff', 'id',
	filter => $$kind OPERATOR(regress_sec_evil.===) 'a'$$, late_commit_guard => false);
SELECT batchintory_register('evil_domain', 'regress_sec_evil.stuff', 'id',
	filter => $$kind::regress_sec_evil.checked IS NOT NULL$$, late_commit_guard => false);
-- PostgreSQL's functions that read other tables are refused too
SELECT batchintory_register('evil_xml', 'regress_sec_evil.stuff', 'id',
	filter => $$table_to_xml('sec_files', true, false, '') IS NOT NULL$$,
	late_commit_guard => false);
-- PostgreSQL's own stable functions and operators are fine
SELECT batchintory_register('own_code', 'regress_sec_evil.stuff', 'id',
	filter => $$upper(kind) = 'A' AND kind ~ '^[a-z]$' AND now() > '2000-01-01'$$,
	late_commit_guard => false);
SELECT batchintory_drop('own_code');

--
-- A filter stored by an earlier version may call a function of its
-- owner's: the job cannot work, says why, and the function never runs --
-- whoever touches the job, whichever way.  (Planted here the way earlier builds
-- stored it: the analyzed filter of upper() pointed at the stranger's
-- function of the same signature.)
--
SELECT batchintory_register('evil_stored', 'regress_sec_evil.stuff', 'id',
	filter => $$upper(kind) = 'A'$$, late_commit_guard => false);
SELECT batch AS evil_batch FROM batchintory_acquire('evil_stored') \gset
RESET ROLE;
UPDATE batchintory.job_filter f
SET expr = replace(f.expr, ':funcid ' || 'pg_catalog.upper(text)'::regprocedure::oid || ' ',
	':funcid ' || 'regress_sec_evil.stable_upper(text)'::regprocedure::oid || ' ')
FROM batchintory.job j WHERE j.job_id = f.job_id AND j.name = 'evil_stored';
UPDATE batchintory.job SET filter = $$regress_sec_evil.stable_upper(kind) = 'A'::text$$,
	revision = revision + 1 WHERE name = 'evil_stored';
-- a superuser touches the job every way there is
SELECT pg_temp.try($$SELECT * FROM batchintory_acquire('evil_stored')$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_peek('evil_stored')$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_backlog('evil_stored')$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_backlog('evil_stored', false)$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_verify('evil_stored')$$);
SELECT pg_temp.try($$SELECT * FROM batchintory_lookup('evil_stored', 1)$$);
SELECT pg_temp.try(format('SELECT batchintory_predicate(%s)', :evil_batch));
SELECT pg_temp.try(format('SELECT batchintory_assets(%s)', :evil_batch));
SELECT pg_temp.try(format('SELECT * FROM batchintory_assets(%s, NULL::regress_sec_evil.stuff)', :evil_batch));
SELECT pg_temp.try(format('SELECT batchintory_details(%s)', :evil_batch));
SELECT pg_temp.try($$SELECT * FROM batchintory.jobs$$);
SELECT pg_temp.try($$SELECT * FROM batchintory.batches$$);
SELECT pg_temp.try($$SELECT * FROM batchintory.attempts$$);
SELECT job, problem FROM batchintory.jobs WHERE job = 'evil_stored';
-- the stranger is no superuser
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_sec_stranger';
-- altered to PostgreSQL's own code, it works again
SELECT batchintory_alter('evil_stored', filter => $$upper(kind) = 'A'$$);
SELECT batchintory_predicate(:evil_batch);
SELECT batchintory_drop('evil_stored');

--
-- A filter's meaning is fixed when it is registered: a function created
-- later in a schema earlier in the search_path is not called
--
CREATE SCHEMA regress_sec_a;
SET search_path = regress_sec_a, pg_catalog, public;
SELECT batchintory_register('fixed', 'sec_files', 'id', filter => $$lower(kind) = 'csv'$$);
SELECT filter FROM batchintory.job WHERE name = 'fixed';
SELECT first_id, last_id, asset_count FROM batchintory_peek('fixed');
CREATE FUNCTION regress_sec_a.lower(text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT 'nothing' $$;
SELECT first_id, last_id, asset_count FROM batchintory_peek('fixed');
RESET search_path;
SELECT batchintory_drop('fixed');

SELECT batchintory_drop('sec');
DROP SCHEMA regress_sec_a, regress_sec_evil CASCADE;
DROP TABLE sec_files, sec_open;
DROP EXTENSION batchintory;
DROP ROLE regress_sec_owner, regress_sec_worker, regress_sec_stranger, regress_sec_monitor;
