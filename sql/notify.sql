-- Notifications: a job with notify => true puts a statement trigger on its
-- table (one per table, removed with the last job that needs it) that
-- NOTIFYs the channel batchintory_channel(job) names, when an insert commits.
CREATE EXTENSION batchintory;
CREATE TABLE arrivals (id bigserial PRIMARY KEY, kind text);

SELECT batchintory_register('quiet', 'arrivals', 'id');
SELECT batchintory_channel('quiet') IS NULL AS no_channel;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;

SELECT batchintory_register('loud', 'arrivals', 'id', notify => true);
SELECT batchintory_register('loud_too', 'arrivals', 'id', notify => true);
SELECT batchintory_channel('loud') = 'batchintory_' || 'arrivals'::regclass::oid AS channel_named;
SELECT tgname, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;

-- (a listener hears of an insert when it commits: psql would print the
-- notifying backend's pid, so the delivery and the wake-up it causes are
-- tested by the command-line client's and the Python client's tests)
INSERT INTO arrivals (kind) VALUES ('a'), ('b');

-- the trigger stays while one job needs it, and goes with the last
SELECT batchintory_alter('loud', notify => false);
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;
SELECT batchintory_drop('loud_too');
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;

-- notify needs TRIGGER on the table for the job's owner
CREATE ROLE regress_notify_reader;
GRANT SELECT ON arrivals TO regress_notify_reader;
GRANT SELECT ON SEQUENCE arrivals_id_seq TO regress_notify_reader;
SET ROLE regress_notify_reader;
SELECT batchintory_register('nosy', 'arrivals', 'id', notify => true);
SELECT batchintory_register('nosy', 'arrivals', 'id');
RESET ROLE;
GRANT TRIGGER ON arrivals TO regress_notify_reader;
SET ROLE regress_notify_reader;
SELECT batchintory_alter('nosy', notify => true);
RESET ROLE;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;
SELECT batchintory_drop('nosy');

-- a trigger of the user's own by the same name is left alone (and named)
CREATE FUNCTION mine() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER batchintory_notify AFTER INSERT ON arrivals
	FOR EACH STATEMENT EXECUTE FUNCTION mine();
\set VERBOSITY terse
SELECT batchintory_alter('loud', notify => true);
\set VERBOSITY default
SELECT tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'arrivals'::regclass;
DROP TRIGGER batchintory_notify ON arrivals;

SELECT batchintory_drop('quiet');
SELECT batchintory_drop('loud');
DROP TABLE arrivals;
DROP FUNCTION mine();
DROP EXTENSION batchintory;
DROP ROLE regress_notify_reader;
