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

-- a failing command: its writes are rolled back, the batch is released
-- failed with the error, retried until its attempts run out; the loop
-- goes on (or stops at the first failure with stop_on_error)
CREATE TABLE audit (batch bigint, first_id bigint, last_id bigint);
SELECT batchintory_register('fragile', 'events', 'id', max_count => 10, max_attempts => 2);
CALL batchintory_run('fragile', $$
	INSERT INTO audit VALUES ($3, $1, $2);
	SELECT 1 / (count(*) FILTER (WHERE amount = 100) - 10) FROM events
	WHERE id BETWEEN $1 AND $2$$);
SELECT * FROM audit ORDER BY batch;
SELECT batch, attempt, status, message FROM batchintory.attempts
WHERE job = 'fragile' ORDER BY batch, attempt;
SELECT batchintory_requeue(batch) FROM batchintory.batches
WHERE job = 'fragile' AND status = 'failed';
CALL batchintory_run('fragile', $$SELECT 1 / 0$$, stop_on_error => true);
SELECT batch, attempt, status, message FROM batchintory.attempts
WHERE job = 'fragile' AND attempt = 3;

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

SELECT batchintory_drop(job) FROM unnest(ARRAY['daily', 'fragile', 'owned']) job;
DROP TABLE events, daily, audit, owned, whoami;
DROP EXTENSION batchintory;
DROP ROLE regress_pipe_owner, regress_pipe_stranger;
