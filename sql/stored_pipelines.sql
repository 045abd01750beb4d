-- Stored pipelines: a job keeps its command, checked as the owner when it
-- is stored (parsed and analyzed, $1 first id, $2 last id, $3 batch), run
-- under the search_path it was written under -- never the caller's.
CREATE EXTENSION batchintory;
CREATE TABLE events (id bigserial PRIMARY KEY, day date NOT NULL, amount int NOT NULL);
INSERT INTO events (day, amount)
SELECT date '2026-01-01' + g % 3, g FROM generate_series(1, 20) g;
CREATE TABLE daily (day date PRIMARY KEY, total bigint NOT NULL);

-- refused at creation, with PostgreSQL's own error, pointing into the command
SELECT batchintory_register('bad', 'events', 'id', command => 'INSRT INTO daily VALUES (1)');
SELECT batchintory_register('bad', 'events', 'id',
	command => 'INSERT INTO dialy SELECT day, sum(amount) FROM events GROUP BY day');
SELECT batchintory_register('bad', 'events', 'id',
	command => 'SELECT sum(amount) FROM events WHERE day BETWEEN $1 AND $2');
SELECT batchintory_register('bad', 'events', 'id', command => 'SELECT $4');
SELECT batchintory_register('bad', 'events', 'id', command => 'SELECT 1; COMMIT');
SELECT batchintory_register('bad', 'events', 'id', command => ' -- nothing');
SELECT batchintory_register('bad', 'events', 'id', schedule => '* * * * *');
SELECT count(*) AS jobs FROM batchintory.jobs;

SET search_path = public;
SELECT batchintory_register('daily', 'events', 'id', max_count => 7, command => $$
	INSERT INTO daily SELECT day, sum(amount) FROM events
	WHERE id BETWEEN $1 AND $2 GROUP BY day
	ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total$$);
RESET search_path;
SELECT job, command IS NOT NULL AS has_command, command_search_path, schedule, paused
FROM batchintory.jobs;

-- a hostile search_path (schema elsewhere first), a temporary table of the same name: the command
-- still writes public.daily and reads public.events
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.daily (day date PRIMARY KEY, total bigint NOT NULL);
CREATE TABLE elsewhere.events (id bigint, day date, amount int);
CREATE TEMPORARY TABLE daily (day date PRIMARY KEY, total bigint NOT NULL);
SET search_path = elsewhere, public;
CALL batchintory_run('daily');
RESET search_path;
SELECT (SELECT count(*) FROM elsewhere.daily) AS elsewhere, (SELECT count(*) FROM pg_temp.daily) AS temp;
DROP TABLE pg_temp.daily;
SELECT sum(total) AS total, (SELECT sum(amount) FROM events) AS expected FROM public.daily;

-- a job with a stored command runs that one only
CALL batchintory_run('daily', 'SELECT 1');
-- details and the jobs view show it
SELECT d->>'command' = j.command AS details_command
FROM batchintory.jobs j, batchintory_details(1) d WHERE j.job = 'daily';

-- changed: checked again, under the search_path of the change
SELECT batchintory_alter('daily', command => 'SELECT count(*) FROM nowhere WHERE id = $1');
SET search_path = elsewhere, public;
SELECT batchintory_alter('daily', command => $$
	INSERT INTO daily SELECT day, sum(amount) FROM events
	WHERE id BETWEEN $1 AND $2 GROUP BY day
	ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total$$);
RESET search_path;
SELECT command_search_path FROM batchintory.jobs WHERE job = 'daily';
INSERT INTO events (day, amount) VALUES ('2026-01-01', 1000);
CALL batchintory_run('daily');
SELECT count(*) AS hostile_rows FROM elsewhere.daily;
SELECT batchintory_alter('daily', command => 'SELECT 1');

-- a job without a stored command needs one from the caller
SELECT batchintory_register('plain', 'events', 'id');
CALL batchintory_run('plain');
SELECT batchintory_alter('daily', reset => '{command}');
CALL batchintory_run('daily');

-- the command is checked as the job's owner, with the owner's rights: its
-- tables, its functions, its procedure
CREATE ROLE regress_stored_owner;
CREATE TABLE secret (id int);
CREATE FUNCTION private_total() RETURNS bigint LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE private_rollup(first_id bigint, last_id bigint) LANGUAGE sql AS 'SELECT 1';
REVOKE EXECUTE ON FUNCTION private_total() FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE private_rollup(bigint, bigint) FROM PUBLIC;
GRANT SELECT ON events TO regress_stored_owner;
SET ROLE regress_stored_owner;
SELECT batchintory_register('owned', 'events', 'id', late_commit_guard => false,
	command => 'SELECT count(*) FROM secret WHERE id = $3');
SELECT batchintory_register('owned', 'events', 'id', late_commit_guard => false,
	command => 'SELECT private_total() WHERE $1 < $2');
SELECT batchintory_register('owned', 'events', 'id', late_commit_guard => false,
	command => 'CALL private_rollup($1, $2)');
SELECT batchintory_register('owned', 'events', 'id', late_commit_guard => false,
	command => 'SELECT count(*) FROM events WHERE id BETWEEN $1 AND $2');
RESET ROLE;
GRANT SELECT ON secret TO regress_stored_owner;
GRANT EXECUTE ON PROCEDURE private_rollup(bigint, bigint) TO regress_stored_owner;
SELECT batchintory_alter('owned', command => 'SELECT count(*) FROM secret WHERE id = $3');
SELECT batchintory_alter('owned', command => 'CALL private_rollup($1, $2)');
-- given to a role that may not run it: refused
CREATE ROLE regress_stored_other;
GRANT SELECT ON events TO regress_stored_other;
SELECT batchintory_alter('owned', owner => 'regress_stored_other');
SELECT owner FROM batchintory.jobs WHERE job = 'owned';

-- paused: nothing handed out, a run does nothing
SELECT batchintory_pause('plain');
SELECT count(*) AS handed_out FROM batchintory_acquire('plain');
CALL batchintory_run('plain', 'SELECT 1');
SELECT job, paused FROM batchintory.jobs WHERE job = 'plain';
SELECT batchintory_resume('plain');
SELECT count(*) AS handed_out FROM batchintory_acquire('plain');

-- a schedule needs pg_cron (test/t/040_cron.pl has it)
SELECT batchintory_alter('owned', schedule => '*/5 * * * *');

-- A pipeline whose table is dropped (DROP TABLE, DROP SCHEMA ... CASCADE,
-- DROP OWNED BY its owner) is kept, with its history, for the audit: the
-- jobs view says why it cannot work, every call on it fails saying so
-- (a scheduled run too, in cron.job_run_details), until it is dropped.
CREATE SCHEMA lake;
CREATE TABLE lake.files (id bigserial PRIMARY KEY);
INSERT INTO lake.files SELECT FROM generate_series(1, 5);
SELECT batchintory_register('lake', 'lake.files', 'id', command => 'SELECT $1, $2');
CALL batchintory_run('lake');
DROP SCHEMA lake CASCADE;
SELECT job, regexp_replace(problem, 'OID \d+', 'OID n') AS problem
FROM batchintory.jobs WHERE job = 'lake';
\set VERBOSITY terse
CALL batchintory_run('lake');
SELECT * FROM batchintory_acquire('lake');
\set VERBOSITY default
SELECT job, batch, status, first_id, last_id FROM batchintory_lookup('lake', 3);
SELECT batchintory_drop('lake');
CREATE ROLE regress_stored_leaver;
GRANT CREATE ON SCHEMA public TO regress_stored_leaver;
SET ROLE regress_stored_leaver;
CREATE TABLE leaving (id bigserial PRIMARY KEY);
SELECT batchintory_register('leaving', 'leaving', 'id', command => 'SELECT $1, $2');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_stored_leaver;
DROP OWNED BY regress_stored_leaver;
DROP ROLE regress_stored_leaver;
SELECT job, regexp_replace(problem, 'OID \d+', 'OID n', 'g') AS problem
FROM batchintory.jobs WHERE job = 'leaving';
SELECT batchintory_drop('leaving');

-- stored in the job's row, dumped with it (test/t/051_dump_restore.pl)
SELECT name, command, schedule, paused FROM batchintory.job ORDER BY name;

DROP TABLE daily, events, secret, elsewhere.daily, elsewhere.events;
DROP FUNCTION private_total();
DROP PROCEDURE private_rollup(bigint, bigint);
DROP SCHEMA elsewhere;
DROP EXTENSION batchintory;
DROP ROLE regress_stored_owner, regress_stored_other;
