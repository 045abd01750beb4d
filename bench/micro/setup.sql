-- bench/micro/setup.sql: the benchmark's tables and jobs (run by bench/micro/run.sh in
-- a database of its own).  psql variables: small, big (row counts).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION batchintory;

-- Two metadata tables that differ only in size: bigserial key, a weight
-- (bytes) and a kind.  Keys are written directly and each sequence is set
-- to the last one after, as if nextval() had drawn them (the late-commit
-- guard reads the sequence).
CREATE TABLE files_small (id bigserial PRIMARY KEY, bytes bigint NOT NULL, kind text NOT NULL);
CREATE TABLE files_big (id bigserial PRIMARY KEY, bytes bigint NOT NULL, kind text NOT NULL);
INSERT INTO files_small (id, bytes, kind)
	SELECT g, 1000 + (g * 7919) % 100000, (ARRAY['image', 'video', 'text', 'audio'])[1 + g % 4]
	FROM generate_series(1, :small::bigint) g;
INSERT INTO files_big (id, bytes, kind)
	SELECT g, 1000 + (g * 7919) % 100000, (ARRAY['image', 'video', 'text', 'audio'])[1 + g % 4]
	FROM generate_series(1, :big::bigint) g;
SELECT setval('files_small_id_seq', :small::bigint) \gset
SELECT setval('files_big_id_seq', :big::bigint) \gset

-- Baseline "bookmark": the last processed key of each consumer in a table
-- of its own (bookmark.sql reads, cuts and moves it).
CREATE TABLE bookmark (consumer text PRIMARY KEY, last_id bigint NOT NULL);
INSERT INTO bookmark VALUES ('big', 0);

-- Baseline "queue": the same assets as files_big with a state per asset,
-- taken with FOR UPDATE SKIP LOCKED (queue.sql).
CREATE TABLE files_queue (
	id bigint PRIMARY KEY,
	bytes bigint NOT NULL,
	kind text NOT NULL,
	state text NOT NULL DEFAULT 'pending'
);
INSERT INTO files_queue (id, bytes, kind) SELECT id, bytes, kind FROM files_big;
CREATE INDEX files_queue_pending ON files_queue (id) WHERE state = 'pending';

VACUUM ANALYZE files_small, files_big, bookmark, files_queue;

-- The jobs: the same settings on both tables, then the variants.
SELECT batchintory_register('small_100', 'files_small', 'id', weight_column => 'bytes', max_count => 100) \gset
SELECT batchintory_register('big_100', 'files_big', 'id', weight_column => 'bytes', max_count => 100) \gset
SELECT batchintory_register('big_1000', 'files_big', 'id', weight_column => 'bytes', max_count => 1000) \gset
SELECT batchintory_register('big_100_noguard', 'files_big', 'id', weight_column => 'bytes', max_count => 100,
	late_commit_guard => false) \gset
SELECT batchintory_register('big_100_commit', 'files_big', 'id', weight_column => 'bytes', max_count => 100) \gset
