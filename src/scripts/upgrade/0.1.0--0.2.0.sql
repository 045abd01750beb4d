-- batchintory 0.1.0 -> 0.2.0, first part: the inventory's tables.  The
-- functions and views of 0.2.0 follow (src/scripts/install/10..30), then the second
-- part (0.1.0--0.2.0-post.sql).
\echo Use "ALTER EXTENSION batchintory UPDATE TO '0.2.0'" to load this file. \quit

-- the views and the functions whose signature or result changed go; the
-- definitions of 0.2.0 replace the others
DROP VIEW batchintory.jobs;
DROP VIEW batchintory.attempts;
DROP VIEW batchintory.batches;
DROP FUNCTION batchintory_register(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval);
DROP FUNCTION batchintory_alter(text, regclass, name, name, text, bigint, bigint, bigint, numeric, integer, interval, jsonb, interval, boolean, interval, text[]);
DROP FUNCTION batchintory_release(bigint, integer, text, text);
DROP FUNCTION batchintory_verify(text, boolean);
DROP FUNCTION batchintory_lookup(text, bigint);
DROP FUNCTION batchintory_lookup_all(regclass, bigint);

-- jobs get an owner (the owner of their metadata table, or of the
-- extension if the table is gone), notifications, a revision and counters
ALTER TABLE batchintory.job
	ADD COLUMN owner regrole,
	ADD COLUMN notify boolean NOT NULL DEFAULT false,
	ADD COLUMN revision bigint NOT NULL DEFAULT 1,
	ADD COLUMN cut_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN cut_assets bigint NOT NULL DEFAULT 0,
	ADD COLUMN cut_weight numeric NOT NULL DEFAULT 0,
	ADD COLUMN done_batches bigint NOT NULL DEFAULT 0,
	ADD COLUMN done_assets bigint NOT NULL DEFAULT 0,
	ADD COLUMN done_weight numeric NOT NULL DEFAULT 0,
	ADD COLUMN last_success timestamptz;
UPDATE batchintory.job j SET owner = COALESCE(
	(SELECT c.relowner FROM pg_catalog.pg_class c
	 WHERE c.oid OPERATOR(pg_catalog.=) j.source),
	(SELECT e.extowner FROM pg_catalog.pg_extension e
	 WHERE e.extname OPERATOR(pg_catalog.=) 'batchintory'))::pg_catalog.regrole;
ALTER TABLE batchintory.job ALTER COLUMN owner SET NOT NULL;
ALTER INDEX batchintory.job_source_idx RENAME TO job_source;

-- the counters, from the batches and attempts so far
UPDATE batchintory.job j SET
	cut_batches = s.cut_batches, cut_assets = s.cut_assets, cut_weight = s.cut_weight,
	done_batches = s.done_batches, done_assets = s.done_assets,
	done_weight = s.done_weight, last_success = s.last_success
FROM (SELECT b.job_id,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.<>) 'superseded') AS cut_batches,
		COALESCE(pg_catalog.sum(b.asset_count) FILTER (WHERE b.status OPERATOR(pg_catalog.<>) 'superseded'), 0) AS cut_assets,
		COALESCE(pg_catalog.sum(b.weight) FILTER (WHERE b.status OPERATOR(pg_catalog.<>) 'superseded'), 0) AS cut_weight,
		pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'succeeded') AS done_batches,
		COALESCE(pg_catalog.sum(b.asset_count) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'succeeded'), 0) AS done_assets,
		COALESCE(pg_catalog.sum(b.weight) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'succeeded'), 0) AS done_weight,
		(SELECT pg_catalog.max(a.released_at) FROM batchintory.attempt a
		 JOIN batchintory.batch x ON x.batch_id OPERATOR(pg_catalog.=) a.batch_id
		 WHERE x.job_id OPERATOR(pg_catalog.=) b.job_id
		 AND a.status OPERATOR(pg_catalog.=) 'succeeded') AS last_success
	FROM batchintory.batch b GROUP BY b.job_id) s
WHERE s.job_id OPERATOR(pg_catalog.=) j.job_id;

CREATE TABLE batchintory.job_filter (
	job_id integer PRIMARY KEY,
	expr text NOT NULL
);

CREATE TABLE batchintory.progress (
	job_id integer NOT NULL,
	batches bigint NOT NULL,
	assets bigint NOT NULL,
	weight numeric NOT NULL,
	last_success timestamptz
);
CREATE INDEX progress_job ON batchintory.progress (job_id);
SELECT pg_catalog.pg_extension_config_dump('batchintory.progress', '');

-- the extension keeps the references itself (no lookup per hand-out)
ALTER TABLE batchintory.batch DROP CONSTRAINT batch_job_id_fkey;
ALTER TABLE batchintory.attempt DROP CONSTRAINT attempt_batch_id_fkey;

-- the open batches by state, each found through an index of its own; a
-- failed batch with attempts left has a retry_after, one failed for good none
DROP INDEX batchintory.batch_job_open;
UPDATE batchintory.batch b SET retry_after = CASE
	WHEN (b.attempt OPERATOR(pg_catalog.-) b.requeued_after)
		OPERATOR(pg_catalog.<) j.max_attempts
	THEN COALESCE(b.retry_after, pg_catalog.now()) END
FROM batchintory.job j
WHERE j.job_id OPERATOR(pg_catalog.=) b.job_id AND b.status OPERATOR(pg_catalog.=) 'failed';
CREATE INDEX batch_job_leased ON batchintory.batch (job_id, lease_until)
	WHERE status = 'processing';
CREATE INDEX batch_job_retry ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NOT NULL;
CREATE INDEX batch_job_failed ON batchintory.batch (job_id, first_id)
	WHERE status = 'failed' AND retry_after IS NULL;

-- lookups probe the live batches by key and a GiST index over the
-- superseded ones only (which no longer overflows on a batch ending at the
-- largest bigint): acquire and release no longer write a GiST index
DROP INDEX batchintory.batch_range;
CREATE INDEX batch_job_live ON batchintory.batch (job_id, first_id)
	WHERE pg_catalog.textne(status, 'superseded');
CREATE INDEX batch_range ON batchintory.batch
	USING gist (pg_catalog.int8range(first_id,
		NULLIF(last_id, 9223372036854775807), '[]'))
	WHERE status = 'superseded';

-- no CHECK constraints on the inventory: the functions check what they
-- store, and a CHECK is parsed again by every statement that writes its table
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT conrelid::pg_catalog.regclass AS rel, conname
		FROM pg_catalog.pg_constraint
		WHERE connamespace OPERATOR(pg_catalog.=) 'batchintory'::pg_catalog.regnamespace
		AND contype OPERATOR(pg_catalog.=) 'c'
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', c.rel, c.conname);
	END LOOP;
END $$;

-- results per attempt; the acquiring role is the caller, given by acquire
ALTER TABLE batchintory.attempt
	ADD COLUMN result jsonb,
	ALTER COLUMN acquired_by DROP DEFAULT;

-- no role but the extension's owner has any right on the inventory tables
-- any more (0.1.0 asked workers for grants): revoke every grant
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT c.oid::pg_catalog.regclass AS rel, c.relkind,
			pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::pg_catalog.text) AS grantee
		FROM pg_catalog.pg_class c,
			LATERAL pg_catalog.aclexplode(c.relacl) a
		WHERE c.relnamespace OPERATOR(pg_catalog.=) 'batchintory'::pg_catalog.regnamespace
		AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,S}'::"char"[])
		AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
		AND a.grantee OPERATOR(pg_catalog.<>) 0
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee);
	END LOOP;
END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA batchintory FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA batchintory FROM PUBLIC;
